// Package state is rffmpeg's state store: the hosts, the running processes and
// the host states. The original rffmpeg's three tables stay exactly as it
// defines them (it reads them with SELECT * and unpacks its own columns), so
// an existing rffmpeg.db keeps working, a downgrade still works and an old
// and a new frontend can share one PostgreSQL; what we add lives in tables of
// our own (rffmpeg_hosts, rffmpeg_processes, rffmpeg_states), with forward
// migrations recorded in rffmpeg_schema. One implementation over
// database/sql serves SQLite (embedded, the default) and PostgreSQL (shared
// by several media-server frontends). No SQL lives outside this package.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// Errors callers tell apart. Store methods wrap them with the operation.
var (
	ErrNotFound       = errors.New("not found")
	ErrDuplicate      = errors.New("already exists")
	ErrInvalid        = errors.New("invalid")
	ErrNotInitialized = errors.New("database not initialized")
	ErrNotRffmpeg     = errors.New("not an rffmpeg database")
	ErrReadOnly       = errors.New("database is read-only")
)

// kindError is an error with a human message that still matches its
// sentinel with errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindErr(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Host states as written to the states table (the original's values) and the
// derived ones shown to users.
const (
	StateIdle     = "idle"
	StateActive   = "active"
	StateBad      = "bad"
	StateDraining = "draining"
)

// LocalHostID is the host_id of jobs run by the local fallback.
const LocalHostID = 0

// Host is a row of the hosts table.
type Host struct {
	ID         int64
	Servername string
	Hostname   string
	Weight     int
	Created    time.Time
	Drain      bool      // no new jobs are sent to it
	CheckedAt  time.Time // last successful health check; zero when never
	LastError  string    // why it last failed, kept after its bad mark expires
	LastErrAt  time.Time

	// Per-host properties (rffmpeg set; see HostProps).
	MaxJobs      int       // jobs at once; 0: no limit
	Priority     int       // tier: lower is tried first, a later tier only when the earlier ones are full
	Tags         []string  // set by hand: what a probe cannot see, or stands in for one
	Capabilities []string  // probed capability tokens (see package jobclass)
	ProbedAt     time.Time // when Capabilities were probed; zero: never (capabilities unknown)
	FFmpeg       string    // this host's ffmpeg; "": commands.ffmpeg
	FFprobe      string    // this host's ffprobe; "": commands.ffprobe
	WoLMAC       string    // Wake-on-LAN MAC address; "": none
	WoLAddr      string    // where the magic packet goes (host or host:port); "": the broadcast address
	SSHPort      int       // this host's ssh port; 0: remote.args or ssh's own default
	SSHUser      string    // this host's ssh user; "": remote.user
	Access       string    // how it is reached: AccessWrapper unless a check recorded another mode
	pathMaps     string    // rffmpeg set HOST path_map=…, as stored (see PathMaps)
}

// PathMaps are the host's path maps (none: nil), read with the host.
func (h Host) PathMaps() ([]PathMap, error) {
	if h.pathMaps == "" {
		return nil, nil
	}
	m, err := ParsePathMaps(h.pathMaps)
	if err != nil {
		return nil, fmt.Errorf("host %d: %w", h.ID, err)
	}
	return m, nil
}

// PathMapsText is the host's path maps as stored; SetPathMapsText sets
// them (a host read elsewhere and passed on, as the state helper does).
func (h Host) PathMapsText() string { return h.pathMaps }

// SetPathMapsText: see PathMapsText.
func (h *Host) SetPathMapsText(s string) { h.pathMaps = s }

// IsLocal reports whether the host runs jobs on this machine without SSH
// (the original's rule: hostname localhost or 127.0.0.1).
func (h Host) IsLocal() bool { return h.Hostname == "localhost" || h.Hostname == "127.0.0.1" }

// Process is a row of the processes table: one running ffmpeg/ffprobe.
type Process struct {
	ID        int64
	HostID    int64
	PID       int
	Cmd       string
	Started   time.Time // zero for rows written by the original rffmpeg
	Owner     string    // identity of the writing process (see package owner); "" for the original's rows
	Heartbeat time.Time
}

// Mark is a row of the states table.
type Mark struct {
	ID      int64
	HostID  int64
	PID     int
	State   string
	Created time.Time // zero for the original's rows
	Reason  string
	Owner   string
}

// Snapshot is everything selection and display need, read in one go.
type Snapshot struct {
	Hosts     []Host
	Processes []Process
	Marks     []Mark
	// Rows left out because their values are unusable (written by another
	// tool): the rest of the pool works without them; RemoveHosts and Clear
	// delete them.
	Malformed []Malformed
	// Calls waiting for a full pool (the wait policy), oldest first, and
	// the machines whose own capabilities were probed.
	Queue    []Waiter
	Machines []Machine
	// Counted is, per host id (LocalHostID: the fallback), the live jobs
	// the store counted rather than read (they are not in Processes), in
	// Acquire's snapshot on PostgreSQL only (see lean.go). Nil from
	// Snapshot.
	Counted map[int64]int
}

// Backend is a kind of database.
type Backend string

// The databases rffmpeg keeps its state in (the configuration's database.type).
const (
	SQLite     Backend = "sqlite"
	PostgreSQL Backend = "postgresql"
)

// Options say which database to open.
type Options struct {
	Backend Backend // SQLite when empty
	Path    string  // SQLite file
	// ReadOnly opens for reading only (status): nothing is migrated,
	// recorded or reaped. An SQLite file this account cannot write is
	// opened so by itself (see Store.Warnings).
	ReadOnly bool
	// Hot marks the shim's per-call connection: SQLite commits and closes
	// without syncing (see connectSQLite); others sync every commit.
	Hot bool
	// PostgreSQL connection. An empty value (a zero port) is left to
	// libpq's settings: PGHOST and the other variables, a service file
	// (PGSERVICE), ~/.pgpass; sslmode and certificates come from there too.
	Host, User, Password, Name string
	Port                       int
	// Lease is how long a job's rows count as alive without a heartbeat
	// on another frontend (database.lease); its jobs heartbeat at
	// owner.HeartbeatFor(Lease). Zero: owner.Lease.
	Lease time.Duration
	// History bounds the job history RecordJob keeps (history.go); the
	// zero value is DefaultRetention.
	History Retention
}

// Describe names the database for messages: the SQLite path or user@host:port/db.
func (o Options) Describe() string {
	if o.Backend == PostgreSQL {
		// Values left to libpq (PGHOST, a service file) show as "libpq".
		or := func(v string) string {
			if v == "" {
				return "(libpq)"
			}
			return v
		}
		return fmt.Sprintf("postgresql %s@%s:%s/%s", or(o.User), or(o.Host), or(portText(o.Port)), or(o.Name))
	}
	return "sqlite " + o.Path
}

// Store is an open state database.
type Store struct {
	db       *sql.DB
	d        dialect
	opts     Options
	lockOnce sync.Once
	lock     *os.File // SQLite: the writers' queue (see writeLock), opened on the first write
	// noLock: init of a new file, whose owner the caller changes after
	// (a lock file made now would keep the caller's).
	noLock bool
	// roReason says why an SQLite store opened itself read-only.
	roReason string
	mu       sync.Mutex
	// Problems that do not stop this caller but may stop others (a side
	// file the database's owner cannot write), or make it slower.
	warnings []string
	// PostgreSQL: the connection settings (Watch's LISTEN connection
	// uses them) and the statements sent so far (see Statements).
	pgConfig   *pgx.ConnConfig
	statements atomic.Int64
}

// Warnings says what is wrong beside the database without stopping this
// caller (a file its owner cannot use, the writer queue off). Say it loudly:
// it may stop the service account.
func (s *Store) Warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.warnings...)
}

func (s *Store) warn(w ...string) {
	s.mu.Lock()
	s.warnings = append(s.warnings, w...)
	s.mu.Unlock()
}

// ReadOnly reports whether the store only reads (Options.ReadOnly, or an
// SQLite file this account cannot write).
func (s *Store) ReadOnly() bool { return s.opts.ReadOnly }

// Options returns what the store was opened with.
func (s *Store) Options() Options { return s.opts }

// Close closes the database.
func (s *Store) Close() error {
	if s.lock != nil {
		s.lock.Close()
	}
	return s.db.Close()
}

// KeepOpen keeps the store's connections while idle: a resident process
// (the state helper) pays for connecting once.
func (s *Store) KeepOpen() {
	s.db.SetConnMaxIdleTime(0)
	s.db.SetMaxIdleConns(2)
}

// Open opens an initialized rffmpeg database and migrates it forward. A
// missing or foreign database is a clear error naming the fix.
func Open(ctx context.Context, o Options) (*Store, error) {
	s, err := connect(ctx, o, false)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect is Open without a statement: the first one connects (an SQLite
// connection costs about a millisecond: the library's set-up, the schema
// parsed, the WAL index rebuilt), and the schema is not checked. For a
// shim whose database work a state helper does (shim.Serve): that process,
// the same build, opened and migrated the database, and the shim needs a
// connection of its own only off the hot path (a bad mark, progress), if
// at all.
func Connect(ctx context.Context, o Options) (*Store, error) {
	if o.Backend == PostgreSQL {
		return openPostgres(o)
	}
	return connect(ctx, o, false)
}

// Init creates the database (and the SQLite file) with the original's tables,
// dropping existing ones, then migrates it to the current schema.
func Init(ctx context.Context, o Options) (*Store, error) {
	s, err := connect(ctx, o, true)
	if err != nil {
		return nil, err
	}
	if err := s.create(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func connect(ctx context.Context, o Options, create bool) (*Store, error) {
	switch o.Backend {
	case PostgreSQL:
		return connectPostgres(ctx, o)
	case SQLite, "":
		o.Backend = SQLite
		return connectSQLite(ctx, o, create)
	}
	return nil, fmt.Errorf("unknown database type %q", o.Backend)
}

func connectSQLite(ctx context.Context, o Options, create bool) (*Store, error) {
	fi, err := checkDBPath(o.Path, create)
	if err != nil {
		return nil, err
	}
	var warnings []string
	roReason := ""
	if fi != nil && !create && !o.ReadOnly && !writable(o.Path) {
		// A reader without write access (an admin in a read-only group):
		// status still works, it just records and reaps nothing.
		o.ReadOnly = true
		roReason = fmt.Sprintf("%s is not writable by this account", o.Path)
		warnings = append(warnings, roReason+": opened read-only (dead rows are not reaped)")
	}
	if fi != nil && isWAL(o.Path) {
		// Before SQLite opens them itself (see files.go). A database
		// not in WAL mode yet gets them when it is switched (ensureWAL).
		w, ro, err := sideFiles(o.Path, o.ReadOnly)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, w...)
		if ro != "" {
			o.ReadOnly, roReason = true, ro
			warnings = append(warnings, "opened read-only: "+ro)
		}
	}
	db, err := driver.Open(sqliteDSN(o, create), func(c *sqlite3.Conn) error { return setupConn(c, o.Hot) })
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", o.Path, err)
	}
	return &Store{db: db, d: sqliteDialect{}, opts: o, warnings: warnings, noLock: fi == nil, roReason: roReason}, nil
}

// checkDBPath checks the database path before SQLite opens it, with Lstat:
// the state directory belongs to the service account, which could point
// rffmpeg.db at any file root can write; SQLite would follow the link and
// `init` would hand the target to the service account. A nil FileInfo
// (and no error) means the file does not exist yet and create is set.
func checkDBPath(path string, create bool) (os.FileInfo, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return nil, fmt.Errorf("database %s is a symbolic link: refusing to follow it (point directories.state or database.path at the real file)", path)
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("database %s is a directory", path)
	case err == nil && !fi.Mode().IsRegular():
		return nil, fmt.Errorf("database %s is not a regular file", path)
	case errors.Is(err, os.ErrNotExist) && !create:
		return nil, kindErr(ErrNotInitialized, "database %s does not exist; create it with 'sudo rffmpeg init'", path)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("database %s: %w", path, err)
	case err != nil:
		return nil, nil
	}
	return fi, nil
}

// sqliteDSN is the driver's connection string for o.
func sqliteDSN(o Options, create bool) string {
	mode := "rw"
	switch {
	case create:
		mode = "rwc"
	case o.ReadOnly:
		mode = "ro"
	}
	// busy_timeout: a library scan runs hundreds of shims at once; they queue
	// for the write lock instead of failing with "database is locked".
	// _txlock=immediate: every transaction takes the write lock up front, so
	// selection and insertion are one atomic step and never deadlock on upgrade.
	q := url.Values{}
	q.Set("mode", mode)
	q.Set("_txlock", "immediate")
	if o.ReadOnly {
		registerReaderVFS()
		q.Set("vfs", readerVFSName)
	}
	// The timeout covers the pragmas the driver runs while connecting; the
	// backoff handler (lock.go) takes over once the connection is up.
	q.Add("_pragma", "busy_timeout(60000)")
	if o.Hot {
		q.Add("_pragma", "synchronous(normal)")
	} else {
		// Everything else (add, remove, drain, init, the console) syncs each
		// commit: a host written a moment before a power cut is kept even
		// when a shim's connection, not this one, closes the database last.
		q.Add("_pragma", "synchronous(full)")
	}
	// With the WAL file kept (below), empty it after each checkpoint.
	q.Add("_pragma", "journal_size_limit(0)")
	return (&url.URL{Scheme: "file", OmitHost: true, Path: o.Path}).String() + "?" + q.Encode()
}

// setupConn prepares each new connection; hot is a shim's.
func setupConn(c *sqlite3.Conn, hot bool) error {
	// Every ffmpeg call opens the database once. By default the last
	// connection to close deletes the -wal and -shm files and the next
	// call creates them again: most of an open's cost. Keep them. The
	// checkpoint on close stays, so rffmpeg.db alone is always current
	// (a copied or backed-up file loses nothing).
	if _, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL, true); err != nil {
		return err
	}
	if !hot {
		return c.BusyHandler(backoff)
	}
	// A shim's connection: no checkpoint on close (it fsyncs the WAL
	// and the database and truncates the WAL: 4 fdatasync per call,
	// 10-20 ms each under another process's disk load). Commits are
	// not synced either (synchronous=normal), so a call never waits
	// for the disk; a checkpoint every hotCheckpoint pages (a dozen
	// calls) bounds the WAL (hotWALHook). A power cut loses at most
	// the last calls' rows, which self-heal; WAL never corrupts the file.
	if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		return err
	}
	var inCheckpoint bool
	c.WALHook(hotWALHook(&inCheckpoint))
	return c.BusyHandler(func(ctx context.Context, count int) bool {
		// The checkpoint's truncation never waits for a reader.
		return !inCheckpoint && backoff(ctx, count)
	})
}

// hotCheckpoint is the WAL size, in pages, at which a shim's commit runs a
// checkpoint (SQLite's default is 1000: 4 MB to recover on a lone open).
const hotCheckpoint = 200

// hotWALHook replaces SQLite's auto-checkpoint on a shim's connection: at
// hotCheckpoint pages it checkpoints (syncing the WAL, then the database,
// as the auto-checkpoint does) and then empties the WAL, without waiting
// for anyone (*inCheckpoint turns the busy handler off meanwhile). Why
// empty it: how far a checkpoint got lives only in the -shm, which the
// next call opening the database alone rebuilds from the WAL; a WAL left
// full made that call recover every frame and copy them all to the
// database again, with its syncs (7 fdatasync per cycle instead of 4-5).
// An emptied WAL is safe: its frames are already in the synced database.
// When a reader or writer is busy the truncation is skipped (this time)
// and the copy is as far as the auto-checkpoint would have got.
func hotWALHook(inCheckpoint *bool) func(*sqlite3.Conn, string, int) error {
	return func(c *sqlite3.Conn, schema string, pages int) error {
		if pages >= hotCheckpoint {
			*inCheckpoint = true
			c.WALCheckpoint(schema, sqlite3.CHECKPOINT_TRUNCATE)
			*inCheckpoint = false
		}
		return nil // the commit succeeded: a checkpoint error must not fail it
	}
}

// ensureWAL switches an SQLite database to WAL, which lets readers (status,
// the console) run beside writers and makes a write cheap. It is a property
// of the file, so it is set by init and by the first migration, not on
// every open (every ffmpeg call pays for what happens on open).
func (s *Store) ensureWAL(ctx context.Context) error {
	if s.d.name() != SQLite {
		return nil
	}
	var jm string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&jm); err != nil {
		return s.wrapOpenErr(err)
	}
	if !strings.EqualFold(jm, "wal") {
		w, ro, err := sideFiles(s.opts.Path, false)
		if err != nil {
			return err
		}
		if ro != "" {
			return kindErr(ErrReadOnly, "database %s: switch to WAL: %s", s.opts.Path, ro)
		}
		s.warn(w...)
		if err := s.switchToWAL(ctx); err != nil {
			return fmt.Errorf("database %s: enable WAL: %w", s.opts.Path, err)
		}
	}
	return nil
}

// switchToWAL changes the journal mode, which needs the database to
// itself: when many processes open a rollback-mode database at once (the
// first calls after upgrading from the Python rffmpeg), ours queue on the
// writers' lock and every try that finds the file busy (a reader, or
// another program) is retried with SQLite's backoff, for at most 10 s.
func (s *Store) switchToWAL(ctx context.Context) error {
	unlock, err := s.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	deadline := time.Now().Add(10 * time.Second)
	for try := 0; ; try++ {
		var jm string
		err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&jm)
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "database is locked") && !strings.Contains(err.Error(), "busy") ||
			time.Now().After(deadline) || !backoff(ctx, try) {
			return err
		}
	}
}

func (s *Store) wrapOpenErr(err error) error {
	var se *sqlite3.Error
	notDB := errors.As(err, &se) && (se.Code() == sqlite3.NOTADB || se.Code() == sqlite3.CORRUPT)
	// The driver reports a failed _pragma as text, not as *sqlite3.Error.
	if notDB || strings.Contains(err.Error(), "file is not a database") {
		return kindErr(ErrNotRffmpeg, "%s is not an rffmpeg database (not an SQLite file)", s.opts.Path)
	}
	return fmt.Errorf("database %s: %w", s.opts.Path, err)
}

// pgQuote quotes a value for a keyword/value connection string.
func pgQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// PostgresDSN is the keyword/value connection string for o's PostgreSQL
// database, every value quoted (for tools and tests that open it
// without the store, driver "pgx"). Empty values are left out, so libpq's
// environment and service files supply them (see Options).
func (o Options) PostgresDSN() string {
	var b strings.Builder
	for _, kv := range []struct{ k, v string }{{"host", o.Host}, {"port", portText(o.Port)}, {"user", o.User},
		{"password", o.Password}, {"dbname", o.Name}} {
		switch {
		case kv.v == "":
		case kv.k == "port":
			b.WriteString("port=" + kv.v + " ")
		default:
			b.WriteString(kv.k + "=" + pgQuote(kv.v) + " ")
		}
	}
	if os.Getenv("PGCONNECT_TIMEOUT") == "" {
		b.WriteString("connect_timeout=5")
	}
	return strings.TrimSpace(b.String())
}

func portText(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

// Rebind rewrites a query's ? placeholders for the backend ($1, $2, … for
// PostgreSQL), as the store does with its own.
func Rebind(b Backend, query string) string {
	if b == PostgreSQL {
		return postgresDialect{}.rebind(query)
	}
	return query
}

// openPostgres makes o's store without connecting.
func openPostgres(o Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(o.PostgresDSN())
	if err != nil {
		return nil, fmt.Errorf("open %s: %s", o.Describe(), pgReason(err))
	}
	s := &Store{d: postgresDialect{}, opts: o, pgConfig: cfg.Copy()}
	// Every statement sent is counted (Statements): selection's cost in
	// round trips is a claim the tests check.
	cfg.Tracer = statementCounter{&s.statements}
	db := stdlib.OpenDB(*cfg)
	s.db = db
	// A shim needs a connection only for moments (select, release, a
	// heartbeat every 15 s), not while ffmpeg runs for an hour: an idle one
	// closes after a second, so hundreds of running jobs do not hold
	// hundreds of server connections (max_connections is 100 by default).
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Second)
	return s, nil
}

func connectPostgres(ctx context.Context, o Options) (*Store, error) {
	s, err := openPostgres(o)
	if err != nil {
		return nil, err
	}
	db := s.db
	// "too many clients" is load, not failure: a 200-way library scan may
	// briefly exceed max_connections; wait for a slot. A server restarting
	// (refusing connections, starting up, shutting down) is waited for
	// too, as long as ctx lets the caller wait (database.wait for a job).
	deadline, outage := time.Now().Add(30*time.Second), outageBound(ctx)
	for {
		err = db.PingContext(ctx)
		if err == nil || !(isTooManyClients(err) || transient(err) && time.Now().Before(outage)) || time.Now().After(deadline) {
			break
		}
		if !sleep(ctx, 20*time.Millisecond+time.Duration(time.Now().UnixNano()%30)*time.Millisecond) {
			break
		}
	}
	if err != nil {
		db.Close()
		or := func(v string) string {
			if v == "" {
				return "(libpq)"
			}
			return v
		}
		return nil, fmt.Errorf("connect to postgresql at %s:%s (database %s, user %s): %s",
			or(o.Host), or(portText(o.Port)), or(o.Name), or(o.User), pgReason(err))
	}
	return s, nil
}

func isTooManyClients(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53300"
}

// pgReason trims pgx's error to its last, most specific clause, and says
// what a setting that reaches another service means: pgx's own words
// ("expected at most 1073741822, but got …" for an SSH banner read as a
// message length) name no cause.
func pgReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "failed to connect") {
		msg = strings.TrimSpace(msg[i+2:])
	}
	switch {
	case strings.Contains(msg, "expected at most") || strings.Contains(msg, "unexpected message") ||
		strings.Contains(msg, "received unexpected") || strings.Contains(msg, "server error") && strings.Contains(msg, "HTTP"):
		return msg + " (the server there does not speak PostgreSQL's protocol: another service on that host and port?)"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout"):
		return msg + " (no PostgreSQL answer in time: a wrong host or port, a firewall, or another service there?)"
	}
	return msg
}

// tx runs fn in a transaction that holds the store's write lock (SQLite:
// BEGIN IMMEDIATE; PostgreSQL: an advisory transaction lock), so concurrent
// writers from any number of processes or frontends serialize.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.txLocking(ctx, false, func(_ *sql.Conn, t *sql.Tx) error { return fn(t) })
}

// txLocking is tx; with lockLater, fn takes the PostgreSQL lock itself
// after reads that need not hold it, and gets the transaction's connection
// to pipeline statements on (see Acquire and pipeline; otherwise nil).
func (s *Store) txLocking(ctx context.Context, lockLater bool, fn func(*sql.Conn, *sql.Tx) error) error {
	err := s.txOnce(ctx, lockLater, fn)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s stayed busy past the deadline: %w", s.opts.Describe(), err)
	}
	return err
}

// readOnlyErr is the error of a write on a read-only store, saying why.
func (s *Store) readOnlyErr() error {
	if !s.opts.ReadOnly {
		return nil
	}
	why := s.roReason
	if why == "" {
		why = "opened with Options.ReadOnly"
	}
	return kindErr(ErrReadOnly, "%s is open read-only: %s", s.opts.Describe(), why)
}

// txOnce runs fn once; on PostgreSQL a transaction that failed because
// the server went away (a restart, a failover) is run again on a new
// connection while ctx lets the caller wait: its effects were rolled back
// with the connection.
func (s *Store) txOnce(ctx context.Context, lockLater bool, fn func(*sql.Conn, *sql.Tx) error) error {
	end := outageBound(ctx)
	for try := 0; ; try++ {
		err, committing := s.txAttempt(ctx, lockLater, fn)
		// A failed commit is not retried: it may have committed.
		if err == nil || committing || s.d.name() != PostgreSQL || !transient(err) || ctx.Err() != nil || time.Now().After(end) {
			return err
		}
		if !sleep(ctx, min(time.Duration(try+1)*50*time.Millisecond, 500*time.Millisecond)) {
			return err
		}
	}
}

func (s *Store) txAttempt(ctx context.Context, lockLater bool, fn func(*sql.Conn, *sql.Tx) error) (err error, committing bool) {
	if err := s.readOnlyErr(); err != nil {
		return err, false
	}
	unlock, err := s.writeLock(ctx)
	if err != nil {
		return err, false
	}
	defer unlock()
	var c *sql.Conn
	begin := s.db.BeginTx
	if lockLater {
		if c, err = s.db.Conn(ctx); err != nil {
			return err, false
		}
		defer c.Close()
		begin = c.BeginTx
	}
	t, err := begin(ctx, nil)
	if err != nil {
		return err, false
	}
	if !lockLater {
		if err := s.d.lock(ctx, t); err != nil {
			t.Rollback()
			return err, false
		}
	}
	if err := fn(c, t); err != nil {
		t.Rollback()
		return err, false
	}
	return t.Commit(), true
}

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// Time helpers. Our own columns hold Unix milliseconds, which both backends
// store and compare the same way.
func ms(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64)
}

// parseCreated reads hosts.created, which the original wrote as Python's
// str(datetime) in SQLite and as a TIMESTAMP in PostgreSQL.
func parseCreated(v any) time.Time {
	switch v := v.(type) {
	case time.Time:
		return sane(v)
	case []byte:
		return parseCreated(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
				return sane(t)
			}
		}
	case int64:
		return sane(time.Unix(v, 0))
	case float64:
		return sane(time.Unix(int64(v), 0))
	}
	return time.Time{}
}
