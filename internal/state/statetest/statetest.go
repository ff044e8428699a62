// Package statetest gives tests real databases: a fresh SQLite file, and a
// fresh database on the PostgreSQL server the test rig names with
// RFFMPEG_TEST_PG_HOST/PORT/USER/PASS (.ci/run starts one; set
// RFFMPEG_TEST_REQUIRE_PG=1 to fail instead of skipping when it is absent).
package statetest

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Backend makes fresh databases of one kind.
type Backend struct {
	Name string
	New  func(t *testing.T) state.Options
}

// PostgresAdmin returns the test server's connection settings, ok=false when
// the rig has none.
func PostgresAdmin() (state.Options, bool) {
	host := os.Getenv("RFFMPEG_TEST_PG_HOST")
	if host == "" {
		return state.Options{}, false
	}
	port, _ := strconv.Atoi(os.Getenv("RFFMPEG_TEST_PG_PORT"))
	if port == 0 {
		port = 5432
	}
	return state.Options{Backend: state.PostgreSQL, Host: host, Port: port,
		User: os.Getenv("RFFMPEG_TEST_PG_USER"), Password: os.Getenv("RFFMPEG_TEST_PG_PASS"), Name: "postgres"}, true
}

var seq atomic.Int64

// Backends lists SQLite and, when the rig has a server, PostgreSQL.
func Backends(t *testing.T) []Backend {
	bs := []Backend{{Name: string(state.SQLite), New: NewSQLite}}
	if _, ok := PostgresAdmin(); ok {
		bs = append(bs, Backend{Name: string(state.PostgreSQL), New: NewPostgres})
	} else if os.Getenv("RFFMPEG_TEST_REQUIRE_PG") == "1" {
		t.Fatal("RFFMPEG_TEST_REQUIRE_PG=1 but RFFMPEG_TEST_PG_HOST is not set")
	} else {
		t.Log("PostgreSQL not configured (RFFMPEG_TEST_PG_HOST): running on SQLite only")
	}
	return bs
}

// NewSQLite names a database file in a fresh temporary directory.
func NewSQLite(t *testing.T) state.Options {
	return state.Options{Backend: state.SQLite, Path: filepath.Join(t.TempDir(), "rffmpeg.db")}
}

// PgDSN is the store's own connection string for o (state.Options.PostgresDSN).
func PgDSN(o state.Options) string { return o.PostgresDSN() }

// NewPostgres creates an empty database on the test server, dropped at the end.
func NewPostgres(t *testing.T) state.Options {
	admin, _ := PostgresAdmin()
	db, err := sql.Open("pgx", PgDSN(admin))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("rffmpeg_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, seq.Add(1))
	// The server is shared by every test package running at once (and
	// some start hundreds of processes): a full server is load, not a
	// failure; wait for a slot, as the store itself does.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = db.Exec(`CREATE DATABASE ` + name)
		if err == nil || !strings.Contains(err.Error(), "53300") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", PgDSN(admin))
		if err == nil {
			db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
			db.Close()
		}
	})
	o := admin
	o.Name = name
	return o
}

// Raw opens the database behind o without rffmpeg, as the original would.
func Raw(t *testing.T, o state.Options) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if o.Backend == state.PostgreSQL {
		db, err = sql.Open("pgx", PgDSN(o))
	} else {
		db, err = sql.Open("sqlite3", "file:"+o.Path+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// CreateOriginal writes a database as the Python rffmpeg leaves it: its exact
// tables (optionally from before server names existed) with 3 hosts, 2
// processes and 3 states rows.
func CreateOriginal(t *testing.T, o state.Options, withServername bool) {
	t.Helper()
	db := Raw(t, o)
	defer db.Close()
	pg := o.Backend == state.PostgreSQL
	idType, ts := "INTEGER PRIMARY KEY", "DATETIME"
	if pg {
		idType, ts = "SERIAL PRIMARY KEY", "TIMESTAMP"
	}
	hosts := fmt.Sprintf("CREATE TABLE hosts (id %s, servername TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL, weight INTEGER DEFAULT 1, created %s NOT NULL)", idType, ts)
	if !withServername {
		hosts = fmt.Sprintf("CREATE TABLE hosts (id %s, hostname TEXT NOT NULL, weight INTEGER DEFAULT 1, created %s NOT NULL)", idType, ts)
	}
	stmts := []string{
		"DROP TABLE IF EXISTS hosts", "DROP TABLE IF EXISTS processes", "DROP TABLE IF EXISTS states", "DROP TABLE IF EXISTS rffmpeg_schema",
		hosts,
		fmt.Sprintf("CREATE TABLE processes (id %s, host_id INTEGER, process_id INTEGER, cmd TEXT)", idType),
		fmt.Sprintf("CREATE TABLE states (id %s, host_id INTEGER, process_id INTEGER, state TEXT)", idType),
	}
	rows := [][3]string{{"gpu1.lan", "gpu1", "1"}, {"gpu2.lan", "gpu2", "4"}, {"localhost", "localhost", "1"}}
	for _, r := range rows {
		if withServername {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO hosts (hostname, weight, servername, created) VALUES ('%s', %s, '%s', '2024-03-01 10:00:00.123456')", r[0], r[2], r[1]))
		} else {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO hosts (hostname, weight, created) VALUES ('%s', %s, '2024-03-01 10:00:00.123456')", r[0], r[2]))
		}
	}
	stmts = append(stmts,
		"INSERT INTO processes (host_id, process_id, cmd) VALUES (1, 999991, 'ffmpeg -i /media/a.mkv -f hls x.m3u8')",
		"INSERT INTO processes (host_id, process_id, cmd) VALUES (2, 999992, 'ffprobe -show_streams /media/b.mkv')",
		"INSERT INTO states (host_id, process_id, state) VALUES (1, 999991, 'active')",
		"INSERT INTO states (host_id, process_id, state) VALUES (2, 999992, 'active')",
		"INSERT INTO states (host_id, process_id, state) VALUES (2, 999993, 'bad')",
	)
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// OriginalWrites runs the statements the original rffmpeg issues, to prove a
// migrated database still serves it (a downgrade keeps working).
func OriginalWrites(t *testing.T, o state.Options) {
	t.Helper()
	db := Raw(t, o)
	defer db.Close()
	p := func(q string) string { return state.Rebind(o.Backend, q) }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO hosts (hostname, weight, servername, created) VALUES (?, ?, ?, ?)", []any{"old.lan", 2, "old", time.Now()}},
		{"INSERT INTO processes (host_id, process_id, cmd) VALUES (?, ?, ?)", []any{1, 123, "ffmpeg -version"}},
		{"INSERT INTO states (host_id, process_id, state) VALUES (?, ?, ?)", []any{1, 123, "active"}},
		{"DELETE FROM processes WHERE process_id = ?", []any{123}},
		{"DELETE FROM states WHERE process_id = ?", []any{123}},
	} {
		if _, err := db.Exec(p(q.sql), q.args...); err != nil {
			t.Fatalf("original statement %q: %v", q.sql, err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM hosts WHERE hostname = 'old.lan'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("original's host insert not visible: %d %v", n, err)
	}
}

// LeastBusy is the real policy with fallback, all writers alive.
func LeastBusy(snap state.Snapshot) state.Decision {
	return selector.Policy{Now: time.Now(), BadTTL: time.Minute, Fallback: true}.Decide(snap)
}

// Worker re-executes the test binary as a worker process (the test's
// TestMain dispatches on the environment variable).
func Worker(env, job string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+job)
	return cmd
}

// RunHolders starts n workers at once; each prints the host it got and holds
// it until the release file exists. It returns how many got each host.
func RunHolders(env, job string, n int, release string) (map[int64]int, error) {
	counts := map[int64]int{}
	var cmds []*exec.Cmd
	lines := make(chan string, n)
	for i := 0; i < n; i++ {
		cmd := Worker(env, job)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		go func() {
			sc := bufio.NewScanner(out)
			if sc.Scan() {
				lines <- sc.Text()
			} else {
				lines <- "error"
			}
			for sc.Scan() {
			}
		}()
	}
	var err error
	for i := 0; i < n; i++ {
		l := <-lines
		id, perr := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		if perr != nil {
			err = fmt.Errorf("worker said %q", l)
			continue
		}
		counts[id]++
	}
	os.WriteFile(release, nil, 0o644)
	for _, c := range cmds {
		if werr := c.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("worker: %v", werr)
		}
	}
	return counts, err
}
