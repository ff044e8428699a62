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

func (s *Store) hostByKey(ctx context.Context, q querier, k HostKey) (Host, error) {
	hosts, err := s.hostsWhere(ctx, q, `id = ? AND servername = ?`, k.ID, k.Servername)
	if err != nil {
		return Host{}, err
	}
	if len(hosts) == 0 {
		return Host{}, errHostGone()
	}
	return hosts[0], nil
}

// updateHostByKey applies set (with its arguments) to host k and returns the
// row as written.
func (s *Store) updateHostByKey(ctx context.Context, op string, k HostKey, set string, args ...any) (Host, error) {
	var h Host
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET `+set+` WHERE id = ? AND servername = ?`), append(args, k.ID, k.Servername)...)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err == nil && n == 0 {
			return errHostGone()
		}
		h, err = s.hostByKey(ctx, tx, k)
		return err
	})
	if err != nil {
		return Host{}, fmt.Errorf("%s host %d: %w", op, k.ID, err)
	}
	return h, nil
}

// SetWeightByKey sets host k's weight (at least 1).
func (s *Store) SetWeightByKey(ctx context.Context, k HostKey, weight int) (Host, error) {
	if err := validWeight(weight); err != nil {
		return Host{}, fmt.Errorf("set weight of host %d: %w", k.ID, err)
	}
	return s.updateHostByKey(ctx, "set weight of", k, `weight = ?`, weight)
}

// AddWeightByKey changes host k's weight by delta in one statement, never
// below 1: two quick presses of a key add two, whatever the caller last read,
// and lowering a weight of 1 leaves it at 1.
func (s *Store) AddWeightByKey(ctx context.Context, k HostKey, delta int) (Host, error) {
	// A weight stored below 1 or NULL counts as 1, as scanHosts reads it.
	const cur = `(CASE WHEN weight >= 1 THEN weight ELSE 1 END)`
	return s.updateHostByKey(ctx, "change weight of", k,
		`weight = CASE WHEN `+cur+` + ? < 1 THEN 1 ELSE `+cur+` + ? END`, delta, delta)
}

// SetDrainByKey stops (or resumes) sending new jobs to host k.
func (s *Store) SetDrainByKey(ctx context.Context, k HostKey, drain bool) (Host, error) {
	v := 0
	if drain {
		v = 1
	}
	return s.updateHostByKey(ctx, "drain", k, `drain = ?`, v)
}

// RemoveHostByKey deletes host k with its process and state rows, and
// returns the host as it was.
func (s *Store) RemoveHostByKey(ctx context.Context, k HostKey) (Host, error) {
	var h Host
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if h, err = s.hostByKey(ctx, tx, k); err != nil {
			return err
		}
		for _, stmt := range []string{`DELETE FROM processes WHERE host_id = ?`, `DELETE FROM states WHERE host_id = ?`, `DELETE FROM hosts WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(stmt), k.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Host{}, fmt.Errorf("remove host %d: %w", k.ID, err)
	}
	return h, nil
}

// ClearByKey deletes host k's process and state rows (only its bad marks
// with onlyBad); a key with ID LocalHostID is the local fallback, which has
// no host row.
func (s *Store) ClearByKey(ctx context.Context, k HostKey, onlyBad bool) (Cleared, error) {
	var c Cleared
	id := k.ID
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if id != LocalHostID {
			if _, err := s.hostByKey(ctx, tx, k); err != nil {
				return err
			}
		}
		states := `DELETE FROM states WHERE host_id = ?`
		if onlyBad {
			states += ` AND state = 'bad'`
		} else {
			r, err := tx.ExecContext(ctx, s.q(`DELETE FROM processes WHERE host_id = ?`), id)
			if err != nil {
				return err
			}
			c.Processes, _ = r.RowsAffected()
		}
		r, err := tx.ExecContext(ctx, s.q(states), id)
		if err != nil {
			return err
		}
		c.States, _ = r.RowsAffected()
		return nil
	})
	if err != nil {
		return Cleared{}, fmt.Errorf("clear host %d: %w", id, err)
	}
	return c, nil
}

// ClearAll deletes every process and state row (only bad marks with
// onlyBad).
func (s *Store) ClearAll(ctx context.Context, onlyBad bool) (Cleared, error) {
	return s.Clear(ctx, "", onlyBad)
}
