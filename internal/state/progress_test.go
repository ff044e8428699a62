package state_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// running records a job of PID pid on host and returns its lease.
func running(t *testing.T, s *state.Store, host int64, pid int) state.Lease {
	t.Helper()
	claim := state.Claim{PID: pid, Owner: "m|b|1", Cmd: "ffmpeg -re -i in.mkv out.ts", Now: now}
	l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(host))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestProgressWriteReadRelease(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "gpu1", "", 1, now)
		a, b := running(t, s, h.ID, 100), running(t, s, h.ID, 200)
		pa := state.JobProgress{ProcessID: a.ProcessID, PID: 100, Position: 65*time.Second + 40*time.Millisecond, HasPosition: true,
			Speed: 1.5, FPS: 37.5, Frames: 1626, At: now.Add(4 * time.Second), AdvancedAt: now.Add(4 * time.Second)}
		if err := s.SetProgress(ctx, pa); err != nil {
			t.Fatal(err)
		}
		// An update replaces the row; N/A position and frames read back as such.
		pb := state.JobProgress{ProcessID: b.ProcessID, PID: 200, Frames: -1, At: now.Add(time.Second), AdvancedAt: now}
		for _, p := range []state.JobProgress{{ProcessID: b.ProcessID, PID: 200, Position: time.Second, HasPosition: true, At: now, AdvancedAt: now}, pb} {
			if err := s.SetProgress(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		// A write for a row that is not this PID's (or no row at all) writes nothing.
		for _, p := range []state.JobProgress{{ProcessID: a.ProcessID, PID: 999, At: now}, {ProcessID: 12345, PID: 100, At: now}} {
			if err := s.SetProgress(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Progress(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pa.HostID, pb.HostID = h.ID, h.ID
		want := map[int64]state.JobProgress{a.ProcessID: pa, b.ProcessID: pb}
		if !equalProgress(got, want) {
			t.Fatalf("progress:\n got %+v\nwant %+v", got, want)
		}
		if err := s.Release(ctx, a); err != nil {
			t.Fatal(err)
		}
		// Released: the row went with the job, and a late write does not bring it back.
		if err := s.SetProgress(ctx, pa); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, o, `SELECT count(*) FROM rffmpeg_progress`); n != 1 {
			t.Errorf("%d progress rows after one release, want 1", n)
		}
		// clear deletes the processes rows; the rest of ours goes with them.
		if _, err := s.Clear(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, o, `SELECT count(*) FROM rffmpeg_progress`); n != 0 {
			t.Errorf("%d progress rows after clear, want 0", n)
		}
	})
}

func equalProgress(got, want map[int64]state.JobProgress) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok || !g.At.Equal(w.At) || !g.AdvancedAt.Equal(w.AdvancedAt) || !g.KillAt.Equal(w.KillAt) {
			return false
		}
		g.At, g.AdvancedAt, g.KillAt = w.At, w.AdvancedAt, w.KillAt
		if !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

func countRows(t *testing.T, o state.Options, q string) int {
	t.Helper()
	driver, dsn := "sqlite3", o.Path
	if o.Backend == state.PostgreSQL {
		driver, dsn = "pgx", o.PostgresDSN()
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKillRequest(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "gpu1", "", 1, now)
		l := running(t, s, h.ID, 300)
		if by, err := s.KillRequest(ctx, l.ProcessID, 300); err != nil || by != "" {
			t.Fatalf("before a request: %q, %v", by, err)
		}
		if err := s.RequestKill(ctx, l.ProcessID, 300, "alice", now); err != nil {
			t.Fatal(err)
		}
		// Progress written after the request keeps it.
		p := state.JobProgress{ProcessID: l.ProcessID, PID: 300, Position: time.Second, HasPosition: true, At: now, AdvancedAt: now}
		if err := s.SetProgress(ctx, p); err != nil {
			t.Fatal(err)
		}
		if by, err := s.KillRequest(ctx, l.ProcessID, 300); err != nil || by != "alice" {
			t.Fatalf("after a request: %q, %v; want alice", by, err)
		}
		got, _ := s.Progress(ctx)
		if g := got[l.ProcessID]; g.KillBy != "alice" || !g.KillAt.Equal(now) || g.Position != time.Second {
			t.Errorf("progress row %+v", g)
		}
		// Not this PID's job, or no job: not found.
		for _, c := range []struct {
			id  int64
			pid int
		}{{l.ProcessID, 301}, {l.ProcessID + 100, 300}} {
			if err := s.RequestKill(ctx, c.id, c.pid, "bob", now); !errors.Is(err, state.ErrNotFound) {
				t.Errorf("kill of %d/%d: %v, want ErrNotFound", c.id, c.pid, err)
			}
		}
		// The shim released and recorded it: ReleaseKilled records nothing more.
		rec := state.JobRecord{HostID: h.ID, Servername: "gpu1", Hostname: "gpu1", Class: "transcode", PID: 300,
			Started: now, ExitCode: 137, Failure: state.FailKilled, KilledBy: "alice"}
		if err := s.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ReleaseKilled(ctx, l.ProcessID, 300, rec); ok || err != nil {
			t.Fatalf("ReleaseKilled of a released job: %v, %v; want false, nil", ok, err)
		}
		// A shim that died holding its rows: released and recorded once.
		l2 := running(t, s, h.ID, 400)
		s.RequestKill(ctx, l2.ProcessID, 400, "alice", now)
		rec.PID = 400
		for i, want := range []bool{true, false} {
			if ok, err := s.ReleaseKilled(ctx, l2.ProcessID, 400, rec); ok != want || err != nil {
				t.Fatalf("ReleaseKilled #%d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		snap, _ := s.Snapshot(ctx)
		if len(snap.Processes) != 0 || len(snap.Marks) != 0 {
			t.Errorf("left rows: processes %+v, states %+v", snap.Processes, snap.Marks)
		}
		jobs, _ := s.History(ctx, state.HistoryQuery{})
		if len(jobs) != 1 || jobs[0].KilledBy != "alice" || jobs[0].Failure != state.FailKilled || jobs[0].PID != 400 {
			t.Errorf("history %+v, want one job killed by alice", jobs)
		}
		if n := countRows(t, o, `SELECT count(*) FROM rffmpeg_progress`); n != 0 {
			t.Errorf("%d progress rows left, want 0", n)
		}
	})
}

func TestStalled(t *testing.T) {
	p := state.JobProgress{At: now, AdvancedAt: now}
	for _, c := range []struct {
		name  string
		p     state.JobProgress
		at    time.Time
		after time.Duration
		want  bool
	}{
		{"fresh", p, now.Add(time.Minute), 2 * time.Minute, false},
		{"stalled", p, now.Add(2 * time.Minute), 2 * time.Minute, true},
		{"check off", p, now.Add(time.Hour), 0, false},
		{"never reported", state.JobProgress{KillBy: "alice"}, now.Add(time.Hour), time.Minute, false},
	} {
		if got := c.p.Stalled(c.at, c.after); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWatchSeesProgress: live views (the console) hear of a progress
// write, on both databases.
func TestWatchSeesProgress(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "gpu1", "", 1, now)
		l := running(t, s, h.ID, 500)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := s.Watch(wctx, 20*time.Millisecond)
		// Watch starts listening (PostgreSQL: a connection and LISTEN) in
		// its own time; a write before that goes unheard. So write until
		// one is heard, each write a new position, within a coarse bound.
		deadline := time.Now().Add(10 * time.Second)
		for i := 1; ; i++ {
			for len(ch) > 0 {
				<-ch
			}
			p := state.JobProgress{ProcessID: l.ProcessID, PID: 500, Position: time.Duration(i) * time.Second, HasPosition: true, At: now, AdvancedAt: now}
			if err := s.SetProgress(ctx, p); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ch:
				if err != nil {
					t.Fatal(err)
				}
				return
			case <-time.After(500 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("Watch reported none of the progress writes of 10 s")
			}
		}
	})
}
