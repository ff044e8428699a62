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
}

// Lease is a running job's claim: its processes row and its "active" states
// row (written for the original rffmpeg's sake, which reads host state there).
type Lease struct {
	HostID    int64
	ProcessID int64 // processes.id
	StateID   int64 // states.id
}

// AcquireRequest asks for a host. Replace gives up an earlier lease and
// MarkBad records a failed check, both in the same transaction.
type AcquireRequest struct {
	Claim   Claim
	Replace *Lease
	MarkBad *BadMark
}

// Acquire runs the selection policy and records the job on the chosen host in
// one transaction holding the write lock, so simultaneous jobs see each
// other and spread exactly as the policy says.
func (s *Store) Acquire(ctx context.Context, req AcquireRequest, decide func(Snapshot) Decision) (Lease, Decision, Snapshot, error) {
	var lease Lease
	var d Decision
	var snap Snapshot
	c := req.Claim
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if req.Replace != nil {
			if err := s.release(ctx, tx, *req.Replace); err != nil {
				return err
			}
		}
		if b := req.MarkBad; b != nil {
			if err := s.markBad(ctx, tx, b.HostID, c, b.Reason); err != nil {
				return err
			}
		}
		var err error
		if snap, err = s.readSnapshot(ctx, tx); err != nil {
			return err
		}
		d = decide(snap)
		if err := s.reap(ctx, tx, d.ReapProcesses, d.ReapMarks); err != nil {
			return err
		}
		if d.None {
			return nil
		}
		lease.HostID = d.HostID
		now := ms(c.Now)
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO processes (host_id, process_id, cmd, started, owner, heartbeat) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
			d.HostID, c.PID, c.Cmd, now, c.Owner, now).Scan(&lease.ProcessID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO states (host_id, process_id, state, created, owner) VALUES (?, ?, ?, ?, ?) RETURNING id`),
			d.HostID, c.PID, StateActive, now, c.Owner).Scan(&lease.StateID)
	})
	if err != nil {
		return Lease{}, Decision{}, Snapshot{}, fmt.Errorf("select host: %w", err)
	}
	return lease, d, snap, nil
}

func (s *Store) release(ctx context.Context, tx *sql.Tx, l Lease) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM processes WHERE id = ?`), l.ProcessID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`DELETE FROM states WHERE id = ?`), l.StateID)
	return err
}

// Release deletes a finished job's rows.
func (s *Store) Release(ctx context.Context, l Lease) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.release(ctx, tx, l) }); err != nil {
		return fmt.Errorf("release job: %w", err)
	}
	return nil
}

func (s *Store) markBad(ctx context.Context, tx *sql.Tx, hostID int64, c Claim, reason string) error {
	now := ms(c.Now)
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO states (host_id, process_id, state, created, reason, owner) VALUES (?, ?, ?, ?, ?, ?)`),
		hostID, c.PID, StateBad, now, reason, c.Owner); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET last_error = ?, last_error_at = ?, checked_at = NULL WHERE id = ?`), reason, now, hostID)
	return err
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
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE hosts SET checked_at = ? WHERE id = ?`), ms(now), hostID); err != nil {
		return fmt.Errorf("record check of host %d: %w", hostID, err)
	}
	return nil
}

// Heartbeat tells other machines sharing the database that a job still runs.
func (s *Store) Heartbeat(ctx context.Context, l Lease, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE processes SET heartbeat = ? WHERE id = ?`), ms(now), l.ProcessID); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}
