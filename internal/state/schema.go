package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between SQLite and PostgreSQL.
type dialect interface {
	name() string
	rebind(string) string
	lock(context.Context, *sql.Tx) error
	originalSchema() []string
	tables(context.Context, *sql.Tx) (map[string]bool, error)
	columns(context.Context, *sql.Tx, string) (map[string]bool, error)
	created(time.Time) any // a value for hosts.created
}

type sqliteDialect struct{}

func (sqliteDialect) name() string                        { return "sqlite" }
func (sqliteDialect) rebind(q string) string              { return q }
func (sqliteDialect) lock(context.Context, *sql.Tx) error { return nil } // BEGIN IMMEDIATE already holds it

// originalSchema is the original rffmpeg's schema, column for column.
func (sqliteDialect) originalSchema() []string {
	return []string{
		`CREATE TABLE hosts (id INTEGER PRIMARY KEY, servername TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL, weight INTEGER DEFAULT 1, created DATETIME NOT NULL)`,
		`CREATE TABLE processes (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, cmd TEXT)`,
		`CREATE TABLE states (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, state TEXT)`,
	}
}

func (sqliteDialect) tables(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
}

func (sqliteDialect) columns(ctx context.Context, tx *sql.Tx, table string) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT name FROM pragma_table_info(?)`, table)
}

// created formats like Python's str(datetime), which the original stored.
func (sqliteDialect) created(t time.Time) any { return t.Format("2006-01-02 15:04:05.000000") }

type postgresDialect struct{}

func (postgresDialect) name() string { return "postgresql" }

func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// advisoryKey is the PostgreSQL advisory lock that serializes rffmpeg writers
// across every frontend sharing the database ("rffm").
const advisoryKey = 0x7266666d

func (postgresDialect) lock(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKey)
	return err
}

func (postgresDialect) originalSchema() []string {
	return []string{
		`CREATE TABLE hosts (id SERIAL PRIMARY KEY, servername TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL, weight INTEGER DEFAULT 1, created TIMESTAMP NOT NULL)`,
		`CREATE TABLE processes (id SERIAL PRIMARY KEY, host_id INTEGER, process_id INTEGER, cmd TEXT)`,
		`CREATE TABLE states (id SERIAL PRIMARY KEY, host_id INTEGER, process_id INTEGER, state TEXT)`,
	}
}

func (postgresDialect) tables(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
}

func (postgresDialect) columns(ctx context.Context, tx *sql.Tx, table string) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
}

func (postgresDialect) created(t time.Time) any { return t }

func stringSet(ctx context.Context, tx *sql.Tx, q string, args ...any) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		set[s] = true
	}
	return set, rows.Err()
}

// migration moves the schema one version forward. Our additions are new
// nullable or defaulted columns and new tables only, so the original
// rffmpeg's statements keep working on a migrated database (a downgrade
// still reads and writes the hosts).
type migration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx, d dialect) error
}

var migrations = []migration{
	{"servername column (added by the original in 2022)", func(ctx context.Context, tx *sql.Tx, d dialect) error {
		cols, err := d.columns(ctx, tx, "hosts")
		if err != nil || cols["servername"] {
			return err
		}
		// The original's own upgrade: add the column and fill it with the hostname.
		if _, err := tx.ExecContext(ctx, `ALTER TABLE hosts ADD COLUMN servername TEXT`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE hosts SET servername = hostname`)
		return err
	}},
	{"rffmpeg-go bookkeeping columns", func(ctx context.Context, tx *sql.Tx, d dialect) error {
		adds := []struct{ table, col, def string }{
			{"hosts", "drain", "INTEGER NOT NULL DEFAULT 0"},
			{"hosts", "checked_at", "BIGINT"},
			{"hosts", "last_error", "TEXT"},
			{"hosts", "last_error_at", "BIGINT"},
			{"processes", "started", "BIGINT"},
			{"processes", "owner", "TEXT"},
			{"processes", "heartbeat", "BIGINT"},
			{"states", "created", "BIGINT"},
			{"states", "reason", "TEXT"},
			{"states", "owner", "TEXT"},
		}
		for _, a := range adds {
			cols, err := d.columns(ctx, tx, a.table)
			if err != nil {
				return err
			}
			if cols[a.col] {
				continue
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, a.table, a.col, a.def)); err != nil {
				return err
			}
		}
		for _, idx := range []string{
			`CREATE INDEX IF NOT EXISTS processes_host ON processes (host_id)`,
			`CREATE INDEX IF NOT EXISTS states_host ON states (host_id)`,
		} {
			if _, err := tx.ExecContext(ctx, idx); err != nil {
				return err
			}
		}
		return nil
	}},
}

// SchemaVersion is the version a fully migrated database has.
var SchemaVersion = len(migrations)

// create drops and recreates the original's tables (the original's init).
func (s *Store) create(ctx context.Context) error {
	if err := s.ensureWAL(ctx); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"hosts", "processes", "states", "rffmpeg_schema"} {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
				return fmt.Errorf("drop %s: %w", t, err)
			}
		}
		for _, stmt := range s.d.originalSchema() {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create tables: %w", err)
			}
		}
		return nil
	})
}

// version reads the schema version; ok is false when the table is missing.
func (s *Store) version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, bool) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT version FROM rffmpeg_schema`).Scan(&v); err != nil {
		return 0, false
	}
	return v, true
}

// migrate checks that this is an rffmpeg database and brings it to
// SchemaVersion. The common case (already current) is one read.
func (s *Store) migrate(ctx context.Context) error {
	if v, ok := s.version(ctx, s.db); ok && v == SchemaVersion {
		return nil
	}
	if err := s.ensureWAL(ctx); err != nil {
		return err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		tables, err := s.d.tables(ctx, tx)
		if err != nil {
			return err
		}
		if !tables["hosts"] {
			if len(tables) == 0 {
				return kindErr(ErrNotInitialized, "%s has no tables; create them with 'sudo rffmpeg init'", s.opts.Describe())
			}
			return kindErr(ErrNotRffmpeg, "%s is not an rffmpeg database (it has no hosts table)", s.opts.Describe())
		}
		cols, err := s.d.columns(ctx, tx, "hosts")
		if err != nil {
			return err
		}
		if !cols["hostname"] || !cols["id"] {
			return kindErr(ErrNotRffmpeg, "%s is not an rffmpeg database (its hosts table has no hostname column)", s.opts.Describe())
		}
		for _, stmt := range s.d.originalSchema()[1:] {
			table := strings.Fields(stmt)[2]
			if !tables[table] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
		}
		if !tables["rffmpeg_schema"] {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE rffmpeg_schema (version INTEGER NOT NULL)`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO rffmpeg_schema (version) VALUES (0)`); err != nil {
				return err
			}
		}
		v, _ := s.version(ctx, tx)
		if v > SchemaVersion {
			return fmt.Errorf("%s has schema version %d, newer than this rffmpeg knows (%d): upgrade rffmpeg", s.opts.Describe(), v, SchemaVersion)
		}
		for i := v; i < SchemaVersion; i++ {
			if err := migrations[i].up(ctx, tx, s.d); err != nil {
				return fmt.Errorf("migration %d (%s): %w", i+1, migrations[i].name, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE rffmpeg_schema SET version = `+strconv.Itoa(SchemaVersion))
		return err
	})
	if err != nil && s.opts.Backend == "sqlite" && !errors.Is(err, ErrNotInitialized) && !errors.Is(err, ErrNotRffmpeg) {
		return s.wrapOpenErr(err)
	}
	return err
}
