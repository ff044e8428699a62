package state

import (
	"context"
	"database/sql"
	"fmt"
)

// Operations on one host row that a front end read earlier (the console),
// named by a HostKey. Unlike the ref-taking methods, the key is never
// resolved as a server name or hostname: if the row is gone, the answer is
// ErrNotFound ("host no longer exists"), so a stale row can never reach
// another host whose name happens to be the same digits.

// HostKey names one host row as it was read: its id and its server name.
// The id alone is not enough: SQLite gives the next host the id of the last
// row after that row is deleted, so a stale id can name a host added since;
// server names are unique, so the pair cannot.
type HostKey struct {
	ID         int64
	Servername string
}

// Key is the host's HostKey.
func (h Host) Key() HostKey { return HostKey{ID: h.ID, Servername: h.Servername} }

func errHostGone() error { return kindErr(ErrNotFound, "host no longer exists") }

// byKey finds host k as it was read, or fails with "host no longer exists".
func (s *Store) byKey(k HostKey) finder {
	return func(ctx context.Context, q querier) ([]Host, error) {
		hosts, err := s.hostsWhere(ctx, q, `h.id = ? AND h.servername = ?`, k.ID, k.Servername)
		if err != nil {
			return nil, err
		}
		if len(hosts) == 0 {
			return nil, errHostGone()
		}
		return hosts[:1], nil
	}
}

// updateByKey applies set to host k and returns the row as written.
func (s *Store) updateByKey(ctx context.Context, op string, k HostKey, set func(*sql.Tx, int64) error) (Host, error) {
	hosts, err := s.update(ctx, s.byKey(k), set)
	if err != nil {
		return Host{}, fmt.Errorf("%s host %d: %w", op, k.ID, err)
	}
	return hosts[0], nil
}

// SetWeightByKey sets host k's weight (at least 1).
func (s *Store) SetWeightByKey(ctx context.Context, k HostKey, weight int) (Host, error) {
	if err := validWeight(weight); err != nil {
		return Host{}, fmt.Errorf("set weight of host %d: %w", k.ID, err)
	}
	return s.updateByKey(ctx, "set weight of", k, s.setWeight(ctx, weight))
}

// AddWeightByKey changes host k's weight by delta in one statement, never
// below 1: two quick presses of a key add two, whatever the caller last read,
// and lowering a weight of 1 leaves it at 1.
func (s *Store) AddWeightByKey(ctx context.Context, k HostKey, delta int) (Host, error) {
	// A weight stored below 1 or NULL counts as 1, as the snapshot reads it.
	const cur = `(CASE WHEN weight >= 1 THEN weight ELSE 1 END)`
	return s.updateByKey(ctx, "change weight of", k, func(tx *sql.Tx, id int64) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET weight = CASE WHEN `+cur+` + ? < 1 THEN 1 ELSE `+cur+` + ? END WHERE id = ?`), delta, delta, id)
		return err
	})
}

// SetDrainByKey stops (or resumes) sending new jobs to host k.
func (s *Store) SetDrainByKey(ctx context.Context, k HostKey, drain bool) (Host, error) {
	return s.updateByKey(ctx, "drain", k, s.setDrain(ctx, drain))
}

// RemoveHostByKey deletes host k with its process and state rows, and
// returns the host as it was.
func (s *Store) RemoveHostByKey(ctx context.Context, k HostKey) (Host, error) {
	hosts, err := s.removeHosts(ctx, s.byKey(k))
	if err != nil {
		return Host{}, fmt.Errorf("remove host %d: %w", k.ID, err)
	}
	return hosts[0], nil
}

// ClearByKey deletes host k's process and state rows (only its bad marks
// with onlyBad); a key with ID LocalHostID is the local fallback, which has
// no host row.
func (s *Store) ClearByKey(ctx context.Context, k HostKey, onlyBad bool) (Cleared, error) {
	find := s.byKey(k)
	if k.ID == LocalHostID {
		find = fallback
	}
	c, err := s.clear(ctx, find, onlyBad)
	if err != nil {
		return Cleared{}, fmt.Errorf("clear host %d: %w", k.ID, err)
	}
	return c, nil
}

// ClearAll deletes every process and state row (only bad marks with
// onlyBad).
func (s *Store) ClearAll(ctx context.Context, onlyBad bool) (Cleared, error) {
	return s.Clear(ctx, "", onlyBad)
}
