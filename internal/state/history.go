package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Job history: one row per finished job in rffmpeg_jobs, a table of ours
// (the original's three tables stay untouched). The shim writes a row on
// its exit path, so recording is one short transaction: the INSERT and a
// bounded prune, nothing else.

// Failure classes of a finished job (JobRecord.Failure). "" is success.
const (
	FailConnect       = "connect"               // ssh could not reach the host
	FailAuth          = "auth"                  // ssh authentication refused
	FailHostKey       = "hostkey"               // the host key did not match
	FailRemoteMissing = "remote-missing"        // the remote ffmpeg does not exist
	FailRemoteNotExec = "remote-not-executable" // the remote ffmpeg is not executable
	FailRemoteShell   = "remote-shell"          // the remote shell failed before ffmpeg ran
	FailFFmpeg        = "ffmpeg"                // ffmpeg ran and exited non-zero
	FailSignal        = "signal"                // ffmpeg (or the shim) ended by a signal
	FailTimeout       = "timeout"               // a deadline ran out
	FailLost          = "lost"                  // the connection to the host was lost
	FailKilled        = "killed"                // stopped by `rffmpeg kill` (KilledBy says who)
)

// OutcomeOK is the outcome of a successful job (see JobRecord.Outcome).
const OutcomeOK = "ok"

// MaxJobCommand caps the command line kept per job: a transcode's command is
// a couple of KiB, a pathological one must not bloat every row.
const MaxJobCommand = 4096

// JobRecord is one finished job.
type JobRecord struct {
	ID         int64 // assigned by RecordJob's INSERT; ignored when recording
	HostID     int64 // LocalHostID for the local fallback
	Servername string
	Hostname   string // both as they were when the job ran (a host may be removed or renamed later)
	Frontend   string // the machine (or frontend id) whose media server ran the job
	Class      string // probe, capability, image, trickplay, subtitle, attachment, keyframe, transcode, other
	Command    string // capped at MaxJobCommand bytes when recorded
	PID        int    // the shim's local PID
	Started    time.Time
	Duration   time.Duration
	ExitCode   int
	Failure    string // a Fail* class, "" for success
	KilledBy   string // who stopped it (`rffmpeg kill`), "" otherwise
}

// Failed reports whether the job did not succeed: a failure class, or a
// non-zero exit code the caller did not classify.
func (j JobRecord) Failed() bool { return j.Failure != "" || j.ExitCode != 0 }

// Outcome is OutcomeOK, the failure class, or "error" for a non-zero exit
// with no class: the label metrics and the history group by.
func (j JobRecord) Outcome() string {
	switch {
	case j.Failure != "":
		return j.Failure
	case j.ExitCode != 0:
		return "error"
	}
	return OutcomeOK
}

// Retention bounds the history: rows older than Days days, and all but the
// newest MaxRows rows, are deleted as jobs are recorded.
type Retention struct {
	Days    int // <= 0: DefaultRetention.Days
	MaxRows int // <= 0: DefaultRetention.MaxRows
}

// DefaultRetention keeps a month, and at most 20000 jobs (a library scan
// runs thousands of probes; 20000 rows of capped commands stay well under
// 100 MB, typically ~20 MB).
var DefaultRetention = Retention{Days: 30, MaxRows: 20000}

func (r Retention) withDefaults() Retention {
	if r.Days <= 0 {
		r.Days = DefaultRetention.Days
	}
	if r.MaxRows <= 0 {
		r.MaxRows = DefaultRetention.MaxRows
	}
	return r
}

// SetHistoryRetention changes the bound RecordJob prunes to (the store
// starts with Options.History); call it before recording.
func (s *Store) SetHistoryRetention(r Retention) { s.opts.History = r }

// ageEvery: the age prune runs on one insert in ageEvery (by row id), since
// the count prune already bounds the table on every insert; the rows an
// old-age prune lets through for a few more inserts are harmless.
const ageEvery = 32

// historySchema is the job table and its index for the age prune.
func historySchema(d dialect) []string {
	id := "id INTEGER PRIMARY KEY"
	if d.name() == PostgreSQL {
		id = "id BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS rffmpeg_jobs (` + id + `, host_id BIGINT NOT NULL, servername TEXT NOT NULL, hostname TEXT NOT NULL,
			frontend TEXT NOT NULL, class TEXT NOT NULL, cmd TEXT NOT NULL, pid BIGINT NOT NULL, started BIGINT NOT NULL,
			duration_ms BIGINT NOT NULL, exit_code INTEGER NOT NULL, failure TEXT NOT NULL, killed_by TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS rffmpeg_jobs_started ON rffmpeg_jobs (started)`,
	}
}

// createHistory is the history migration. It only creates what is missing,
// so it is correct in any position of the migration list.
func createHistory(ctx context.Context, tx *sql.Tx, d dialect) error {
	for _, stmt := range historySchema(d) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// capCommand cuts cmd to MaxJobCommand bytes on a UTF-8 boundary, marking
// the cut with "…".
func capCommand(cmd string) string {
	if len(cmd) <= MaxJobCommand {
		return cmd
	}
	const mark = "…"
	cut := MaxJobCommand - len(mark)
	for cut > 0 && !utf8.RuneStart(cmd[cut]) {
		cut--
	}
	return cmd[:cut] + mark
}

// RecordJob records a finished job and prunes the history to the store's
// retention (Options.History): an INSERT and a DELETE by primary-key
// range (the count bound), plus, on one insert in ageEvery, a DELETE by
// the started index (the age bound). SQLite runs them in one short
// transaction (measured ~70-130 us); PostgreSQL as one statement, a single
// round trip, without the advisory lock that serializes host selection (a
// history row touches nothing selection reads).
func (s *Store) RecordJob(ctx context.Context, j JobRecord) error {
	var err error
	if s.d.name() == PostgreSQL {
		if err = s.readOnlyErr(); err == nil {
			err = s.recordJob(ctx, s.db, j)
		}
	} else {
		err = s.tx(ctx, func(tx *sql.Tx) error { return s.recordJob(ctx, tx, j) })
	}
	if err != nil {
		return fmt.Errorf("record job: %w", err)
	}
	return nil
}

// ReleaseAndRecord is Release and RecordJob in one transaction, so a job
// is never released without its record.
func (s *Store) ReleaseAndRecord(ctx context.Context, l Lease, j JobRecord) error {
	return s.releaseAndRecord(ctx, l, j, false)
}

// ReleaseAndRecordHeld is ReleaseAndRecord for a lease that may have been
// released already (by a state helper whose answer was lost): when the
// job's processes row is gone it writes nothing, so the job keeps one
// history row.
func (s *Store) ReleaseAndRecordHeld(ctx context.Context, l Lease, j JobRecord) error {
	return s.releaseAndRecord(ctx, l, j, true)
}

// releaseAndRecord: with onlyHeld, nothing when the processes row is gone.
func (s *Store) releaseAndRecord(ctx context.Context, l Lease, j JobRecord, onlyHeld bool) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if onlyHeld {
			var held int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM processes WHERE id = ?`), l.ProcessID).Scan(&held); err != nil || held == 0 {
				return err
			}
		}
		if err := s.release(ctx, tx, l); err != nil {
			return err
		}
		return s.recordJob(ctx, tx, j)
	})
	if err != nil {
		return fmt.Errorf("release and record job: %w", err)
	}
	return nil
}

const insertJob = `INSERT INTO rffmpeg_jobs (host_id, servername, hostname, frontend, class, cmd, pid,
	started, duration_ms, exit_code, failure, killed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// recordJob inserts j and prunes. Ids only grow (SQLite hands out max+1
// and the newest row is never pruned; PostgreSQL's sequence may skip,
// which keeps fewer), so the rows above id-MaxRows are at most MaxRows.
func (s *Store) recordJob(ctx context.Context, q querier, j JobRecord) error {
	r := s.opts.History.withDefaults()
	args := []any{j.HostID, j.Servername, j.Hostname, j.Frontend, j.Class, capCommand(j.Command), j.PID,
		j.Started.UnixMilli(), j.Duration.Milliseconds(), j.ExitCode, j.Failure, j.KilledBy}
	var id int64
	if s.d.name() == PostgreSQL {
		// Data-modifying CTEs: insert and count prune in one statement.
		stmt := `WITH ins AS (` + insertJob + `), del AS (DELETE FROM rffmpeg_jobs WHERE id <= (SELECT id FROM ins) - ?) SELECT id FROM ins`
		if err := q.QueryRowContext(ctx, s.q(stmt), append(args, r.MaxRows)...).Scan(&id); err != nil {
			return err
		}
	} else {
		if err := q.QueryRowContext(ctx, insertJob, args...).Scan(&id); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM rffmpeg_jobs WHERE id <= ?`, id-int64(r.MaxRows)); err != nil {
			return err
		}
	}
	if id%ageEvery != 0 {
		return nil
	}
	// The job's end is the recording moment on the caller's clock.
	cutoff := j.Started.Add(j.Duration).AddDate(0, 0, -r.Days)
	_, err := q.ExecContext(ctx, s.q(`DELETE FROM rffmpeg_jobs WHERE started < ?`), cutoff.UnixMilli())
	return err
}

// HistoryQuery selects finished jobs, newest first.
type HistoryQuery struct {
	Limit    int       // at most this many; <= 0: every retained job
	HostID   *int64    // only jobs that ran on this host id (LocalHostID: the fallback)
	HostName string    // only jobs whose recorded server name or hostname is this
	Failed   bool      // only jobs that did not succeed (JobRecord.Failed)
	Since    time.Time // only jobs that started at or after this; zero: any
	// OmitCommand leaves Command empty: aggregates (metrics) read every
	// retained row and need none of the up to 4 KiB each.
	OmitCommand bool
}

const jobColumns = `id, host_id, servername, hostname, frontend, class, cmd, pid, started, duration_ms, exit_code, failure, killed_by`

// History returns the recorded jobs q selects, newest (last recorded) first.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]JobRecord, error) {
	var where []string
	var args []any
	if q.HostID != nil {
		where, args = append(where, `host_id = ?`), append(args, *q.HostID)
	}
	if q.HostName != "" {
		where, args = append(where, `(servername = ? OR hostname = ?)`), append(args, q.HostName, q.HostName)
	}
	if q.Failed {
		where = append(where, `(failure <> '' OR exit_code <> 0)`)
	}
	if !q.Since.IsZero() {
		where, args = append(where, `started >= ?`), append(args, q.Since.UnixMilli())
	}
	cols := jobColumns
	if q.OmitCommand {
		cols = strings.Replace(cols, "cmd", "'' AS cmd", 1)
	}
	query := `SELECT ` + cols + ` FROM rffmpeg_jobs`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC`
	if q.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	jobs := []JobRecord{}
	for rows.Next() {
		var j JobRecord
		var started, dur int64
		if err := rows.Scan(&j.ID, &j.HostID, &j.Servername, &j.Hostname, &j.Frontend, &j.Class, &j.Command, &j.PID,
			&started, &dur, &j.ExitCode, &j.Failure, &j.KilledBy); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		j.Started, j.Duration = time.UnixMilli(started), time.Duration(dur)*time.Millisecond
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return jobs, nil
}
