package state

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// Shared health checks. A check's result is already shared through the
// database (MarkChecked, MarkBad); what frontends on different machines
// cannot share is the per-machine check lock, so two of them would check
// the same stale host at once, each paying a handshake (a connect timeout
// for a dead host). A claim row in rffmpeg_checks, with an expiry so that a
// claimant that died holds nothing for long, says "being checked": others
// wait for it to go and then read the result it recorded.

// createChecks is the migration adding rffmpeg_checks; CREATE TABLE IF
// NOT EXISTS, so it may sit at any position when migrations are merged.
func createChecks(ctx context.Context, tx *sql.Tx, d dialect) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rffmpeg_checks (host_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, until BIGINT NOT NULL)`)
	return err
}

// ClaimCheck claims the check of a host for by (a process identity, see
// package owner) until now+hold, in one statement: it succeeds when nobody
// holds the claim, when the holder's expired, or when by holds it already.
func (s *Store) ClaimCheck(ctx context.Context, hostID int64, by string, now time.Time, hold time.Duration) (bool, error) {
	if err := s.readOnlyErr(); err != nil {
		return false, fmt.Errorf("claim the check of host %d: %w", hostID, err)
	}
	r, err := s.db.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_checks (host_id, owner, until) VALUES (?, ?, ?)`+
		` ON CONFLICT (host_id) DO UPDATE SET owner = excluded.owner, until = excluded.until`+
		` WHERE rffmpeg_checks.until < ? OR rffmpeg_checks.owner = excluded.owner`),
		hostID, by, now.Add(hold).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("claim the check of host %d: %w", hostID, err)
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

// EndCheck gives up by's claim on a host's check.
func (s *Store) EndCheck(ctx context.Context, hostID int64, by string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM rffmpeg_checks WHERE host_id = ? AND owner = ?`), hostID, by); err != nil {
		return fmt.Errorf("end the check of host %d: %w", hostID, err)
	}
	return nil
}

// LockCheck waits, at most wait, until by holds the claim on a host's
// check (see ClaimCheck), and returns the function that gives it up. The
// claim expires after hold even if by dies. Past wait, or when the
// database fails, it returns without the claim: the caller checks anyway,
// which costs a handshake, never correctness. A caller that waited must
// read the host again: the check it waited for recorded its result.
func (s *Store) LockCheck(ctx context.Context, hostID int64, by string, hold, wait time.Duration) func() {
	if s.opts.ReadOnly {
		return func() {}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		got, err := s.ClaimCheck(wctx, hostID, by, time.Now(), hold)
		if err != nil {
			return func() {}
		}
		if got {
			return func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				s.EndCheck(ctx, hostID, by)
			}
		}
		// Another frontend checks it: a check is a handshake, tens of
		// milliseconds to a connect timeout.
		if !sleep(wctx, 20*time.Millisecond+rand.N(20*time.Millisecond)) {
			return func() {}
		}
	}
}
