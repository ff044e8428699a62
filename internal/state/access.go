package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// How rffmpeg reaches a transcode host, found by its check (see the shim):
// a host whose SSH key is forced to run `rffmpeg agent` refuses the plain
// wrapper script, and one hardened the way the original rffmpeg documents
// (a forced-command wrapper that accepts only an allowlisted ffmpeg or
// ffprobe path as the first word) refuses it too.
const (
	AccessWrapper = "wrapper" // the wrapper script (the default; no row)
	AccessAgent   = "agent"   // requests to `rffmpeg agent`
	AccessPlain   = "plain"   // the original's plain command line
)

// The access mode lives in a table of its own (the original's tables stay
// exactly the original's), keyed by the host's id with a copy of its server
// name: a row left behind by the original's remove, whose id SQLite reused,
// does not match the new host and is ignored.
func (sqliteDialect) accessSchema() string {
	return `CREATE TABLE IF NOT EXISTS rffmpeg_access (host_id INTEGER PRIMARY KEY, servername TEXT, mode TEXT NOT NULL, updated INTEGER)`
}

func (postgresDialect) accessSchema() string {
	return `CREATE TABLE IF NOT EXISTS rffmpeg_access (host_id INTEGER PRIMARY KEY, servername TEXT, mode TEXT NOT NULL, updated BIGINT)`
}

// createAccessTable is the migration adding rffmpeg_access.
func createAccessTable(ctx context.Context, tx *sql.Tx, d dialect) error {
	var stmt string
	switch d.(type) {
	case sqliteDialect:
		stmt = sqliteDialect{}.accessSchema()
	case postgresDialect:
		stmt = postgresDialect{}.accessSchema()
	default:
		return fmt.Errorf("no access table for %s", d.name())
	}
	_, err := tx.ExecContext(ctx, stmt)
	return err
}

// HostAccess is how the host with this id is reached: AccessWrapper unless
// a check recorded another mode for it.
func (s *Store) HostAccess(ctx context.Context, hostID int64) (string, error) {
	var mode string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT a.mode FROM rffmpeg_access a JOIN hosts h ON h.id = a.host_id AND h.servername = a.servername WHERE a.host_id = ?`), hostID).Scan(&mode)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return AccessWrapper, nil
	case err != nil:
		return AccessWrapper, fmt.Errorf("read access mode of host %d: %w", hostID, err)
	}
	return accessMode(mode), nil
}

// accessMode is a stored mode as used: another tool's value, or none,
// is the default.
func accessMode(mode string) string {
	if mode != AccessAgent && mode != AccessPlain {
		return AccessWrapper
	}
	return mode
}

// SetHostAccess records how the host with this id is reached.
func (s *Store) SetHostAccess(ctx context.Context, hostID int64, mode string) error {
	if mode != AccessWrapper && mode != AccessAgent && mode != AccessPlain {
		return fmt.Errorf("unknown access mode %q", mode)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_access (host_id, servername, mode, updated) SELECT id, servername, ?, ? FROM hosts WHERE id = ?
			ON CONFLICT (host_id) DO UPDATE SET servername = excluded.servername, mode = excluded.mode, updated = excluded.updated`),
			mode, ms(time.Now()), hostID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record access mode of host %d: %w", hostID, err)
	}
	return nil
}
