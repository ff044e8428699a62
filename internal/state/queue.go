package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The wait queue: when every host a job may use is full and the policy is
// "wait", the call records itself in rffmpeg_queue (who waits, since when,
// for what) and tries Acquire again when woken or every short interval, up
// to a bound. The policy lets the oldest waiter that a free slot fits go
// first, so the queue is FIFO among jobs that compete for the same hosts.
// A waiter that dies leaves a row its liveness check reaps, like a job's.

// Waiter is a call waiting for capacity.
type Waiter struct {
	ID        int64 // order of arrival
	PID       int
	Owner     string
	Cmd       string
	Class     string   // the job's class (see package jobclass)
	Needs     []string // its capability tokens
	Since     time.Time
	Heartbeat time.Time // refreshed by each retry
}

const queueSelect = `SELECT id, process_id, owner, substr(cmd, 1, 65536), class, needs, since, heartbeat FROM rffmpeg_queue ORDER BY id`

func scanWaiter(rows rowSource) (Waiter, problems, error) {
	var w Waiter
	var id, pid, owner, cmd, class, needs, since, hb any
	if err := rows.Scan(&id, &pid, &owner, &cmd, &class, &needs, &since, &hb); err != nil {
		return w, nil, err
	}
	var p problems
	w.ID = p.wholeNumber("id", id)
	w.PID = int(p.wholeNumber("process_id", pid))
	w.Owner, w.Cmd, w.Class = textOf(owner), textOf(cmd), textOf(class)
	w.Needs = splitList(needs)
	w.Since, w.Heartbeat = p.millis("since", since), p.millis("heartbeat", hb)
	return w, p, nil
}

// wait records (or refreshes) the caller's place in the queue inside
// Acquire's transaction and returns its row id.
func (s *Store) wait(ctx context.Context, tx *sql.Tx, req AcquireRequest) (int64, error) {
	c := req.Claim
	if req.Waiting != 0 {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE rffmpeg_queue SET heartbeat = ? WHERE id = ? AND process_id = ? AND owner = ?`),
			ms(c.Now), req.Waiting, c.PID, c.Owner)
		if err != nil {
			return 0, err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return req.Waiting, nil
		}
		// Cleared under us (rffmpeg clear): queue again, at the end.
	}
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO rffmpeg_queue (process_id, owner, cmd, class, needs, since, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		c.PID, c.Owner, c.Cmd, req.Class, strings.Join(req.Needs, ","), ms(c.Now), ms(c.Now)).Scan(&id)
	return id, err
}

func (s *Store) reapQueue(ctx context.Context, tx *sql.Tx, ids []int64) error {
	return s.deleteIDs(ctx, tx, "rffmpeg_queue", ids)
}

// LeaveQueue deletes a waiter's row (the call gave up or was stopped).
func (s *Store) LeaveQueue(ctx context.Context, id int64) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.reapQueue(ctx, tx, []int64{id}) }); err != nil {
		return fmt.Errorf("leave the queue: %w", err)
	}
	return nil
}

// ReapQueue deletes waiters known to be dead (a read-only store: nothing).
func (s *Store) ReapQueue(ctx context.Context, ids []int64) error {
	if len(ids) == 0 || s.opts.ReadOnly {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.reapQueue(ctx, tx, ids) }); err != nil {
		return fmt.Errorf("reap waiters: %w", err)
	}
	return nil
}
