package state_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// TestForeignFileUntouched: a foreign SQLite file at the database path is
// refused as it was found: not switched to WAL, nothing created beside it.
func TestForeignFileUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "music.db")
	db, _ := sql.Open("sqlite3", path)
	if _, err := db.Exec(`CREATE TABLE songs (id INTEGER, title TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err := state.Open(ctx, state.Options{Backend: state.SQLite, Path: path})
	if !errors.Is(err, state.ErrNotRffmpeg) {
		t.Fatalf("open: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("the foreign file changed (bytes 18-19: %v → %v)", before[18:20], after[18:20])
	}
	for _, suffix := range []string{"-wal", "-shm", ".lock", "-journal"} {
		if _, err := os.Lstat(path + suffix); err == nil {
			t.Errorf("created %s beside a foreign file", suffix)
		}
	}
}

// TestReadOnly: Options.ReadOnly reads without writing anything.
func TestReadOnly(t *testing.T) {
	o := statetest.NewSQLite(t)
	s := initStore(t, o)
	s.AddHost(ctx, "a.lan", "", 1, now)
	s.Close()
	o.ReadOnly = true
	r, err := state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap, err := r.Snapshot(ctx)
	if err != nil || len(snap.Hosts) != 1 {
		t.Errorf("snapshot: %v %v", snap.Hosts, err)
	}
	if err := r.Reap(ctx, []int64{1}, nil); err != nil {
		t.Errorf("reap on a read-only store: %v (want nothing done)", err)
	}
	if _, err := r.AddHost(ctx, "b.lan", "", 1, now); err == nil {
		t.Errorf("a read-only store wrote")
	}
	// A database that needs an upgrade cannot be read that way: said so.
	old := statetest.NewSQLite(t)
	statetest.CreateOriginal(t, old, true)
	old.ReadOnly = true
	if _, err := state.Open(ctx, old); !errors.Is(err, state.ErrReadOnly) || !strings.Contains(err.Error(), "write access") {
		t.Errorf("read-only open of an old database: %v", err)
	}
}

// TestReaderWithoutWriteAccess: an account that can read the database but
// not write it (nor its side files) gets status, read-only, and is told.
func TestReaderWithoutWriteAccess(t *testing.T) {
	uid, gid, _ := testUser(t)
	base, err := os.MkdirTemp("", "rffmpeg-reader-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "state.test")
	copyFile(t, bin)
	o := state.Options{Backend: state.SQLite, Path: filepath.Join(base, "rffmpeg.db")}
	s, err := state.Init(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	s.AddHost(ctx, "a.lan", "", 1, now)
	s.Close()
	for _, p := range []string{o.Path, o.Path + "-wal", o.Path + "-shm"} {
		os.Chmod(p, 0o644)
	}
	// With a writer running (its last write still in the WAL), then alone.
	w, err := state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	w.AddHost(ctx, "b.lan", "", 1, now)
	for _, writer := range []bool{true, false} {
		if !writer {
			w.Close()
		}
		out, err := asUserMode(t, bin, uid, gid, o, "read")
		if err != nil || !strings.Contains(out, "2 hosts; read-only true") || !strings.Contains(out, "not writable") {
			t.Errorf("reader (writer running: %v): %v %q", writer, err, out)
		}
	}
}

// TestHugeCommand: a 50 MB cmd another tool wrote costs a snapshot what
// it shows (CmdReadLimit), not the row's size.
func TestHugeCommand(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		db := statetest.Raw(t, o)
		defer db.Close()
		huge := strings.Repeat("ffmpeg -i x ", 50<<20/12)
		if _, err := db.Exec(bind(o, `INSERT INTO processes (host_id, process_id, cmd) VALUES (0, 1, ?)`), huge); err != nil {
			t.Fatal(err)
		}
		s.Snapshot(ctx) // warm up: connections, caches
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		snap, err := s.Snapshot(ctx)
		runtime.ReadMemStats(&m1)
		if err != nil || len(snap.Processes) != 1 {
			t.Fatalf("snapshot: %v %v", len(snap.Processes), err)
		}
		if got := len(snap.Processes[0].Cmd); got != state.CmdReadLimit {
			t.Errorf("read %d bytes of the command, want %d", got, state.CmdReadLimit)
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 8<<20 {
			t.Errorf("a snapshot allocated %d MB", alloc>>20)
		}
	})
}
