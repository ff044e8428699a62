package state_test

import (
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// hotCheckpointPages is state's hotCheckpoint: the WAL size, in pages, at
// which a shim's connection checkpoints.
const hotCheckpointPages = 200

// walFrames is how many 4 KiB pages the WAL file holds (0 when missing).
func walFrames(t *testing.T, o state.Options) int {
	t.Helper()
	fi, err := os.Stat(o.Path + "-wal")
	if err != nil {
		return 0
	}
	return int(fi.Size()) / (4096 + 24)
}

// hotCall is a shim's database work, alone: open, acquire, release, close.
func hotCall(t *testing.T, o state.Options, i int) {
	t.Helper()
	s, err := state.Open(ctx, o)
	if err != nil {
		t.Fatalf("call %d: open: %v", i, err)
	}
	defer s.Close()
	claim := state.Claim{PID: 1000 + i, Owner: "test", Cmd: "ffmpeg -version", Now: now}
	l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
	if err != nil {
		t.Fatalf("call %d: acquire: %v", i, err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatalf("call %d: release: %v", i, err)
	}
}

func hotStore(t *testing.T) state.Options {
	t.Helper()
	o := statetest.NewSQLite(t)
	s := initStore(t, o)
	if _, err := s.AddHost(ctx, "a.lan", "", 1, now); err != nil {
		t.Fatal(err)
	}
	s.Close()
	o.Hot = true
	return o
}

// A shim's checkpoint empties the WAL: no call leaves it at the threshold,
// so the next call opening the database alone neither recovers those frames
// nor copies them to the database (and syncs) a second time.
func TestHotCheckpointEmptiesWAL(t *testing.T) {
	o := hotStore(t)
	most, emptied := 0, false
	for i := 0; i < 120; i++ {
		hotCall(t, o, i)
		n := walFrames(t, o)
		most = max(most, n)
		if n >= hotCheckpointPages {
			t.Fatalf("after call %d the WAL holds %d pages; want fewer than %d (checkpointed and emptied)", i, n, hotCheckpointPages)
		}
		if most > hotCheckpointPages/2 && n < most/4 {
			emptied = true
		}
	}
	if !emptied {
		t.Errorf("the WAL grew to %d pages and was never emptied in 120 calls", most)
	}
	// What the checkpoints copied is in the database file.
	s, err := state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Snapshot(ctx)
	if err != nil || len(snap.Hosts) != 1 || len(snap.Processes) != 0 {
		t.Errorf("after 120 calls: hosts %+v, processes %+v, %v; want a.lan and no process", snap.Hosts, snap.Processes, err)
	}
}

// A reader holding a snapshot cannot let the WAL be emptied; the calls
// that reach the threshold meanwhile must not wait for it (the busy
// handler's backoff would hold each for up to a minute), and the WAL is
// emptied once the reader is gone.
func TestHotCheckpointNeverWaitsForAReader(t *testing.T) {
	o := hotStore(t)
	raw := statetest.Raw(t, o)
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN: a reader
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM hosts").Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader: %d hosts, %v", n, err)
	}
	for i := 0; walFrames(t, o) < hotCheckpointPages+20; i++ {
		if i > 200 {
			t.Fatalf("the WAL never passed %d pages with a reader open", hotCheckpointPages)
		}
		t0 := time.Now()
		hotCall(t, o, i)
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("call %d took %v with a reader open; want no wait", i, d)
		}
	}
	tx.Rollback()
	for i := 0; i < 30 && walFrames(t, o) >= hotCheckpointPages; i++ {
		hotCall(t, o, 1000+i)
	}
	if got := walFrames(t, o); got >= hotCheckpointPages {
		t.Errorf("WAL still %d pages after the reader ended; want it emptied", got)
	}
}
