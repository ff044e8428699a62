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
	name() Backend
	rebind(string) string
	lock(context.Context, *sql.Tx) error
	originalSchema() []string
	tables(context.Context, querier) (map[string]bool, error)
	columns(context.Context, querier, string) (map[string]bool, error)
	created(time.Time) any // a value for hosts.created
	ourSchema() []string
	dropColumns(ctx context.Context, tx *sql.Tx, table string, cols []string) error
}

type sqliteDialect struct{}

func (sqliteDialect) name() Backend                       { return SQLite }
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

func (sqliteDialect) tables(ctx context.Context, tx querier) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
}

func (sqliteDialect) columns(ctx context.Context, tx querier, table string) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT name FROM pragma_table_info(?)`, table)
}

// created formats like Python's str(datetime), which the original stored.
func (sqliteDialect) created(t time.Time) any { return t.Format("2006-01-02 15:04:05.000000") }

type postgresDialect struct{}

func (postgresDialect) name() Backend { return PostgreSQL }

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

// lock takes the write lock and, in the same round trip, queues the
// notification live views wait for (see Watch): delivered only if this
// transaction commits.
func (postgresDialect) lock(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1), pg_notify('`+notifyChannel+`', '')`, advisoryKey)
	return err
}

func (postgresDialect) originalSchema() []string {
	return []string{
		`CREATE TABLE hosts (id SERIAL PRIMARY KEY, servername TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL, weight INTEGER DEFAULT 1, created TIMESTAMP NOT NULL)`,
		`CREATE TABLE processes (id SERIAL PRIMARY KEY, host_id INTEGER, process_id INTEGER, cmd TEXT)`,
		`CREATE TABLE states (id SERIAL PRIMARY KEY, host_id INTEGER, process_id INTEGER, state TEXT)`,
	}
}

func (postgresDialect) tables(ctx context.Context, tx querier) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
}

func (postgresDialect) columns(ctx context.Context, tx querier, table string) (map[string]bool, error) {
	return stringSet(ctx, tx, `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
}

func (postgresDialect) created(t time.Time) any { return t }

func stringSet(ctx context.Context, tx querier, q string, args ...any) (map[string]bool, error) {
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

// Our own tables. The original rffmpeg reads its three tables with
// SELECT * and unpacks exactly its own columns, so they stay exactly as it
// defines them and everything we add lives here, one row per base row,
// keyed by the base row's id. Each row also copies what identifies its base
// row (a host's server name and creation time; a process's or state's host
// and PID): SQLite reuses the highest id after a delete, so after the
// original deletes one of our rows (its clear, remove or init) a new row
// may get the same id, and a copy that does not match makes the extras
// ignored (and reaped) instead of attached to a stranger.
func (sqliteDialect) ourSchema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS rffmpeg_hosts (host_id INTEGER PRIMARY KEY, servername TEXT, created, drain INTEGER NOT NULL DEFAULT 0, checked_at INTEGER, last_error TEXT, last_error_at INTEGER)`,
		`CREATE TABLE IF NOT EXISTS rffmpeg_processes (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, started INTEGER, owner TEXT, heartbeat INTEGER)`,
		`CREATE TABLE IF NOT EXISTS rffmpeg_states (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, created INTEGER, reason TEXT, owner TEXT)`,
	}
}

func (postgresDialect) ourSchema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS rffmpeg_hosts (host_id INTEGER PRIMARY KEY, servername TEXT, created TIMESTAMP, drain INTEGER NOT NULL DEFAULT 0, checked_at BIGINT, last_error TEXT, last_error_at BIGINT)`,
		`CREATE TABLE IF NOT EXISTS rffmpeg_processes (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, started BIGINT, owner TEXT, heartbeat BIGINT)`,
		`CREATE TABLE IF NOT EXISTS rffmpeg_states (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER, created BIGINT, reason TEXT, owner TEXT)`,
	}
}

// ourTables are the tables rffmpeg-go adds, dropped by init with the original's.
var ourTables = []string{"rffmpeg_hosts", "rffmpeg_processes", "rffmpeg_states", "rffmpeg_schema", "rffmpeg_jobs", "rffmpeg_access", "rffmpeg_queue", "rffmpeg_machines", "rffmpeg_problems", "rffmpeg_checks", "rffmpeg_path_maps", "rffmpeg_progress", "rffmpeg_health"}

// movedColumns are the columns an earlier rffmpeg-go added to the original's
// tables (schema version 2), with the table that holds them now and the
// key column there.
var movedColumns = []struct {
	base, ours, key string
	copied          []string // identity copies (see ourSchema)
	cols            []string
}{
	{"hosts", "rffmpeg_hosts", "host_id", []string{"servername", "created"}, []string{"drain", "checked_at", "last_error", "last_error_at"}},
	{"processes", "rffmpeg_processes", "id", []string{"host_id", "process_id"}, []string{"started", "owner", "heartbeat"}},
	{"states", "rffmpeg_states", "id", []string{"host_id", "process_id"}, []string{"created", "reason", "owner"}},
}

// migration moves the schema one version forward.
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
	// Version 2 added our columns to the original's tables, which broke the
	// original's SELECT * (a downgrade, or a mixed fleet on one PostgreSQL).
	// Version 3 moves them out; a database that never had them skips 2.
	{"rffmpeg-go bookkeeping columns (superseded by 3)", func(context.Context, *sql.Tx, dialect) error { return nil }},
	{"rffmpeg-go bookkeeping in tables of its own", moveToOurTables},
	// Job history (history.go): creates only what is missing, so it may
	// sit at any position when migrations are merged.
	{"rffmpeg-go job history (rffmpeg_jobs)", createHistory},
	// How each host is reached (access.go); CREATE TABLE IF NOT EXISTS, so
	// it too may sit at any position.
	{"how each host is reached (rffmpeg_access)", createAccessTable},
	// Version 6 (hostprops.go): per-host properties, the wait queue, each
	// machine's capabilities. Like the history's, it creates only what is
	// missing, so it may sit at any position when migrations are merged.
	{"host properties, job queue and machine capabilities", addHostProps},
	// Version 7 (problems.go): what calls worked around, for status.
	{"problems calls worked around (rffmpeg_problems)", createProblems},
	// Version 8: per-host ssh port and user, new in hostPropColumns;
	// addHostProps adds only the columns a database lacks.
	{"per-host ssh port and user (rffmpeg_hosts)", addHostProps},
	// Version 9 (checks.go): claims on health checks shared by frontends.
	{"shared health-check claims (rffmpeg_checks)", createChecks},
	// Version 10 (probe.go): per-host path prefix maps. CREATE TABLE IF NOT
	// EXISTS, so it may sit at any position when migrations are merged.
	{"per-host path prefix maps (rffmpeg_path_maps)", createPathMaps},
	// Version 11 (progress.go): running jobs' progress and kill requests;
	// CREATE TABLE IF NOT EXISTS, so it may sit at any position.
	{"running jobs' progress and kill requests (rffmpeg_progress)", createProgress},
	// Version 12 (health.go): each host's checks and bad marks over time;
	// CREATE ... IF NOT EXISTS, so it may sit at any position.
	{"hosts' checks and bad marks over time (rffmpeg_health)", createHealth},
}

// SchemaVersion is the version a fully migrated database has.
const SchemaVersion = 12

// moveToOurTables creates our tables, copies what version 2 kept in the
// original's tables into them and drops those columns, so the original's
// tables are exactly the original's again.
func moveToOurTables(ctx context.Context, tx *sql.Tx, d dialect) error {
	for _, stmt := range d.ourSchema() {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	for _, m := range movedColumns {
		cols, err := d.columns(ctx, tx, m.base)
		if err != nil {
			return err
		}
		var have []string
		for _, c := range m.cols {
			if cols[c] {
				have = append(have, c)
			}
		}
		if len(have) == 0 {
			continue
		}
		if err := copyColumns(ctx, tx, m.base, m.ours, m.key, m.copied, have); err != nil {
			return fmt.Errorf("copy %s columns: %w", m.base, err)
		}
		if err := d.dropColumns(ctx, tx, m.base, have); err != nil {
			return fmt.Errorf("drop %s columns: %w", m.base, err)
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
}

// copyColumns copies the rows of base that hold anything in cols (a
// version-2 row whose columns are all empty or default needs no row of ours).
func copyColumns(ctx context.Context, tx *sql.Tx, base, ours, key string, copied, cols []string) error {
	var nonEmpty []string
	sel := append([]string{"id"}, copied...)
	for _, c := range cols {
		if c == "drain" {
			// Only a real 1 drains; garbage another tool wrote does not.
			sel = append(sel, "CASE WHEN drain = 1 THEN 1 ELSE 0 END")
			nonEmpty = append(nonEmpty, "drain = 1")
			continue
		}
		sel = append(sel, c)
		nonEmpty = append(nonEmpty, c+" IS NOT NULL")
	}
	// A row of ours left by an earlier life of this database (the
	// original's init drops only its own tables) gives way.
	var set []string
	for _, c := range append(append([]string{}, copied...), cols...) {
		set = append(set, c+" = excluded."+c)
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s ON CONFLICT (%s) DO UPDATE SET %s`,
		ours, strings.Join(append(append([]string{key}, copied...), cols...), ", "),
		strings.Join(sel, ", "), base, strings.Join(nonEmpty, " OR "), key, strings.Join(set, ", "))
	_, err := tx.ExecContext(ctx, q)
	return err
}

// dropColumns (SQLite) uses ALTER TABLE ... DROP COLUMN (SQLite 3.35+); when
// the table's shape refuses it (an index or a view on a column), it rebuilds
// the table with the original's definition, in the same transaction.
func (sqliteDialect) dropColumns(ctx context.Context, tx *sql.Tx, table string, cols []string) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT rffmpeg_drop`); err != nil {
		return err
	}
	var err error
	for _, c := range cols {
		if _, err = tx.ExecContext(ctx, `ALTER TABLE `+table+` DROP COLUMN `+c); err != nil {
			break
		}
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `RELEASE rffmpeg_drop`)
		return err
	}
	if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO rffmpeg_drop`); rerr != nil {
		return fmt.Errorf("%v (and undoing it: %v)", err, rerr)
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE rffmpeg_drop`); rerr != nil {
		return rerr
	}
	return rebuildOriginal(ctx, tx, table)
}

// rebuildOriginal recreates an original table with its exact definition and
// its rows (the ids kept), dropping whatever else the old table carried.
func rebuildOriginal(ctx context.Context, tx *sql.Tx, table string) error {
	var ddl string
	for _, stmt := range (sqliteDialect{}).originalSchema() {
		if strings.Fields(stmt)[2] == table {
			ddl = stmt
		}
	}
	cols := map[string]string{"hosts": "id, servername, hostname, weight, created",
		"processes": "id, host_id, process_id, cmd", "states": "id, host_id, process_id, state"}[table]
	tmp := table + "_rffmpeg_rebuild"
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS ` + tmp,
		strings.Replace(ddl, "CREATE TABLE "+table+" ", "CREATE TABLE "+tmp+" ", 1),
		`INSERT INTO ` + tmp + ` (` + cols + `) SELECT ` + cols + ` FROM ` + table,
		`DROP TABLE ` + table,
		`ALTER TABLE ` + tmp + ` RENAME TO ` + table,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("rebuild %s: %w", table, err)
		}
	}
	return nil
}

func (postgresDialect) dropColumns(ctx context.Context, tx *sql.Tx, table string, cols []string) error {
	for _, c := range cols {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` DROP COLUMN `+c); err != nil {
			return err
		}
	}
	return nil
}

// create drops and recreates the original's tables (the original's init).
func (s *Store) create(ctx context.Context) error {
	if err := s.ensureWAL(ctx); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range append([]string{"hosts", "processes", "states"}, ourTables...) {
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
	// Look before touching: a foreign database is refused as it was found
	// (not switched to WAL, no files created beside it).
	if _, err := s.checkOurs(ctx, s.db); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return kindErr(ErrReadOnly, "%s needs an upgrade of its tables, which a read-only open cannot do: run any rffmpeg command once with write access", s.opts.Describe())
	}
	if err := s.ensureWAL(ctx); err != nil {
		return err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Again under the write lock: another process may have migrated
		// meanwhile.
		tables, err := s.d.tables(ctx, tx)
		if err != nil {
			return err
		}
		for _, stmt := range s.d.originalSchema()[1:] {
			table := strings.Fields(stmt)[2]
			if !tables[table] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rffmpeg_schema (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		v, ok := s.version(ctx, tx)
		if !ok {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rffmpeg_schema (version) VALUES (0)`); err != nil {
				return err
			}
		}
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
	if err != nil && s.opts.Backend == SQLite && !errors.Is(err, ErrNotInitialized) && !errors.Is(err, ErrNotRffmpeg) {
		return s.wrapOpenErr(err)
	}
	return err
}

// checkOurs reads, without writing, whether this is an rffmpeg database,
// and returns its tables.
func (s *Store) checkOurs(ctx context.Context, q querier) (map[string]bool, error) {
	tables, err := s.d.tables(ctx, q)
	if err != nil {
		if s.opts.Backend == SQLite {
			return nil, s.wrapOpenErr(err)
		}
		return nil, err
	}
	if !tables["hosts"] {
		if len(tables) == 0 {
			return nil, kindErr(ErrNotInitialized, "%s has no tables; create them with 'sudo rffmpeg init'", s.opts.Describe())
		}
		return nil, kindErr(ErrNotRffmpeg, "%s is not an rffmpeg database (it has no hosts table)", s.opts.Describe())
	}
	cols, err := s.d.columns(ctx, q, "hosts")
	if err != nil {
		return nil, err
	}
	if !cols["hostname"] || !cols["id"] {
		return nil, kindErr(ErrNotRffmpeg, "%s is not an rffmpeg database (its hosts table has no hostname column)", s.opts.Describe())
	}
	return tables, nil
}
