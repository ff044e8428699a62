package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

func (s *Store) readSnapshot(ctx context.Context, q querier) (Snapshot, error) {
	var snap Snapshot
	rows, err := q.QueryContext(ctx, hostSelect+` ORDER BY h.id`)
	if err != nil {
		return snap, err
	}
	var bad []Malformed
	if snap.Hosts, bad, err = scanHosts(rows, true); err != nil {
		return snap, err
	}
	snap.Malformed = append(snap.Malformed, bad...)
	if rows, err = q.QueryContext(ctx, processSelect); err != nil {
		return snap, err
	}
	if snap.Processes, bad, err = scanAll(rows, "processes", scanProcess, func(p Process) int64 { return p.ID }); err != nil {
		return snap, err
	}
	snap.Malformed = append(snap.Malformed, bad...)
	if rows, err = q.QueryContext(ctx, markSelect); err != nil {
		return snap, err
	}
	if snap.Marks, bad, err = scanAll(rows, "states", scanMark, func(m Mark) int64 { return m.ID }); err != nil {
		return snap, err
	}
	snap.Malformed = append(snap.Malformed, bad...)
	if rows, err = q.QueryContext(ctx, queueSelect); err != nil {
		return snap, err
	}
	if snap.Queue, bad, err = scanAll(rows, "rffmpeg_queue", scanWaiter, func(w Waiter) int64 { return w.ID }); err != nil {
		return snap, err
	}
	snap.Malformed = append(snap.Malformed, bad...)
	if rows, err = q.QueryContext(ctx, machineSelect); err != nil {
		return snap, err
	}
	if snap.Machines, _, err = scanAll(rows, "rffmpeg_machines", scanMachine, func(Machine) int64 { return 0 }); err != nil {
		return snap, err
	}
	return snap, nil
}

// Snapshot reads hosts, processes and states consistently.
func (s *Store) Snapshot(ctx context.Context) (Snapshot, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d.name() == PostgreSQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	t, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read state: %w", err)
	}
	defer t.Rollback()
	snap, err := s.readSnapshot(ctx, t)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read state: %w", err)
	}
	return snap, nil
}

// dataVersionQuery returns a value that changes whenever another
// connection commits a write (SQLite: PRAGMA data_version on a pinned
// connection; PostgreSQL: a digest of the tables' contents). Live views poll
// it and re-read only on change.
func (s *Store) dataVersionQuery() string {
	if s.d.name() == SQLite {
		return `PRAGMA data_version`
	}
	return `SELECT md5(
		(SELECT coalesce(string_agg(h::text, ',' ORDER BY id), '') FROM hosts h) ||
		(SELECT coalesce(string_agg(p::text, ',' ORDER BY id), '') FROM processes p) ||
		(SELECT coalesce(string_agg(s::text, ',' ORDER BY id), '') FROM states s) ||
		(SELECT coalesce(string_agg(x::text, ',' ORDER BY host_id), '') FROM rffmpeg_hosts x) ||
		(SELECT coalesce(string_agg(x::text, ',' ORDER BY id), '') FROM rffmpeg_processes x) ||
		(SELECT coalesce(string_agg(x::text, ',' ORDER BY id), '') FROM rffmpeg_states x) ||
		(SELECT coalesce(string_agg(x::text, ',' ORDER BY id), '') FROM rffmpeg_queue x) ||
		(SELECT coalesce(string_agg(x::text, ',' ORDER BY id), '') FROM rffmpeg_progress x))`
}

// validName rejects what would break the ssh command line or the display:
// empty, whitespace or control characters, a leading dash (ssh would read an option).
func validName(what, v string) error {
	if v == "" {
		return kindErr(ErrInvalid, "%s is empty", what)
	}
	if strings.HasPrefix(v, "-") {
		return kindErr(ErrInvalid, "%s %q starts with '-'", what, v)
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return kindErr(ErrInvalid, "%s %q contains whitespace or control characters", what, v)
		}
	}
	return nil
}

func validWeight(w int) error {
	if w < 1 {
		return kindErr(ErrInvalid, "weight %d: must be a whole number of at least 1", w)
	}
	return nil
}

// ValidateHost checks a new host's fields as AddHost will (name "" means
// the hostname), so a form can say what is wrong before submitting.
func ValidateHost(hostname, name string, weight int) error {
	if name == "" {
		name = hostname
	}
	for _, c := range []struct{ what, v string }{{"hostname", hostname}, {"server name", name}} {
		if err := validName(c.what, c.v); err != nil {
			return err
		}
	}
	return validWeight(weight)
}

// AddHost registers a transcode host. name defaults to the hostname; it must
// be unique (the same hostname may be added again under another name).
func (s *Store) AddHost(ctx context.Context, hostname, name string, weight int, now time.Time) (Host, error) {
	return s.addHost(ctx, hostname, name, weight, now, nil)
}

// CheckAdd says whether AddHostWith would refuse these values (invalid,
// or a server name taken) without writing anything, so that a caller can
// refuse before a slow step (add reaches the host first).
func (s *Store) CheckAdd(ctx context.Context, hostname, name string, weight int, p HostProps) error {
	err := ValidateHost(hostname, name, weight)
	if err == nil {
		_, err = ValidateHostProps(p)
	}
	if name == "" {
		name = hostname
	}
	if err == nil {
		err = s.nameFree(ctx, s.db, name)
	}
	if err != nil {
		return fmt.Errorf("add host %q: %w", hostname, err)
	}
	return nil
}

// nameFree refuses a server name another host has.
func (s *Store) nameFree(ctx context.Context, q querier, name string) error {
	var id int64
	err := q.QueryRowContext(ctx, s.q(`SELECT id FROM hosts WHERE servername = ?`), name).Scan(&id)
	switch {
	case err == nil:
		return kindErr(ErrDuplicate, "server name %q is taken by host %d; pick another with -n NAME", name, id)
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return err
}

// addHost inserts a host and, in the same transaction, runs extra on it
// (its properties; see AddHostWith).
func (s *Store) addHost(ctx context.Context, hostname, name string, weight int, now time.Time, extra func(*sql.Tx, int64) error) (Host, error) {
	if err := ValidateHost(hostname, name, weight); err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", hostname, err)
	}
	if name == "" {
		name = hostname
	}
	var h Host
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.nameFree(ctx, tx, name); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO hosts (hostname, weight, servername, created) VALUES (?, ?, ?, ?) RETURNING id`),
			hostname, weight, name, s.d.created(now)).Scan(&id)
		if err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx, id); err != nil {
				return err
			}
		}
		hosts, err := s.hostsWhere(ctx, tx, `h.id = ?`, id)
		if err != nil {
			return err
		}
		h = hosts[0]
		return nil
	})
	if err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", hostname, err)
	}
	return h, nil
}

func (s *Store) hostsWhere(ctx context.Context, q querier, where string, args ...any) ([]Host, error) {
	rows, err := q.QueryContext(ctx, s.q(hostSelect+` WHERE `+where+` ORDER BY h.id`), args...)
	if err != nil {
		return nil, err
	}
	hosts, _, err := scanHosts(rows, false)
	return hosts, err
}

// resolve finds the hosts a user means by ref: an id, else a server name,
// else every host with that hostname (the original's remove rule).
func (s *Store) resolve(ctx context.Context, q querier, ref string) ([]Host, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		hosts, err := s.hostsWhere(ctx, q, `h.id = ?`, id)
		if err != nil || len(hosts) > 0 {
			return hosts, err
		}
	}
	hosts, err := s.hostsWhere(ctx, q, `h.servername = ?`, ref)
	if err != nil || len(hosts) > 0 {
		return hosts, err
	}
	hosts, err = s.hostsWhere(ctx, q, `h.hostname = ?`, ref)
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return nil, kindErr(ErrNotFound, "no host with id, server name or hostname %q", ref)
	}
	return hosts, nil
}

// Resolve returns the hosts ref names (see RemoveHosts).
func (s *Store) Resolve(ctx context.Context, ref string) ([]Host, error) {
	return s.resolve(ctx, s.db, ref)
}

func idList(hosts []Host) (string, []any) {
	marks := make([]string, len(hosts))
	args := make([]any, len(hosts))
	for i, h := range hosts {
		marks[i], args[i] = "?", h.ID
	}
	return "(" + strings.Join(marks, ",") + ")", args
}

// finder picks the hosts an operation acts on, inside its transaction.
type finder func(ctx context.Context, q querier) ([]Host, error)

// byRef finds what a user means by ref (see resolve).
func (s *Store) byRef(ref string) finder {
	return func(ctx context.Context, q querier) ([]Host, error) { return s.resolve(ctx, q, ref) }
}

// RemoveHosts deletes the hosts ref names, with their process and state rows.
func (s *Store) RemoveHosts(ctx context.Context, ref string) ([]Host, error) {
	hosts, err := s.removeHosts(ctx, s.byRef(ref))
	if err != nil {
		return nil, fmt.Errorf("remove host %q: %w", ref, err)
	}
	return hosts, nil
}

func (s *Store) removeHosts(ctx context.Context, find finder) ([]Host, error) {
	var removed []Host
	err := s.tx(ctx, func(tx *sql.Tx) error {
		hosts, err := find(ctx, tx)
		if err != nil {
			return err
		}
		in, args := idList(hosts)
		for _, stmt := range []string{`DELETE FROM processes WHERE host_id IN `, `DELETE FROM states WHERE host_id IN `,
			`DELETE FROM hosts WHERE id IN `, `DELETE FROM rffmpeg_hosts WHERE host_id IN `} {
			if _, err := tx.ExecContext(ctx, s.q(stmt+in), args...); err != nil {
				return err
			}
		}
		removed = hosts
		return s.reapOrphans(ctx, tx)
	})
	return removed, err
}

// SetWeight changes the weight of the hosts ref names, keeping their ids.
func (s *Store) SetWeight(ctx context.Context, ref string, weight int) ([]Host, error) {
	if err := validWeight(weight); err != nil {
		return nil, fmt.Errorf("set weight of %q: %w", ref, err)
	}
	return s.updateHosts(ctx, "set weight of", ref, s.setWeight(ctx, weight))
}

// SetDrain stops (or resumes) sending new jobs to the hosts ref names;
// running jobs finish where they are.
func (s *Store) SetDrain(ctx context.Context, ref string, drain bool) ([]Host, error) {
	return s.updateHosts(ctx, "drain", ref, s.setDrain(ctx, drain))
}

func (s *Store) setWeight(ctx context.Context, weight int) func(*sql.Tx, int64) error {
	return func(tx *sql.Tx, id int64) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET weight = ? WHERE id = ?`), weight, id)
		return err
	}
}

func (s *Store) setDrain(ctx context.Context, drain bool) func(*sql.Tx, int64) error {
	v := 0
	if drain {
		v = 1
	}
	return func(tx *sql.Tx, id int64) error { return s.setHostExtra(ctx, tx, id, `drain = ?`, v) }
}

func (s *Store) updateHosts(ctx context.Context, op, ref string, set func(tx *sql.Tx, id int64) error) ([]Host, error) {
	out, err := s.update(ctx, s.byRef(ref), set)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, ref, err)
	}
	return out, nil
}

// update applies set to every host find picks and returns them as written.
func (s *Store) update(ctx context.Context, find finder, set func(tx *sql.Tx, id int64) error) ([]Host, error) {
	var out []Host
	err := s.tx(ctx, func(tx *sql.Tx) error {
		hosts, err := find(ctx, tx)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if err := set(tx, h.ID); err != nil {
				return err
			}
		}
		in, args := idList(hosts)
		out, err = s.hostsWhere(ctx, tx, `h.id IN `+in, args...)
		return err
	})
	return out, err
}

// Cleared counts what Clear deleted.
type Cleared struct{ Processes, States, Queued int64 }

// FallbackRef names the local fallback's rows in Clear.
const FallbackRef = "fallback"

// Clear deletes process and state rows: all of them when ref is "", those of
// the hosts ref names otherwise ("0" or "fallback": the local fallback's).
// With onlyBad, only bad marks are deleted.
func (s *Store) Clear(ctx context.Context, ref string, onlyBad bool) (Cleared, error) {
	var find finder
	switch ref {
	case "":
	case FallbackRef, "0":
		find = fallback
	default:
		find = s.byRef(ref)
	}
	c, err := s.clear(ctx, find, onlyBad)
	if err != nil {
		if ref == "" {
			return c, fmt.Errorf("clear: %w", err)
		}
		return c, fmt.Errorf("clear %q: %w", ref, err)
	}
	return c, nil
}

// fallback finds the local fallback, which has no host row.
func fallback(context.Context, querier) ([]Host, error) { return []Host{{ID: LocalHostID}}, nil }

// clear deletes the rows of the hosts find picks (every row when find is nil).
func (s *Store) clear(ctx context.Context, find finder, onlyBad bool) (Cleared, error) {
	var c Cleared
	err := s.tx(ctx, func(tx *sql.Tx) error {
		where, args := "", []any{}
		if find != nil {
			hosts, err := find(ctx, tx)
			if err != nil {
				return err
			}
			var in string
			in, args = idList(hosts)
			where = ` WHERE host_id IN ` + in
		}
		if onlyBad {
			if where == "" {
				where = ` WHERE state = 'bad'`
			} else {
				where += ` AND state = 'bad'`
			}
		} else {
			r, err := tx.ExecContext(ctx, s.q(`DELETE FROM processes`+where), args...)
			if err != nil {
				return err
			}
			c.Processes, _ = r.RowsAffected()
		}
		r, err := tx.ExecContext(ctx, s.q(`DELETE FROM states`+where), args...)
		if err != nil {
			return err
		}
		c.States, _ = r.RowsAffected()
		if find == nil && !onlyBad {
			// The wait queue too (a malformed row another tool wrote goes
			// with it); a live waiter queues again on its next try.
			if r, err = tx.ExecContext(ctx, `DELETE FROM rffmpeg_queue`); err != nil {
				return err
			}
			c.Queued, _ = r.RowsAffected()
		}
		return s.reapOrphans(ctx, tx)
	})
	return c, err
}

// Reap deletes process and state rows known to be dead or expired, and
// our rows whose base row is gone.
// A read-only store reaps nothing (Warnings says so).
func (s *Store) Reap(ctx context.Context, processes, marks []int64) error {
	if len(processes) == 0 && len(marks) == 0 || s.opts.ReadOnly {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.reap(ctx, tx, processes, marks); err != nil {
			return err
		}
		return s.reapOrphans(ctx, tx)
	})
}

// reap deletes rows by id, set-based: one statement per table whatever
// the number of rows (a dead frontend leaves hundreds).
func (s *Store) reap(ctx context.Context, tx *sql.Tx, processes, marks []int64) error {
	for _, x := range []struct {
		tables []string
		ids    []int64
	}{{[]string{"processes", "rffmpeg_processes", "rffmpeg_progress"}, processes}, {[]string{"states", "rffmpeg_states"}, marks}} {
		for _, table := range x.tables {
			if err := s.deleteIDs(ctx, tx, table, x.ids); err != nil {
				return err
			}
		}
	}
	return nil
}

// reapChunk bounds the ids of one DELETE (SQLite allows 32766 variables).
const reapChunk = 1000

// deleteIDs deletes the rows of table whose id is in ids.
func (s *Store) deleteIDs(ctx context.Context, tx *sql.Tx, table string, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), reapChunk)
		marks := strings.Repeat("?,", n)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE id IN (`+marks[:len(marks)-1]+`)`), args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// reapOrphans deletes our rows whose base row is gone or is another row now
// (the original deleted ours: its clear, remove or init; see ourSchema).
func (s *Store) reapOrphans(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range []string{
		`DELETE FROM rffmpeg_hosts WHERE NOT EXISTS (SELECT 1 FROM hosts h WHERE h.id = rffmpeg_hosts.host_id AND h.servername = rffmpeg_hosts.servername AND h.created = rffmpeg_hosts.created)`,
		`DELETE FROM rffmpeg_processes WHERE NOT EXISTS (SELECT 1 FROM processes p WHERE p.id = rffmpeg_processes.id AND p.host_id = rffmpeg_processes.host_id AND p.process_id = rffmpeg_processes.process_id)`,
		`DELETE FROM rffmpeg_states WHERE NOT EXISTS (SELECT 1 FROM states s WHERE s.id = rffmpeg_states.id AND s.host_id = rffmpeg_states.host_id AND s.process_id = rffmpeg_states.process_id)`,
		`DELETE FROM rffmpeg_progress WHERE NOT EXISTS (SELECT 1 FROM processes p WHERE p.id = rffmpeg_progress.id AND p.host_id = rffmpeg_progress.host_id AND p.process_id = rffmpeg_progress.process_id)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("reap rows of removed rows: %w", err)
		}
	}
	return nil
}

// setHostExtra sets columns of a host's row of ours, creating it (with the
// copies that tie it to this host) or replacing a stale one first.
func (s *Store) setHostExtra(ctx context.Context, tx *sql.Tx, hostID int64, set string, args ...any) error {
	for _, stmt := range []string{
		`DELETE FROM rffmpeg_hosts WHERE host_id = ? AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.id = rffmpeg_hosts.host_id AND h.servername = rffmpeg_hosts.servername AND h.created = rffmpeg_hosts.created)`,
		`INSERT INTO rffmpeg_hosts (host_id, servername, created) SELECT id, servername, created FROM hosts WHERE id = ? ON CONFLICT (host_id) DO NOTHING`,
	} {
		if _, err := tx.ExecContext(ctx, s.q(stmt), hostID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE rffmpeg_hosts SET `+set+` WHERE host_id = ?`), append(args, hostID)...)
	return err
}

// Host reads one host by id.
func (s *Store) Host(ctx context.Context, id int64) (Host, error) {
	hosts, err := s.hostsWhere(ctx, s.db, `h.id = ?`, id)
	if err != nil {
		return Host{}, fmt.Errorf("read host %d: %w", id, err)
	}
	if len(hosts) == 0 {
		return Host{}, kindErr(ErrNotFound, "no host with id %d", id)
	}
	return hosts[0], nil
}

// Watch reports changes made by anyone (a shim, the CLI, another frontend).
// On PostgreSQL it LISTENs for the notification every write transaction
// sends (see watchPostgres; interval is then the reconnect delay after the
// server went away); on SQLite it polls dataVersionQuery on one pinned
// connection every interval and sends on the channel when it moves. Nothing is re-read while nothing changes. The
// channel closes when ctx ends; errors (a database gone away) are sent too.
func (s *Store) Watch(ctx context.Context, interval time.Duration) <-chan error {
	ch := make(chan error, 1)
	send := func(err error) {
		select {
		case ch <- err:
		default: // a change is already pending
		}
	}
	go func() {
		defer close(ch)
		var conn *sql.Conn
		if s.d.name() == PostgreSQL && s.pgConfig != nil {
			s.watchPostgres(ctx, interval, send)
			return
		}
		var stmt *sql.Stmt // prepared once per connection: a poll is one step
		drop := func() {
			if stmt != nil {
				stmt.Close()
			}
			if conn != nil {
				conn.Close()
			}
			stmt, conn = nil, nil
		}
		defer drop()
		last := ""
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if stmt == nil {
				c, err := s.db.Conn(ctx)
				if err == nil {
					conn = c
					stmt, err = c.PrepareContext(ctx, s.dataVersionQuery())
				}
				if err != nil {
					drop()
					send(err)
				}
			}
			if stmt != nil {
				var v string
				switch err := stmt.QueryRowContext(ctx).Scan(&v); {
				case err != nil:
					drop()
					send(err)
				case v != last:
					if last != "" {
						send(nil)
					}
					last = v
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}
