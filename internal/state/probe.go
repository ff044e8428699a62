package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Reads and writes of the capability probe beyond SetCapabilities and
// SetMachineCapabilities (hostprops.go), and per-host path prefix maps.

// MachineCapabilities reads what the last probe of a machine found; ok
// false when it was never probed.
func (s *Store) MachineCapabilities(ctx context.Context, machine string) (m Machine, ok bool, err error) {
	var caps, at any
	err = s.db.QueryRowContext(ctx, s.q(`SELECT capabilities, probed_at FROM rffmpeg_machines WHERE machine = ?`), machine).Scan(&caps, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Machine{Machine: machine}, false, nil
	case err != nil:
		return Machine{Machine: machine}, false, fmt.Errorf("read capabilities of %q: %w", machine, err)
	}
	var p problems
	m = Machine{Machine: machine, Capabilities: splitList(caps), ProbedAt: p.millis("probed_at", at)}
	return m, !m.ProbedAt.IsZero(), nil
}

// ClaimProbe marks host id's capabilities as being refreshed at now (they
// stay as they are until the probe's answer replaces them), unless another
// caller claimed or probed it since before: ok reports whether this caller
// won. Every frontend sees the claim, so a stale host is probed once, not
// by every call that finds it stale.
func (s *Store) ClaimProbe(ctx context.Context, id int64, before, now time.Time) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		hosts, err := s.hostsWhere(ctx, tx, `h.id = ?`, id)
		if err != nil || len(hosts) == 0 {
			return err
		}
		if hosts[0].ProbedAt.After(before) {
			return nil
		}
		ok = true
		return s.setHostExtra(ctx, tx, id, `probed_at = ?`, ms(now))
	})
	if err != nil {
		return false, fmt.Errorf("claim the probe of host %d: %w", id, err)
	}
	return ok, nil
}

// ClaimMachineProbe is ClaimProbe for a machine's own capabilities.
func (s *Store) ClaimMachineProbe(ctx context.Context, machine string, before, now time.Time) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE rffmpeg_machines SET probed_at = ? WHERE machine = ? AND (probed_at IS NULL OR probed_at <= ?)`),
			ms(now), machine, ms(before))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim the probe of %q: %w", machine, err)
	}
	return ok, nil
}

// ForgetCapabilities marks host id as never probed (its ffmpeg changed):
// routing assumes it can do anything until the next probe says what.
func (s *Store) ForgetCapabilities(ctx context.Context, id int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.setHostExtra(ctx, tx, id, `capabilities = NULL, probed_at = NULL`)
	})
	if err != nil {
		return fmt.Errorf("forget capabilities of host %d: %w", id, err)
	}
	return nil
}

// PathMap is one rewrite of a host's path map: an argument that starts
// with From (or file:From) is given To instead of From.
type PathMap struct{ From, To string }

// ParsePathMaps reads FROM:TO[,FROM:TO…] ("" is no map). Both sides are
// absolute paths; a longer FROM is tried first, so /srv/media/tv can be
// mapped apart from /srv/media.
func ParsePathMaps(v string) ([]PathMap, error) {
	var out []PathMap
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		from, to, ok := strings.Cut(item, ":")
		switch {
		case !ok || !strings.HasPrefix(from, "/") || !strings.HasPrefix(to, "/"):
			return nil, kindErr(ErrInvalid, "path_map %q: want /FROM:/TO (absolute paths), several separated by commas", item)
		case strings.ContainsAny(item, "\x00\n\r"):
			return nil, kindErr(ErrInvalid, "path_map %q: no control characters", item)
		}
		out = append(out, PathMap{From: strings.TrimRight(from, "/"), To: strings.TrimRight(to, "/")})
	}
	// Longest prefix first.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j].From) > len(out[j-1].From); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// FormatPathMaps is ParsePathMaps' inverse.
func FormatPathMaps(m []PathMap) string {
	var parts []string
	for _, p := range m {
		parts = append(parts, orRoot(p.From)+":"+orRoot(p.To))
	}
	return strings.Join(parts, ",")
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// createPathMaps is the migration adding rffmpeg_path_maps: per-host path
// prefix maps, in a table of ours keyed like rffmpeg_access (a row left
// behind for a removed host does not match a new one with the same id).
func createPathMaps(ctx context.Context, tx *sql.Tx, d dialect) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rffmpeg_path_maps (host_id INTEGER PRIMARY KEY, servername TEXT, map TEXT NOT NULL)`)
	return err
}

// SetPathMaps sets (m empty: removes) the path maps of the hosts ref
// names (see Resolve).
func (s *Store) SetPathMaps(ctx context.Context, ref string, m []PathMap) ([]Host, error) {
	v := FormatPathMaps(m)
	return s.updateHosts(ctx, "set path_map of", ref, func(tx *sql.Tx, id int64) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM rffmpeg_path_maps WHERE host_id = ?`), id); err != nil || v == "" {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_path_maps (host_id, servername, map) SELECT id, servername, ? FROM hosts WHERE id = ?`), v, id)
		return err
	})
}

// PathMaps reads host id's path maps (none: nil).
func (s *Store) PathMaps(ctx context.Context, id int64) ([]PathMap, error) {
	h, err := s.Host(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read path maps of host %d: %w", id, err)
	}
	return h.PathMaps()
}
