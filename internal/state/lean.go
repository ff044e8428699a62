package state

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode/utf8"
)

// Selection reads only what it needs, and on PostgreSQL holds the write
// lock only for what must be exact.
//
// With 1,000 running jobs, reading every job's processes and states rows
// (and judging each in Go) took about 3 ms of every selection, under the
// write lock that selections of every frontend share, so they queued behind
// each other. Most of those rows are other frontends' jobs whose heartbeat
// is within the lease: alive by the rule the policy applies (package owner:
// another frontend's rows are judged by their lease alone), which SQL can
// apply as well as Go. So Acquire counts those per host instead of reading
// them (Snapshot.Counted), and reads row by row only what needs this
// machine to judge: this frontend's own rows (their PID and start time),
// the original rffmpeg's (their PID), rows out of their lease (to reap), and
// any row whose values are not clean. "active" states rows, one per job,
// play no part in the decision; those of reaped jobs are swept in SQL
// (sweepActive). Snapshot, status and the console still read every row.
//
// On PostgreSQL the reads come before the lock (decideEarly): hosts, marks,
// the queue and the rows to judge, which the policy judges then. Under the
// lock one statement counts every live job per host (all rows but those
// judged dead and other frontends' out of their lease), so capacity and the
// spread are decided on exact counts: a job recorded by anyone in between
// is counted. What the early reads may miss by a few milliseconds (a host
// added or drained, a bad mark, a waiter that just queued) is what a
// selection a moment earlier would have missed too. A selection that gives
// up a lease or records a bad mark (a retry) reads under the lock, so it
// sees its own mark.

// leanFilter is what the store judges itself for one selection.
type leanFilter struct {
	self   string // this frontend's name, the first part of its owner identity
	cutoff int64  // Unix ms: a heartbeat at or after it is within the lease
}

// leanFor is the filter for a claim; ok is false without a lease
// (Options.Lease zero) or when the claim's owner is not an identity of the
// form frontend|boot|start (then every row is read, as Snapshot does).
func (s *Store) leanFor(c Claim) (leanFilter, bool) {
	parts := strings.Split(c.Owner, "|")
	if s.opts.Lease <= 0 || len(parts) != 3 || parts[0] == "" {
		return leanFilter{}, false
	}
	return leanFilter{self: parts[0], cutoff: c.Now.Add(-s.opts.Lease).UnixMilli()}, true
}

// counted is 1 for a processes row (p, joined with its row of ours x) that
// the store counts without reading, 0 otherwise (never NULL: a NOT of NULL
// would lose rows): clean values, an owner naming another frontend and a
// heartbeat within the lease or none. owner.Checker judges such a row by
// its lease alone, or (an owner not of the form frontend|boot|start) not
// at all: alive either way. A row out of its lease is read, for the policy
// to reap; so is one without an owner (the original's: its PID is judged).
func (f leanFilter) counted(d dialect) (string, []any) {
	clean := ""
	if d.name() == SQLite {
		// Another tool may have written any value anywhere; such a row
		// is read and reported (see rows.go), not counted.
		clean = `typeof(p.id) = 'integer' AND typeof(p.host_id) IN ('integer', 'null') AND typeof(p.process_id) IN ('integer', 'null')
			AND typeof(x.started) IN ('integer', 'null') AND typeof(x.heartbeat) IN ('integer', 'null') AND typeof(x.owner) = 'text' AND `
	}
	prefix := f.self + "|"
	return `(CASE WHEN ` + clean + `x.owner <> '' AND substr(x.owner, 1, ?) <> ? AND (x.heartbeat IS NULL OR x.heartbeat >= ?) THEN 1 ELSE 0 END)`,
		[]any{utf8.RuneCountInString(prefix), prefix, f.cutoff}
}

// leanSnapshot reads what selection needs (see above): hosts, the rows to
// judge, the counts of the others (withCounts), the marks that are not
// "active", the queue and the machines.
func (s *Store) leanSnapshot(ctx context.Context, q querier, f leanFilter, withCounts bool) (Snapshot, error) {
	var snap Snapshot
	expr, args := f.counted(s.d)
	var bad []Malformed
	read := func(query string, args []any, scan func(*sql.Rows) error) error {
		rows, err := q.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		return scan(rows)
	}
	steps := []struct {
		query string
		args  []any
		scan  func(*sql.Rows) error
	}{
		{hostSelect + ` ORDER BY h.id`, nil, func(rows *sql.Rows) (err error) {
			snap.Hosts, bad, err = scanHosts(rows, true)
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{processFrom + ` WHERE ` + expr + ` = 0 ORDER BY p.id`, args, func(rows *sql.Rows) (err error) {
			snap.Processes, bad, err = scanAll(rows, "processes", scanProcess, func(p Process) int64 { return p.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{`SELECT p.host_id, count(*) FROM processes p JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
			WHERE ` + expr + ` = 1 GROUP BY p.host_id`, args, func(rows *sql.Rows) (err error) {
			snap.Counted, err = scanCounts(rows)
			return err
		}},
		{markFrom + ` WHERE s.state IS NULL OR s.state <> '` + StateActive + `' ORDER BY s.id`, nil, func(rows *sql.Rows) (err error) {
			snap.Marks, bad, err = scanAll(rows, "states", scanMark, func(m Mark) int64 { return m.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{queueSelect, nil, func(rows *sql.Rows) (err error) {
			snap.Queue, bad, err = scanAll(rows, "rffmpeg_queue", scanWaiter, func(w Waiter) int64 { return w.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{machineSelect, nil, func(rows *sql.Rows) (err error) {
			snap.Machines, _, err = scanAll(rows, "rffmpeg_machines", scanMachine, func(Machine) int64 { return 0 })
			return err
		}},
	}
	for i, st := range steps {
		if i == 2 && !withCounts {
			continue
		}
		if err := read(st.query, st.args, st.scan); err != nil {
			return Snapshot{}, err
		}
	}
	return snap, nil
}

// scanCounts reads host_id, count rows (a NULL host_id is the fallback's,
// as a NULL reads everywhere else).
func scanCounts(rows *sql.Rows) (map[int64]int, error) {
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var host sql.NullInt64
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			return nil, err
		}
		out[host.Int64] += n
	}
	return out, rows.Err()
}

// sweepActive deletes the "active" states rows whose job's processes row
// is gone (the lean read does not read them, so the policy cannot name
// them): a row matches its job by PID and owner, as the policy's would.
// Rows whose values are not clean are left for the policy (Snapshot) to
// report.
func (s *Store) sweepActive(ctx context.Context, tx *sql.Tx) error {
	clean := ""
	if s.d.name() == SQLite {
		clean = ` AND typeof(s.id) = 'integer' AND typeof(s.process_id) IN ('integer', 'null')`
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM states WHERE id IN (SELECT s.id FROM states s
		LEFT JOIN rffmpeg_states y ON y.id = s.id AND y.host_id = s.host_id AND y.process_id = s.process_id
		WHERE s.state = '`+StateActive+`'`+clean+` AND NOT EXISTS (SELECT 1 FROM processes p
			LEFT JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
			WHERE p.process_id = s.process_id AND coalesce(x.owner, '') = coalesce(y.owner, '')))`)
	return err
}

// stamp is the claim's time, or now when it has none: taken when the
// transaction runs, not when the call began to wait for it (a heartbeat
// already older than the lease would make a live job look dead to other
// frontends).
func stamp(c Claim) Claim {
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	return c
}

// decideEarly is selection on PostgreSQL (see above): the reads and a first
// decision (to judge the rows) before the lock, then under it the live
// count per host and the decision on it. The snapshot decided on holds the
// rows judged dead (for the policy to reap them again) and the counts.
func (s *Store) decideEarly(ctx context.Context, tx *sql.Tx, f leanFilter, decide func(Snapshot) Decision) (Snapshot, Decision, error) {
	snap, err := s.leanSnapshot(ctx, tx, f, false)
	if err != nil {
		return Snapshot{}, Decision{}, err
	}
	dead := decide(snap).ReapProcesses
	if err := s.d.lock(ctx, tx); err != nil {
		return Snapshot{}, Decision{}, err
	}
	if snap.Counted, err = s.countLive(ctx, tx, f, dead); err != nil {
		return Snapshot{}, Decision{}, err
	}
	gone := map[int64]bool{}
	for _, id := range dead {
		gone[id] = true
	}
	judged := snap.Processes
	snap.Processes = nil
	for _, p := range judged {
		if gone[p.ID] {
			snap.Processes = append(snap.Processes, p)
		}
	}
	return snap, decide(snap), nil
}

// countLive counts, per host, every job that is alive as far as this
// selection knows (PostgreSQL, under the lock): every processes row but
// those judged dead and other frontends' out of their lease (exactly the
// rows owner.Checker judges by an expired lease).
func (s *Store) countLive(ctx context.Context, tx *sql.Tx, f leanFilter, dead []int64) (map[int64]int, error) {
	prefix := f.self + "|"
	if dead == nil {
		dead = []int64{}
	}
	rows, err := tx.QueryContext(ctx, `SELECT p.host_id, count(*) FROM processes p
		LEFT JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
		WHERE p.id <> ALL($1) AND (CASE WHEN x.owner <> '' AND length(x.owner) - length(replace(x.owner, '|', '')) = 2
			AND substr(x.owner, 1, $2) <> $3 AND x.heartbeat >= 0 AND x.heartbeat < $4 THEN 0 ELSE 1 END) = 1
		GROUP BY p.host_id`, dead, utf8.RuneCountInString(prefix), prefix, f.cutoff)
	if err != nil {
		return nil, err
	}
	return scanCounts(rows)
}
