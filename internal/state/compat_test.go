package state_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// bind rewrites ? placeholders for PostgreSQL, as the original's %s.
func bind(o state.Options, q string) string { return state.Rebind(o.Backend, q) }

// unpack runs the original's SELECT * and scans every row into exactly
// want columns, as its `a, b, c = row` does.
func unpack(db *sql.DB, o state.Options, want int, q string, args ...any) (int, error) {
	rows, err := db.Query(bind(o, q), args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if len(cols) != want {
		return 0, fmt.Errorf("%s: %d columns %v, the original unpacks %d", q, len(cols), cols, want)
	}
	n := 0
	for rows.Next() {
		dst := make([]any, want)
		for i := range dst {
			dst[i] = new(any)
		}
		if err := rows.Scan(dst...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// originalCall is what one call of the original rffmpeg does to the
// database: read hosts and processes, read each host's latest state, record
// its job, then delete its rows by PID.
func originalCall(db *sql.DB, o state.Options, pid int) error {
	if _, err := unpack(db, o, 5, `SELECT * FROM hosts`); err != nil {
		return err
	}
	if _, err := unpack(db, o, 4, `SELECT * FROM processes`); err != nil {
		return err
	}
	for _, id := range []int{1, 2} {
		if _, err := unpack(db, o, 4, `SELECT * FROM states WHERE host_id = ? ORDER BY id DESC`, id); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`INSERT INTO processes (host_id, process_id, cmd) VALUES (?, ?, ?)`,
		`INSERT INTO states (host_id, process_id, state) VALUES (?, ?, ?)`,
	} {
		third := any("ffmpeg -i x")
		if strings.Contains(q, "states") {
			third = "active"
		}
		if _, err := db.Exec(bind(o, q), 1, pid, third); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if _, err := unpack(db, o, 4, `SELECT * FROM states`); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM states WHERE process_id = ?`, `DELETE FROM processes WHERE process_id = ?`} {
		if _, err := db.Exec(bind(o, q), pid); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// TestOriginalRunsBesideUs: the Python rffmpeg's own statements work on a
// database this rffmpeg uses, while this rffmpeg acquires and releases jobs
// on it (a downgrade, or an old and a new frontend on one PostgreSQL).
func TestOriginalRunsBesideUs(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHost(ctx, "a.lan", "", 1, now)
		b, _ := s.AddHost(ctx, "b.lan", "", 2, now)
		// Use every column of ours, so that a leak into the original's
		// tables would show.
		if _, err := s.SetDrain(ctx, "b.lan", true); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkBad(ctx, a.ID, state.Claim{PID: 1, Owner: "x", Now: now}, "refused"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkChecked(ctx, b.ID, now); err != nil {
			t.Fatal(err)
		}
		db := statetest.Raw(t, o)
		defer db.Close()

		ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		var ours, theirs int
		var mu sync.Mutex
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					claim := state.Claim{PID: 70000 + w, Owner: "us", Cmd: "ffmpeg -i y", Now: time.Now()}
					l, _, _, err := s.Acquire(context.Background(), state.AcquireRequest{Claim: claim}, pick(a.ID))
					if err == nil {
						err = s.Heartbeat(context.Background(), l, time.Now())
					}
					if err == nil {
						err = s.Release(context.Background(), l)
					}
					if err != nil {
						errs <- fmt.Errorf("ours: %w", err)
						return
					}
					mu.Lock()
					ours++
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := originalCall(db, o, 90000+i); err != nil {
					errs <- fmt.Errorf("original: %w", err)
					return
				}
				mu.Lock()
				theirs++
				mu.Unlock()
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if ours < 10 || theirs < 10 {
			t.Errorf("too little ran side by side: %d of ours, %d of the original's", ours, theirs)
		}
		// Ours are intact, and the original's rows are read as the original's.
		snap, err := s.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Processes) != 0 || len(snap.Malformed) != 0 {
			t.Errorf("left: %+v, malformed %v", snap.Processes, snap.Malformed)
		}
		got := fmt.Sprintf("%v %q %v", snap.Hosts[1].Drain, snap.Hosts[0].LastError, snap.Hosts[1].CheckedAt.Equal(now))
		if want := `true "refused" true`; got != want {
			t.Errorf("our columns = %s, want %s", got, want)
		}
	})
}

// TestOriginalClearAndReuse: the original's clear deletes our rows behind our
// back; SQLite then hands out the same ids again. Our leftovers must not
// attach to the original's new rows, and are reaped.
func TestOriginalClearAndReuse(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHost(ctx, "a.lan", "", 1, now)
		claim := state.Claim{PID: 4242, Owner: "us", Cmd: "ffmpeg -i y", Now: now}
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim, MarkBad: &state.BadMark{HostID: a.ID, Reason: "x"}}, pick(a.ID)); err != nil {
			t.Fatal(err)
		}
		db := statetest.Raw(t, o)
		defer db.Close()
		for _, q := range []string{`DELETE FROM processes`, `DELETE FROM states`, `DELETE FROM hosts WHERE id = 1`,
			`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('a.lan', 'a.lan', 1, '2025-01-01 00:00:00')`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := originalCallKeep(db, o, 5555); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range snap.Processes {
			if p.Owner != "" || !p.Started.IsZero() {
				t.Errorf("the original's process row got our leftovers: %+v", p)
			}
		}
		for _, m := range snap.Marks {
			if m.Owner != "" || m.Reason != "" || !m.Created.IsZero() {
				t.Errorf("the original's states row got our leftovers: %+v", m)
			}
		}
		if h := snap.Hosts[0]; h.LastError != "" {
			t.Errorf("the re-added host got the removed one's last error: %+v", h)
		}
		if err := s.Reap(ctx, []int64{999}, nil); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"rffmpeg_hosts", "rffmpeg_processes", "rffmpeg_states"} {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d leftovers after a reap (%v)", table, n, err)
			}
		}
	})
}

// originalCallKeep records a job as the original does and leaves it running.
func originalCallKeep(db *sql.DB, o state.Options, pid int) error {
	for _, q := range []string{
		`INSERT INTO processes (host_id, process_id, cmd) VALUES (?, ?, 'ffmpeg -i z')`,
		`INSERT INTO states (host_id, process_id, state) VALUES (?, ?, 'active')`,
	} {
		if _, err := db.Exec(bind(o, q), 1, pid); err != nil {
			return err
		}
	}
	return nil
}

// createVersion2 writes a database as rffmpeg-go's schema version 2 left it:
// the original's tables with our columns added to them, and rows using them.
func createVersion2(t *testing.T, o state.Options, extra ...string) {
	t.Helper()
	statetest.CreateOriginal(t, o, true)
	db := statetest.Raw(t, o)
	defer db.Close()
	stmts := []string{
		`ALTER TABLE hosts ADD COLUMN drain INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE hosts ADD COLUMN checked_at BIGINT`,
		`ALTER TABLE hosts ADD COLUMN last_error TEXT`,
		`ALTER TABLE hosts ADD COLUMN last_error_at BIGINT`,
		`ALTER TABLE processes ADD COLUMN started BIGINT`,
		`ALTER TABLE processes ADD COLUMN owner TEXT`,
		`ALTER TABLE processes ADD COLUMN heartbeat BIGINT`,
		`ALTER TABLE states ADD COLUMN created BIGINT`,
		`ALTER TABLE states ADD COLUMN reason TEXT`,
		`ALTER TABLE states ADD COLUMN owner TEXT`,
		`CREATE INDEX processes_host ON processes (host_id)`,
		`CREATE INDEX states_host ON states (host_id)`,
		`CREATE TABLE rffmpeg_schema (version INTEGER NOT NULL)`,
		`INSERT INTO rffmpeg_schema (version) VALUES (2)`,
		// gpu1 drained and checked; gpu2 with a last error; localhost untouched.
		`UPDATE hosts SET drain = 1, checked_at = 1700000000000 WHERE id = 1`,
		`UPDATE hosts SET last_error = 'Permission denied (publickey)', last_error_at = 1700000001000 WHERE id = 2`,
		`UPDATE processes SET started = 1700000002000, owner = 'm|b|7', heartbeat = 1700000003000 WHERE id = 1`,
		`UPDATE states SET created = 1700000004000, reason = 'connection refused', owner = 'm|b|9' WHERE id = 3`,
	}
	for _, q := range append(stmts, extra...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigratesVersion2: a database on which our columns sit in the original's
// tables keeps their data in our tables, and its tables are the original's
// again.
func TestMigratesVersion2(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		cases := map[string][]string{"plain": nil}
		if o.Backend == state.SQLite {
			// An index on a moved column makes DROP COLUMN refuse: the
			// table is rebuilt instead.
			cases["rebuild"] = []string{`CREATE INDEX hosts_drain ON hosts (drain)`, `CREATE INDEX states_reason ON states (reason)`}
		}
		for name, extra := range cases {
			t.Run(name, func(t *testing.T) {
				createVersion2(t, o, extra...)
				s, err := state.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				snap, err := s.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				h1, h2, p1, m3 := snap.Hosts[0], snap.Hosts[1], snap.Processes[0], snap.Marks[2]
				got := []string{
					strings.TrimSpace(fmt.Sprintln(h1.Drain, h1.CheckedAt.UnixMilli(), h1.LastError == "", h1.Servername, h1.Weight)),
					strings.TrimSpace(fmt.Sprintln(h2.Drain, h2.LastError, h2.LastErrAt.UnixMilli(), h2.CheckedAt.IsZero())),
					strings.TrimSpace(fmt.Sprintln(p1.Started.UnixMilli(), p1.Owner, p1.Heartbeat.UnixMilli(), p1.PID, p1.Cmd)),
					strings.TrimSpace(fmt.Sprintln(m3.Created.UnixMilli(), m3.Reason, m3.Owner, m3.State)),
					strings.TrimSpace(fmt.Sprintln(len(snap.Hosts), len(snap.Processes), len(snap.Marks), len(snap.Malformed))),
				}
				want := []string{
					"true 1700000000000 true gpu1 1",
					"false Permission denied (publickey) 1700000001000 true",
					"1700000002000 m|b|7 1700000003000 999991 ffmpeg -i /media/a.mkv -f hls x.m3u8",
					"1700000004000 connection refused m|b|9 bad",
					"3 2 3 0",
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("got  %s\nwant %s", got[i], want[i])
					}
				}
				db := statetest.Raw(t, o)
				defer db.Close()
				for table, n := range map[string]int{"hosts": 5, "processes": 4, "states": 4} {
					if _, err := unpack(db, o, n, `SELECT * FROM `+table); err != nil {
						t.Error(err)
					}
				}
				var v int
				if err := db.QueryRow(`SELECT version FROM rffmpeg_schema`).Scan(&v); err != nil || v != state.SchemaVersion {
					t.Errorf("schema version %d, %v", v, err)
				}
				if extra != nil {
					var n int
					db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('hosts_drain', 'states_reason')`).Scan(&n)
					if n != 0 {
						t.Errorf("the rebuild kept %d indexes on moved columns", n)
					}
				}
				statetest.OriginalWrites(t, o)
			})
		}
	})
}

func TestRebindAndDSN(t *testing.T) {
	for _, c := range []struct {
		b       state.Backend
		q, want string
	}{
		{state.SQLite, "a = ? AND b = ?", "a = ? AND b = ?"},
		{state.PostgreSQL, "a = ? AND b = ?", "a = $1 AND b = $2"},
	} {
		if got := state.Rebind(c.b, c.q); got != c.want {
			t.Errorf("Rebind(%s, %q) = %q, want %q", c.b, c.q, got, c.want)
		}
	}
	o := state.Options{Backend: state.PostgreSQL, Host: "db", Port: 5432, User: "u", Password: `it's a \ pass`, Name: "rffmpeg"}
	want := `host='db' port=5432 user='u' password='it\'s a \\ pass' dbname='rffmpeg' connect_timeout=5`
	if got := o.PostgresDSN(); got != want {
		t.Errorf("PostgresDSN() = %s\nwant           %s", got, want)
	}
}

// TestConcurrentMigration: a library scan's first calls after an upgrade
// all find a version-2 database and migrate it at once; one does, the
// others wait and find it done.
func TestConcurrentMigration(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		createVersion2(t, o)
		job, _ := json.Marshal(workerJob{Opts: o, Mode: "churn"})
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if out, err := statetest.Worker(workerEnv, string(job)).CombinedOutput(); err != nil {
					errs <- fmt.Sprintf("%v: %s", err, out)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		s, err := state.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		snap, err := s.Snapshot(ctx)
		if err != nil || !snap.Hosts[0].Drain || snap.Hosts[1].LastError == "" {
			t.Errorf("after concurrent migration: %+v %v", snap.Hosts, err)
		}
	})
}
