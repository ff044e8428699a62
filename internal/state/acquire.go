package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Claim describes the process asking for a host.
type Claim struct {
	PID   int
	Owner string // identity that survives PID reuse (see package owner)
	Cmd   string
	Now   time.Time
}

// BadMark is a failed check to record.
type BadMark struct {
	HostID int64
	Reason string
}

// Decision is what the selection policy made of a snapshot.
type Decision struct {
	HostID int64 // the chosen host, or LocalHostID for the local fallback
	None   bool  // nothing may run (fallback disabled and no host usable)
	// Rows to delete in the same transaction: processes whose owner is dead,
	// bad marks that expired.
	ReapProcesses []int64
	ReapMarks     []int64
	// Wait: every host the job may use is full and the policy says wait.
	// Nothing runs; the caller's place in the queue is recorded (see
	// Lease.Waiting) and it tries again later.
	Wait bool
	// Queue rows whose writer is dead.
	ReapQueue []int64
}

// Lease is a running job's claim: its processes row and its "active" states
// row (written for the original rffmpeg's sake, which reads host state there).
type Lease struct {
	HostID    int64
	ProcessID int64 // processes.id
	StateID   int64 // states.id
	// Waiting is the caller's queue row when the decision was Wait (pass
	// it back as AcquireRequest.Waiting on the next try).
	Waiting int64
}

// AcquireRequest asks for a host. Replace gives up an earlier lease and
// MarkBad records a failed check, both in the same transaction.
type AcquireRequest struct {
	Claim   Claim
	Replace *Lease
	MarkBad *BadMark
	// Waiting is the caller's queue row from an earlier Wait decision (0:
	// none). A decision to run or to refuse deletes it; another Wait keeps
	// it (and its place) and refreshes its heartbeat.
	Waiting int64
	// What a queued call waits for, recorded in its queue row: the job's
	// class and capability tokens.
	Class string
	Needs []string
}

// Acquire runs the selection policy and records the job on the chosen host in
// one transaction holding the write lock, so simultaneous jobs see each
// other and spread exactly as the policy says. It costs the same number of
// round trips whatever the number of hosts and jobs (a snapshot in a few
// reads, set-based deletes; see TestAcquireStatementsConstant). On
// PostgreSQL with a lease (Options.Lease) it reads only what selection
// needs, most of it before taking the lock (see lean.go): decide must then
// judge rows with that lease (as setup.Policy does), and may be called
// twice (the first decision's ReapProcesses say which rows it judged dead;
// the second, on exact counts, is the one carried out). A zero Claim.Now
// stamps the rows with the time the transaction runs.
func (s *Store) Acquire(ctx context.Context, req AcquireRequest, decide func(Snapshot) Decision) (Lease, Decision, Snapshot, error) {
	var lease Lease
	var d Decision
	var snap Snapshot
	err := s.txLocking(ctx, true, func(conn *sql.Conn, tx *sql.Tx) error {
		c := stamp(req.Claim)
		f, lean := s.leanFor(c)
		var err error
		if lean && req.Replace == nil && req.MarkBad == nil {
			snap, d, err = s.decideEarly(ctx, conn, f, decide)
		} else {
			snap, d, err = s.decideLocked(ctx, tx, req, c, f, lean, decide)
		}
		if err != nil {
			return err
		}
		lease, err = s.carryOut(ctx, tx, req, c, d, lean)
		return err
	})
	if err != nil {
		return Lease{}, Decision{}, Snapshot{}, fmt.Errorf("select host: %w", err)
	}
	return lease, d, snap, nil
}

// decideLocked takes the lock, gives up the replaced lease, records the
// bad mark, then reads (leanly or every row) and decides.
func (s *Store) decideLocked(ctx context.Context, tx *sql.Tx, req AcquireRequest, c Claim, f leanFilter, lean bool, decide func(Snapshot) Decision) (Snapshot, Decision, error) {
	if err := s.d.lock(ctx, tx); err != nil {
		return Snapshot{}, Decision{}, err
	}
	if req.Replace != nil {
		if err := s.release(ctx, tx, *req.Replace); err != nil {
			return Snapshot{}, Decision{}, err
		}
	}
	if b := req.MarkBad; b != nil {
		if err := s.markBad(ctx, tx, b.HostID, c, b.Reason); err != nil {
			return Snapshot{}, Decision{}, err
		}
	}
	var snap Snapshot
	var err error
	if lean {
		snap, err = s.leanSnapshot(ctx, tx, f)
	} else {
		snap, err = s.readSnapshot(ctx, tx)
	}
	if err != nil {
		return Snapshot{}, Decision{}, err
	}
	return snap, decide(snap), nil
}

// carryOut writes what the decision says: the reaps, the caller's place in
// the queue, the job's rows.
func (s *Store) carryOut(ctx context.Context, tx *sql.Tx, req AcquireRequest, c Claim, d Decision, lean bool) (Lease, error) {
	var lease Lease
	if err := s.reap(ctx, tx, d.ReapProcesses, d.ReapMarks); err != nil {
		return lease, err
	}
	if err := s.reapQueue(ctx, tx, d.ReapQueue); err != nil {
		return lease, err
	}
	var err error
	if d.Wait {
		stamped := req
		stamped.Claim = c
		lease.Waiting, err = s.wait(ctx, tx, stamped)
		return lease, err
	}
	if req.Waiting != 0 {
		if err := s.reapQueue(ctx, tx, []int64{req.Waiting}); err != nil {
			return lease, err
		}
	}
	if len(d.ReapProcesses)+len(d.ReapMarks) > 0 {
		// Rare (a writer died), so the sweeps ride along here: the
		// "active" rows of reaped jobs that a lean snapshot did not show
		// the policy, and our rows whose base row the original deleted.
		if lean && len(d.ReapProcesses) > 0 {
			if err := s.sweepActive(ctx, tx); err != nil {
				return lease, err
			}
		}
		if err := s.reapOrphans(ctx, tx); err != nil {
			return lease, err
		}
	}
	if d.None {
		return lease, nil
	}
	lease.HostID = d.HostID
	lease.ProcessID, lease.StateID, err = s.record(ctx, tx, d.HostID, c)
	return lease, err
}

// record writes a job's rows: processes and states (active), and ours
// beside them.
func (s *Store) record(ctx context.Context, tx *sql.Tx, hostID int64, c Claim) (processID, stateID int64, err error) {
	if s.d.name() == PostgreSQL {
		return s.recordPostgres(ctx, tx, hostID, c)
	}
	now := ms(c.Now)
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO processes (host_id, process_id, cmd) VALUES (?, ?, ?) RETURNING id`),
		hostID, c.PID, c.Cmd).Scan(&processID); err != nil {
		return 0, 0, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_processes (id, host_id, process_id, started, owner, heartbeat) VALUES (?, ?, ?, ?, ?, ?)`+
		` ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, process_id = excluded.process_id, started = excluded.started, owner = excluded.owner, heartbeat = excluded.heartbeat`),
		processID, hostID, c.PID, now, c.Owner, now); err != nil {
		return 0, 0, err
	}
	stateID, err = s.insertState(ctx, tx, hostID, c, StateActive, "")
	return processID, stateID, err
}

// insertState writes a states row the original can read, and ours beside it.
func (s *Store) insertState(ctx context.Context, tx *sql.Tx, hostID int64, c Claim, st, reason string) (int64, error) {
	var id int64
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO states (host_id, process_id, state) VALUES (?, ?, ?) RETURNING id`),
		hostID, c.PID, st).Scan(&id); err != nil {
		return 0, err
	}
	var why any
	if reason != "" {
		why = reason
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_states (id, host_id, process_id, created, reason, owner) VALUES (?, ?, ?, ?, ?, ?)`+
		` ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, process_id = excluded.process_id, created = excluded.created, reason = excluded.reason, owner = excluded.owner`),
		id, hostID, c.PID, ms(c.Now), why, c.Owner)
	return id, err
}

func (s *Store) release(ctx context.Context, tx *sql.Tx, l Lease) error {
	if s.d.name() == PostgreSQL {
		// The five deletes in one statement: one round trip, not five,
		// while the lock that every frontend's selections wait for is
		// held (data-modifying WITHs all run, read or not).
		_, err := tx.ExecContext(ctx, `WITH p AS (DELETE FROM processes WHERE id = $1),
			x AS (DELETE FROM rffmpeg_processes WHERE id = $1), g AS (DELETE FROM rffmpeg_progress WHERE id = $1),
			s AS (DELETE FROM states WHERE id = $2) DELETE FROM rffmpeg_states WHERE id = $2`, l.ProcessID, l.StateID)
		return err
	}
	return s.reap(ctx, tx, []int64{l.ProcessID}, []int64{l.StateID})
}

// Release deletes a finished job's rows.
func (s *Store) Release(ctx context.Context, l Lease) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.release(ctx, tx, l) }); err != nil {
		return fmt.Errorf("release job: %w", err)
	}
	return nil
}

func (s *Store) markBad(ctx context.Context, tx *sql.Tx, hostID int64, c Claim, reason string) error {
	if _, err := s.insertState(ctx, tx, hostID, c, StateBad, reason); err != nil {
		return err
	}
	if err := s.setHostExtra(ctx, tx, hostID, `last_error = ?, last_error_at = ?, checked_at = NULL`, reason, ms(c.Now)); err != nil {
		return err
	}
	return s.recordMark(ctx, tx, hostID, c, reason) // its row in the health history (health.go)
}

// MarkBad records that a host failed (a check, or its SSH connection).
func (s *Store) MarkBad(ctx context.Context, hostID int64, c Claim, reason string) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.markBad(ctx, tx, hostID, c, reason) }); err != nil {
		return fmt.Errorf("mark host %d bad: %w", hostID, err)
	}
	return nil
}

// MarkChecked records a successful health check of a host.
func (s *Store) MarkChecked(ctx context.Context, hostID int64, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.setHostExtra(ctx, tx, hostID, `checked_at = ?`, ms(now)) })
	if err != nil {
		return fmt.Errorf("record check of host %d: %w", hostID, err)
	}
	return nil
}

// Heartbeat tells other machines sharing the database that a job still runs.
func (s *Store) Heartbeat(ctx context.Context, l Lease, now time.Time) error {
	if err := s.readOnlyErr(); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE rffmpeg_processes SET heartbeat = ? WHERE id = ?`), ms(now), l.ProcessID); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// HeartbeatOwner refreshes every job row written by owner (a process
// identity) in one statement: a process holding many jobs (a frontend
// daemon, the scale benchmark) keeps them all alive at the cost of one.
func (s *Store) HeartbeatOwner(ctx context.Context, owner string, now time.Time) (int64, error) {
	if err := s.readOnlyErr(); err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	r, err := s.db.ExecContext(ctx, s.q(`UPDATE rffmpeg_processes SET heartbeat = ? WHERE owner = ?`), ms(now), owner)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	return r.RowsAffected()
}
