package state_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(worker())
	}
	os.Exit(m.Run())
}

// forEach runs a test on a fresh SQLite file and on a fresh PostgreSQL
// database (when the test rig provides a server).
func forEach(t *testing.T, fn func(t *testing.T, o state.Options)) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.New(t)) })
	}
}

func initStore(t *testing.T, o state.Options) *state.Store {
	t.Helper()
	s, err := state.Init(ctx, o)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)

func TestHostOperations(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, err := s.AddHost(ctx, "gpu1.lan", "", 1, now)
		if err != nil {
			t.Fatal(err)
		}
		if a.Servername != "gpu1.lan" || a.Weight != 1 || !a.Created.Equal(now) {
			t.Errorf("added %+v", a)
		}
		b, err := s.AddHost(ctx, "gpu1.lan", "gpu1-twice", 3, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddHost(ctx, "other", "gpu1-twice", 1, now); !errors.Is(err, state.ErrDuplicate) || !strings.Contains(err.Error(), "-n NAME") {
			t.Errorf("duplicate name: %v", err)
		}
		for _, w := range []int{0, -3} {
			if _, err := s.AddHost(ctx, "x", "", w, now); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("weight %d: %v", w, err)
			}
		}
		for _, bad := range []string{"", "-oProxyCommand=x", "a b", "a\nb"} {
			if _, err := s.AddHost(ctx, bad, "", 1, now); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("hostname %q: %v", bad, err)
			}
		}
		got, err := s.SetWeight(ctx, "gpu1-twice", 5)
		if err != nil || len(got) != 1 || got[0].ID != b.ID || got[0].Weight != 5 {
			t.Errorf("SetWeight = %+v, %v", got, err)
		}
		if _, err := s.SetWeight(ctx, "gpu1-twice", 0); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("SetWeight 0: %v", err)
		}
		if _, err := s.SetWeight(ctx, "nope", 2); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("SetWeight unknown: %v", err)
		}
		if got, err := s.SetDrain(ctx, strconv.FormatInt(a.ID, 10), true); err != nil || !got[0].Drain {
			t.Errorf("SetDrain = %+v, %v", got, err)
		}
		// The hostname matches both hosts; the id only one.
		if got, err := s.Resolve(ctx, "gpu1.lan"); err != nil || len(got) != 1 {
			t.Errorf("resolve by server name first: %+v, %v", got, err)
		}
		removed, err := s.RemoveHosts(ctx, strconv.FormatInt(b.ID, 10))
		if err != nil || len(removed) != 1 || removed[0].ID != b.ID {
			t.Fatalf("remove by id: %+v, %v", removed, err)
		}
		if _, err := s.RemoveHosts(ctx, "ghost"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("remove unknown: %v", err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Hosts) != 1 || snap.Hosts[0].ID != a.ID {
			t.Errorf("after remove: %+v, %v", snap.Hosts, err)
		}
	})
}

func pick(id int64) func(state.Snapshot) state.Decision {
	return func(state.Snapshot) state.Decision { return state.Decision{HostID: id} }
}

func TestAcquireReleaseAndClear(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "h1", "", 1, now)
		claim := state.Claim{PID: 4242, Owner: "m|b|1", Cmd: "ffmpeg -i x", Now: now}
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(h.ID))
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := s.Snapshot(ctx)
		if len(snap.Processes) != 1 || snap.Processes[0].PID != 4242 || !snap.Processes[0].Started.Equal(now) || snap.Processes[0].Cmd != "ffmpeg -i x" {
			t.Errorf("processes %+v", snap.Processes)
		}
		if len(snap.Marks) != 1 || snap.Marks[0].State != state.StateActive {
			t.Errorf("states %+v", snap.Marks)
		}
		// A failed check: the bad mark, the old lease and the new lease in one step.
		l2, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim, Replace: &l, MarkBad: &state.BadMark{HostID: h.ID, Reason: "connection refused"}}, pick(0))
		if err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Snapshot(ctx)
		if len(snap.Processes) != 1 || snap.Processes[0].HostID != 0 {
			t.Errorf("after retarget: %+v", snap.Processes)
		}
		if snap.Hosts[0].LastError != "connection refused" {
			t.Errorf("last error %q", snap.Hosts[0].LastError)
		}
		var bad int
		for _, m := range snap.Marks {
			if m.State == state.StateBad && m.Reason == "connection refused" && m.Created.Equal(now) {
				bad++
			}
		}
		if bad != 1 {
			t.Errorf("bad marks: %+v", snap.Marks)
		}
		if c, err := s.Clear(ctx, h.Servername, true); err != nil || c.States != 1 {
			t.Errorf("clear bad: %+v %v", c, err)
		}
		if err := s.Release(ctx, l2); err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Snapshot(ctx)
		if len(snap.Processes) != 0 || len(snap.Marks) != 0 {
			t.Errorf("after release: %+v %+v", snap.Processes, snap.Marks)
		}
		// Clear: one host's rows, the fallback's, then everything.
		for _, id := range []int64{h.ID, 0, h.ID} {
			if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(id)); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.Clear(ctx, "fallback", false); err != nil || c.Processes != 1 || c.States != 1 {
			t.Errorf("clear fallback: %+v %v", c, err)
		}
		if c, err := s.Clear(ctx, "h1", false); err != nil || c.Processes != 2 {
			t.Errorf("clear host: %+v %v", c, err)
		}
		if _, err := s.Clear(ctx, "nope", false); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("clear unknown: %v", err)
		}
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(h.ID)); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Clear(ctx, "", false); err != nil || c.Processes != 1 {
			t.Errorf("clear all: %+v %v", c, err)
		}
	})
}

// The original's exact schema, with rows, and the older one without
// servername: Open migrates them in place and nothing is lost.
func TestMigratesOriginalDatabases(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		for _, withServername := range []bool{true, false} {
			t.Run(fmt.Sprintf("servername=%v", withServername), func(t *testing.T) {
				statetest.CreateOriginal(t, o, withServername)
				s, err := state.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				snap, err := s.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(snap.Hosts) != 3 || len(snap.Processes) != 2 || len(snap.Marks) != 3 {
					t.Fatalf("rows lost: %d hosts %d processes %d states", len(snap.Hosts), len(snap.Processes), len(snap.Marks))
				}
				h := snap.Hosts[1]
				wantName := "gpu2"
				if !withServername {
					wantName = "gpu2.lan"
				}
				if h.Hostname != "gpu2.lan" || h.Servername != wantName || h.Weight != 4 || h.Created.Year() != 2024 {
					t.Errorf("host 2 = %+v", h)
				}
				if o.Backend == state.SQLite {
					assertWAL(t, o)
				}
				// The original's statements still work on the migrated database.
				statetest.OriginalWrites(t, o)
				// And a second Open is a no-op.
				s2, err := state.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				s2.Close()
			})
		}
	})
}

func assertWAL(t *testing.T, o state.Options) {
	t.Helper()
	db := statetest.Raw(t, o)
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// rffmpeg.db on its own is current once the writers are gone: a backup or a
// move that copies only that file loses nothing.
func TestDatabaseFileAloneIsCurrent(t *testing.T) {
	o := statetest.NewSQLite(t)
	s := initStore(t, o)
	if _, err := s.AddHost(ctx, "kept.lan", "", 1, now); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	cp := statetest.NewSQLite(t)
	os.WriteFile(cp.Path, data, 0o644)
	c, err := state.Open(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	snap, err := c.Snapshot(ctx)
	if err != nil || len(snap.Hosts) != 1 || snap.Hosts[0].Hostname != "kept.lan" {
		t.Errorf("copy of rffmpeg.db alone: %+v, %v", snap.Hosts, err)
	}
}

func TestInitUsesWAL(t *testing.T) {
	o := statetest.NewSQLite(t)
	initStore(t, o)
	assertWAL(t, o)
}

func TestNotAnRffmpegDatabase(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := state.Open(ctx, state.Options{Backend: state.SQLite, Path: missing}); !errors.Is(err, state.ErrNotInitialized) || !strings.Contains(err.Error(), "rffmpeg init") {
		t.Errorf("missing: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("Open created %s", missing)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("this is not sqlite\n", 200)), 0o644)
	if _, err := state.Open(ctx, state.Options{Backend: state.SQLite, Path: junk}); !errors.Is(err, state.ErrNotRffmpeg) {
		t.Errorf("junk: %v", err)
	}
	other := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite3", other)
	db.Exec(`CREATE TABLE songs (id INTEGER)`)
	db.Close()
	if _, err := state.Open(ctx, state.Options{Backend: state.SQLite, Path: other}); !errors.Is(err, state.ErrNotRffmpeg) {
		t.Errorf("foreign: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	if _, err := state.Open(ctx, state.Options{Backend: state.SQLite, Path: empty}); !errors.Is(err, state.ErrNotInitialized) {
		t.Errorf("empty: %v", err)
	}
}

func TestUnreachablePostgres(t *testing.T) {
	o := state.Options{Backend: state.PostgreSQL, Host: "127.0.0.1", Port: 1, User: "u", Name: "d"}
	start := time.Now()
	_, err := state.Open(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// --- many real processes at once -------------------------------------------

const workerEnv = "RFFMPEG_STATE_WORKER"

type workerJob struct {
	Opts    state.Options
	Mode    string // "churn": acquire, hold briefly, release; "hold": acquire, print host, wait for the release file; "read": print the snapshot's size
	Release string
}

func worker() int {
	var job workerJob
	if err := json.Unmarshal([]byte(os.Getenv(workerEnv)), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := state.Open(ctx, job.Opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer s.Close()
	if job.Mode == "read" {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "snapshot:", err)
			return 1
		}
		fmt.Printf("%d hosts; read-only %v; %q\n", len(snap.Hosts), s.ReadOnly(), s.Warnings())
		return 0
	}
	claim := state.Claim{PID: os.Getpid(), Owner: "worker", Cmd: "ffprobe x", Now: time.Now()}
	l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acquire:", err)
		return 1
	}
	if job.Mode == "hold" {
		fmt.Println(l.HostID)
		for {
			if _, err := os.Stat(job.Release); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	} else {
		time.Sleep(time.Duration(os.Getpid()%20) * time.Millisecond)
	}
	if err := s.Release(ctx, l); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		return 1
	}
	return 0
}

// TestTwoHundredProcesses: a library scan's worth of real OS processes insert
// and delete rows at once; none may fail (the original loses 15–40 % of such
// a scan to "database is locked").
func TestTwoHundredProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		s.AddHost(ctx, "a", "", 1, now)
		s.AddHost(ctx, "b", "", 1, now)
		job, _ := json.Marshal(workerJob{Opts: o, Mode: "churn"})
		var failed atomic.Int32
		var errs atomic.Value
		done := make(chan struct{})
		const n = 200
		for i := 0; i < n; i++ {
			go func() {
				defer func() { done <- struct{}{} }()
				out, err := statetest.Worker(workerEnv, string(job)).CombinedOutput()
				if err != nil {
					failed.Add(1)
					errs.Store(string(out))
				}
			}()
		}
		for i := 0; i < n; i++ {
			<-done
		}
		if f := failed.Load(); f != 0 {
			t.Fatalf("%d of %d processes failed; last: %v", f, n, errs.Load())
		}
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Processes) != 0 || len(snap.Marks) != 0 {
			t.Errorf("rows left: %d processes, %d states, %v", len(snap.Processes), len(snap.Marks), err)
		}
	})
}

// TestSimultaneousSpread: 8 processes started at once on 2 equal hosts end up
// 4 and 4, because selection and insertion are one transaction.
func TestSimultaneousSpread(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHost(ctx, "a", "", 1, now)
		b, _ := s.AddHost(ctx, "b", "", 1, now)
		release := filepath.Join(t.TempDir(), "release")
		job, _ := json.Marshal(workerJob{Opts: o, Mode: "hold", Release: release})
		counts, err := statetest.RunHolders(workerEnv, string(job), 8, release)
		if err != nil {
			t.Fatal(err)
		}
		if counts[a.ID] != 4 || counts[b.ID] != 4 {
			t.Errorf("spread %v, want 4 and 4", counts)
		}
	})
}
