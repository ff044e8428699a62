package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Health over time: one row per health check (its outcome and how long it
// took) and one per bad mark (when, who, why), in rffmpeg_health, a table
// of ours (the original's tables stay untouched).
// The hosts table keeps only the latest check and the mark in force; the
// console's host detail and the metrics read the rows here. A row is
// written where the event already writes (the check's result, the mark's
// states row), in the same transaction: a check is not on every call and
// a mark is rare, and nothing is written on the ordinary call's path. The
// rows are bounded by the history's retention (Options.History) and
// pruned as the history's are: a DELETE by id on every insert, by age on
// one in ageEvery. A failure's class is read from its reason where it is
// shown (selector.FailureClass, as status does), so it has one home.

// Kinds of health rows.
const (
	HealthCheck = "check"
	HealthMark  = "mark"
)

// HealthEvent is one check or bad mark of a host.
type HealthEvent struct {
	ID         int64
	HostID     int64
	Servername string // as it was then (a host may be removed; its id reused)
	Kind       string // HealthCheck or HealthMark
	At         time.Time
	// A check's outcome and how long it took; a mark is never OK.
	OK      bool
	Latency time.Duration // -1: not measured (a mark)
	// Who: the frontend (machine) and PID of the process that wrote it.
	Frontend string
	PID      int
	Reason   string // why it failed ("" for a passed check)
}

// CheckResult is a health check to record (RecordCheck).
type CheckResult struct {
	HostID  int64
	At      time.Time
	Latency time.Duration
	OK      bool
	Reason  string // why it failed
	Owner   string // the checking process's identity (see package owner)
	PID     int
}

func healthSchema(d dialect) []string {
	id := "id INTEGER PRIMARY KEY"
	if d.name() == PostgreSQL {
		id = "id BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS rffmpeg_health (` + id + `, host_id BIGINT NOT NULL, servername TEXT NOT NULL,
			kind TEXT NOT NULL, at BIGINT NOT NULL, ok INTEGER NOT NULL, latency_ms BIGINT NOT NULL,
			frontend TEXT NOT NULL, pid BIGINT NOT NULL, reason TEXT NOT NULL)`,
		// The age prune, and a host's recent rows (the console's detail).
		`CREATE INDEX IF NOT EXISTS rffmpeg_health_at ON rffmpeg_health (at)`,
		`CREATE INDEX IF NOT EXISTS rffmpeg_health_host ON rffmpeg_health (host_id, at)`,
	}
}

// createHealth is migration 12; it creates only what is missing, so it
// may sit at any position when migrations are merged.
func createHealth(ctx context.Context, tx *sql.Tx, d dialect) error {
	for _, stmt := range healthSchema(d) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// frontendOf is the machine's name in an owner identity
// ("host:machine-id|boot|start"), as the history records a job's frontend.
func frontendOf(owner string) string {
	m, _, _ := strings.Cut(owner, "|")
	m, _, _ = strings.Cut(m, ":")
	return m
}

const insertHealth = `INSERT INTO rffmpeg_health (host_id, servername, kind, at, ok, latency_ms, frontend, pid, reason)
	SELECT id, servername, ?, ?, ?, ?, ?, ?, ? FROM hosts WHERE id = ? RETURNING id`

// recordHealth inserts one row for host hostID (none when the host is
// gone) and prunes as recordJob does: by id on every insert, by age on
// one in ageEvery.
func (s *Store) recordHealth(ctx context.Context, q querier, hostID int64, e HealthEvent) error {
	r := s.opts.History.withDefaults()
	ok := 0
	if e.OK {
		ok = 1
	}
	lat := int64(-1)
	if e.Latency >= 0 {
		lat = e.Latency.Milliseconds()
	}
	args := []any{e.Kind, e.At.UnixMilli(), ok, lat, e.Frontend, e.PID, e.Reason, hostID}
	var id int64
	var err error
	if s.d.name() == PostgreSQL {
		// Insert and count prune in one statement, one round trip.
		stmt := `WITH ins AS (` + insertHealth + `), del AS (DELETE FROM rffmpeg_health WHERE id <= (SELECT id FROM ins) - ?) SELECT id FROM ins`
		err = q.QueryRowContext(ctx, s.q(stmt), append(args, r.MaxRows)...).Scan(&id)
	} else if err = q.QueryRowContext(ctx, insertHealth, args...).Scan(&id); err == nil {
		_, err = q.ExecContext(ctx, `DELETE FROM rffmpeg_health WHERE id <= ?`, id-int64(r.MaxRows))
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // the host was removed meanwhile: nothing to attach it to
	case err != nil || id%ageEvery != 0:
		return err
	}
	_, err = q.ExecContext(ctx, s.q(`DELETE FROM rffmpeg_health WHERE at < ?`), e.At.AddDate(0, 0, -r.Days).UnixMilli())
	return err
}

// recordMark records a bad mark being written (markBad's transaction).
func (s *Store) recordMark(ctx context.Context, tx *sql.Tx, hostID int64, c Claim, reason string) error {
	at := c.Now
	if at.IsZero() {
		at = time.Now()
	}
	return s.recordHealth(ctx, tx, hostID, HealthEvent{Kind: HealthMark, At: at, Latency: -1,
		Frontend: frontendOf(c.Owner), PID: c.PID, Reason: reason})
}

// RecordCheck records a health check of a host, in one transaction: when
// it passed (as MarkChecked), or why it failed, at once (its bad mark
// follows with the caller's next selection: a call waiting for the same
// check must see it before the checker lets go of the host), and the
// check's row in the health history.
func (s *Store) RecordCheck(ctx context.Context, c CheckResult) error {
	e := HealthEvent{Kind: HealthCheck, At: c.At, OK: c.OK, Latency: max(c.Latency, 0),
		Frontend: frontendOf(c.Owner), PID: c.PID}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c.OK {
			err = s.setHostExtra(ctx, tx, c.HostID, `checked_at = ?`, ms(c.At))
		} else {
			e.Reason = c.Reason
			err = s.setHostExtra(ctx, tx, c.HostID, `last_error = ?, last_error_at = ?, checked_at = NULL`, c.Reason, ms(c.At))
		}
		if err != nil {
			return err
		}
		return s.recordHealth(ctx, tx, c.HostID, e)
	})
	if err != nil {
		return fmt.Errorf("record check of host %d: %w", c.HostID, err)
	}
	return nil
}

// HealthQuery selects health rows, newest first.
type HealthQuery struct {
	HostID *int64    // only this host's
	Kind   string    // only this kind (HealthCheck, HealthMark); "": both
	Since  time.Time // only rows at or after this; zero: every retained row
	Limit  int       // at most this many; <= 0: all
}

// Health returns the health rows q selects, newest first.
func (s *Store) Health(ctx context.Context, q HealthQuery) ([]HealthEvent, error) {
	var where []string
	var args []any
	if q.HostID != nil {
		where, args = append(where, `host_id = ?`), append(args, *q.HostID)
	}
	if q.Kind != "" {
		where, args = append(where, `kind = ?`), append(args, q.Kind)
	}
	if !q.Since.IsZero() {
		where, args = append(where, `at >= ?`), append(args, q.Since.UnixMilli())
	}
	query := `SELECT id, host_id, servername, kind, at, ok, latency_ms, frontend, pid, reason FROM rffmpeg_health`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY at DESC, id DESC`
	if q.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read health history: %w", err)
	}
	defer rows.Close()
	out := []HealthEvent{}
	for rows.Next() {
		var e HealthEvent
		var at, lat int64
		var ok int
		if err := rows.Scan(&e.ID, &e.HostID, &e.Servername, &e.Kind, &at, &ok, &lat, &e.Frontend, &e.PID, &e.Reason); err != nil {
			return nil, fmt.Errorf("read health history: %w", err)
		}
		e.At, e.OK, e.Latency = time.UnixMilli(at), ok == 1, time.Duration(lat)*time.Millisecond
		if lat < 0 {
			e.Latency = -1
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read health history: %w", err)
	}
	return out, nil
}
