package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// On PostgreSQL, where several frontends share the pool, selection reads
// only what it needs and holds the write lock only for what must be exact.
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
// the original rffmpeg's (their PID) and rows out of their lease (to
// reap). "active" states rows, one per job, play no part in the decision;
// those of reaped jobs are swept in SQL (sweepActive). Snapshot, status and
// the console still read every row.
//
// Those reads come before the lock, in one pipelined round trip
// (decideEarly), and the policy judges the rows then. Under the lock one
// statement counts every live job per host (all rows but those judged dead
// and other frontends' out of their lease), so capacity and the spread are
// decided on exact counts: a job recorded by anyone in between is counted.
// What the early reads may miss by a few milliseconds (a host added or
// drained, a bad mark, a waiter that just queued) is what a selection a
// moment earlier would have missed too. A selection that gives up a lease
// or records a bad mark (a retry) reads under the lock (leanSnapshot), so
// it sees its own mark.

// leanFilter is what the store judges itself for one selection.
type leanFilter struct {
	self   string // this frontend's name, the first part of its owner identity
	cutoff int64  // Unix ms: a heartbeat at or after it is within the lease
}

// leanFor is the filter for a claim; ok is false on SQLite, without a
// lease (Options.Lease zero) or when the claim's owner is not an identity
// of the form frontend|boot|start: then every row is read, as Snapshot
// does. SQLite has one machine's frontends, whose rows it must read and
// judge anyway, in-process: a count beside them only costs a second pass
// (measured: 4.0 against 3.1 ms a selection at 1,000 jobs).
func (s *Store) leanFor(c Claim) (leanFilter, bool) {
	parts := strings.Split(c.Owner, "|")
	if s.d.name() != PostgreSQL || s.opts.Lease <= 0 || len(parts) != 3 || parts[0] == "" {
		return leanFilter{}, false
	}
	return leanFilter{self: parts[0], cutoff: c.Now.Add(-s.opts.Lease).UnixMilli()}, true
}

// counted is 1 for a processes row (p, joined with its row of ours x) that
// the store counts without reading, 0 otherwise (never NULL: a NOT of NULL
// would lose rows): an owner naming another frontend and a heartbeat
// within the lease or none. owner.Checker judges such a row by
// its lease alone, or (an owner not of the form frontend|boot|start) not
// at all: alive either way. A row out of its lease is read, for the policy
// to reap; so is one without an owner (the original's: its PID is judged).
func (f leanFilter) counted() (string, []any) {
	return `(CASE WHEN x.owner <> '' AND substr(x.owner, 1, ?) <> ? AND (x.heartbeat IS NULL OR x.heartbeat >= ?) THEN 1 ELSE 0 END)`,
		append(f.leaseArgs(), f.cutoff)
}

// step is one statement of a read and what reads its result.
type step struct {
	query string // with ? placeholders
	args  []any
	scan  func(rowSource) error
}

// leanSteps are the reads of what selection needs (see above) into snap:
// hosts, the rows to judge, the counts of the others (withCounts), the
// marks that are not "active", the queue and the machines.
func (s *Store) leanSteps(f leanFilter, withCounts bool, snap *Snapshot) []step {
	expr, args := f.counted()
	var bad []Malformed
	steps := []step{
		{hostSelect + ` ORDER BY h.id`, nil, func(rows rowSource) (err error) {
			snap.Hosts, bad, err = scanHosts(rows, true)
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{processFrom + ` WHERE ` + expr + ` = 0 ORDER BY p.id`, args, func(rows rowSource) (err error) {
			snap.Processes, bad, err = scanAll(rows, "processes", scanProcess, func(p Process) int64 { return p.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{markFrom + ` WHERE s.state IS NULL OR s.state <> '` + StateActive + `' ORDER BY s.id`, nil, func(rows rowSource) (err error) {
			snap.Marks, bad, err = scanAll(rows, "states", scanMark, func(m Mark) int64 { return m.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{queueSelect, nil, func(rows rowSource) (err error) {
			snap.Queue, bad, err = scanAll(rows, "rffmpeg_queue", scanWaiter, func(w Waiter) int64 { return w.ID })
			snap.Malformed = append(snap.Malformed, bad...)
			return err
		}},
		{machineSelect, nil, func(rows rowSource) (err error) {
			snap.Machines, _, err = scanAll(rows, "rffmpeg_machines", scanMachine, func(Machine) int64 { return 0 })
			return err
		}},
	}
	if withCounts {
		steps = append(steps, step{`SELECT p.host_id, count(*) FROM processes p JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
			WHERE ` + expr + ` = 1 GROUP BY p.host_id`, args, func(rows rowSource) (err error) {
			snap.Counted, err = scanCounts(rows)
			return err
		}})
	}
	return steps
}

// leanSnapshot runs leanSteps one statement after the other, under the
// lock (a retry's selection, see Acquire).
func (s *Store) leanSnapshot(ctx context.Context, q querier, f leanFilter) (Snapshot, error) {
	var snap Snapshot
	for _, st := range s.leanSteps(f, true, &snap) {
		rows, err := q.QueryContext(ctx, s.q(st.query), st.args...)
		if err != nil {
			return Snapshot{}, err
		}
		if err := st.scan(rows); err != nil {
			return Snapshot{}, err
		}
	}
	return snap, nil
}

// scanCounts reads host_id, count rows (a NULL host_id is the fallback's,
// as a NULL reads everywhere else).
func scanCounts(rows rowSource) (map[int64]int, error) {
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var host sql.NullInt64
		var n int64
		if err := rows.Scan(&host, &n); err != nil {
			return nil, err
		}
		out[host.Int64] += int(n)
	}
	return out, rows.Err()
}

// sweepActive deletes the "active" states rows whose job's processes row
// is gone (the lean read does not read them, so the policy cannot name
// them): a row matches its job by PID and owner, as the policy's would.
func (s *Store) sweepActive(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM states WHERE id IN (SELECT s.id FROM states s
		LEFT JOIN rffmpeg_states y ON y.id = s.id AND y.host_id = s.host_id AND y.process_id = s.process_id
		WHERE s.state = '`+StateActive+`' AND NOT EXISTS (SELECT 1 FROM processes p
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

// decideEarly is selection on PostgreSQL (see above): the reads, in one
// round trip, and a first decision (to judge the rows) before the lock;
// then the lock and the live count per host, in one round trip (the count
// runs once the lock is held, on what was committed by then), and the
// decision on those counts. The snapshot decided on holds the rows judged
// dead (for the policy to reap them again) and the counts.
func (s *Store) decideEarly(ctx context.Context, conn *sql.Conn, f leanFilter, decide func(Snapshot) Decision) (Snapshot, Decision, error) {
	var snap Snapshot
	if err := s.pipeline(ctx, conn, s.leanSteps(f, false, &snap)); err != nil {
		return Snapshot{}, Decision{}, err
	}
	dead := decide(snap).ReapProcesses
	if dead == nil {
		dead = []int64{}
	}
	lock := step{`SELECT pg_advisory_xact_lock(?), pg_notify('` + notifyChannel + `', '')`, []any{advisoryKey}, drain} // postgresDialect.lock
	var revived []int64
	if err := s.pipeline(ctx, conn, []step{lock, countLive(f, dead, &snap.Counted), renewed(f, dead, &revived)}); err != nil {
		return Snapshot{}, Decision{}, err
	}
	gone := map[int64]bool{}
	for _, id := range dead {
		gone[id] = true
	}
	for _, id := range revived {
		delete(gone, id) // counted live, and not the policy's to reap
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

// countLive is the statement counting, per host, every job that is alive
// as far as this selection knows (PostgreSQL, under the lock): another
// frontend's by its lease, as it stands now (exactly the rows
// owner.Checker judges by their lease: one judged dead before the lock
// may have had a heartbeat since), every other row unless judged dead.
func countLive(f leanFilter, dead []int64, into *map[int64]int) step {
	return step{`SELECT p.host_id, count(*) FROM processes p
		LEFT JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
		WHERE (CASE WHEN ` + leaseJudged + ` THEN x.heartbeat >= ? ELSE p.id <> ALL(?) END)
		GROUP BY p.host_id`, append(f.leaseArgs(), f.cutoff, dead), func(rows rowSource) (err error) {
		*into, err = scanCounts(rows)
		return err
	}}
}

// renewed is the statement finding, among the rows judged dead before the
// lock, other frontends' whose heartbeat is within the lease now: a slow
// frontend's heartbeat came in between. Those are neither reaped nor
// left out of the count.
func renewed(f leanFilter, dead []int64, into *[]int64) step {
	return step{`SELECT p.id FROM processes p
		JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id
		WHERE p.id = ANY(?) AND ` + leaseJudged + ` AND x.heartbeat >= ?`, append(append([]any{dead}, f.leaseArgs()...), f.cutoff),
		func(rows rowSource) error {
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				*into = append(*into, id)
			}
			return rows.Err()
		}}
}

// leaseJudged is the condition of a row owner.Checker judges by its lease
// alone: another frontend's (an identity frontend|boot|start that is not
// this frontend's) with a heartbeat. Its arguments: leanFilter.leaseArgs.
const leaseJudged = `(x.owner <> '' AND length(x.owner) - length(replace(x.owner, '|', '')) = 2
			AND substr(x.owner, 1, ?) <> ? AND x.heartbeat >= 0)`

func (f leanFilter) leaseArgs() []any {
	prefix := f.self + "|"
	return []any{utf8.RuneCountInString(prefix), prefix}
}

// drain reads a result nobody needs.
func drain(rows rowSource) error {
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// pipeline sends steps in one round trip on the transaction's connection
// (PostgreSQL: pgx's batch, on the connection database/sql holds for the
// transaction) and reads each result in order. In a pipeline the server
// still runs one statement after the other, each on what was committed
// when it starts.
func (s *Store) pipeline(ctx context.Context, conn *sql.Conn, steps []step) error {
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: not a pgx connection (%T)", dc)
		}
		b := &pgx.Batch{}
		for _, st := range steps {
			b.Queue(s.q(st.query), st.args...)
		}
		br := sc.Conn().SendBatch(ctx, b)
		for _, st := range steps {
			rows, err := br.Query()
			if err == nil {
				err = st.scan(pgxRows{rows})
			}
			if err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// pgxRows is a pipelined result as a rowSource.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}
