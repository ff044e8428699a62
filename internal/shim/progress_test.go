package shim

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// signalling is a fake whose forwarded signals are recorded by number.
type signalling struct {
	*fake
	mu   sync.Mutex
	sigs []syscall.Signal
	got  chan syscall.Signal
}

func (s *signalling) Signal(_ remote.SSH, _ int, sig syscall.Signal) bool {
	s.mu.Lock()
	s.sigs = append(s.sigs, sig)
	s.mu.Unlock()
	s.got <- sig
	return true
}

// waitFor polls cond every 10 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (w *world) history() []state.JobRecord {
	w.t.Helper()
	jobs, err := w.store.History(context.Background(), state.HistoryQuery{})
	if err != nil {
		w.t.Fatal(err)
	}
	return jobs
}

func TestProgressRecorded(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	w.o.Progress.Every = 20 * time.Millisecond
	ctx := context.Background()
	var seen state.JobProgress
	f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		if spec.Progress == nil {
			t.Fatal("a remote job without a progress callback")
		}
		spec.OnPID(77)
		spec.Progress(remote.Progress{Frame: 10, FPS: 25, Position: 400 * time.Millisecond, HasPosition: true, Speed: 1})
		spec.Progress(remote.Progress{Frame: 60, FPS: 30, Position: 2500 * time.Millisecond, HasPosition: true, Speed: 1.5})
		waitFor(t, "the progress row", func() bool {
			all, err := w.store.Progress(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range all {
				seen = p
			}
			return seen.Frames == 60
		})
		return remote.Result{Started: true}
	}}
	if code := w.call(f, "-i", "in.mkv", "out.ts"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if seen.Position != 2500*time.Millisecond || seen.Speed != 1.5 || seen.FPS != 30 || !seen.HasPosition || seen.At.IsZero() {
		t.Errorf("recorded %+v", seen)
	}
	all, _ := w.store.Progress(ctx)
	if len(all) != 0 {
		t.Errorf("progress rows after the job: %+v", all)
	}
	if h := w.history(); len(h) != 1 || h[0].Failure != "" || h[0].KilledBy != "" {
		t.Errorf("history %+v", h)
	}
}

// TestStalledJobStopped: with stop_stalled, a job whose position stays put
// gets SIGTERM, then SIGKILL after the grace; its history says why.
func TestStalledJobStopped(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	w.o.Progress = ProgressOptions{Every: 20 * time.Millisecond, StallAfter: 100 * time.Millisecond, StopStalled: true, StopGrace: 100 * time.Millisecond}
	f := &signalling{got: make(chan syscall.Signal, 4)}
	f.fake = &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		spec.OnPID(77)
		spec.Progress(remote.Progress{Position: time.Second, HasPosition: true, Speed: 1})
		spec.Progress(remote.Progress{Position: time.Second, HasPosition: true, Speed: 0})
		for sig := range f.got {
			if sig == syscall.SIGKILL {
				break // a paused job ignores SIGTERM: only KILL ends it
			}
		}
		return remote.Result{Started: true, Code: 137}
	}}
	if code := w.call(f, "-i", "in.mkv", "out.ts"); code != 137 {
		t.Fatalf("exit %d, want 137", code)
	}
	f.mu.Lock()
	sigs := append([]syscall.Signal{}, f.sigs...)
	f.mu.Unlock()
	if len(sigs) != 2 || sigs[0] != syscall.SIGTERM || sigs[1] != syscall.SIGKILL {
		t.Errorf("signals %v, want TERM then KILL", sigs)
	}
	h := w.history()
	if len(h) != 1 || h[0].Failure != state.FailStalled || !strings.Contains(h[0].KilledBy, "no progress for") {
		t.Errorf("history %+v, want one stalled job", h)
	}
	for _, line := range []string{"Job stalled: its position (1s) has not advanced", "SIGTERM to remote PID 77", "SIGKILL to remote PID 77"} {
		if !strings.Contains(w.logText(), line) {
			t.Errorf("log lacks %q:\n%s", line, w.logText())
		}
	}
}

// TestStalledFlaggedOnly: without stop_stalled a stalled job is flagged in
// the log and left alone.
func TestStalledFlaggedOnly(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	w.o.Progress = ProgressOptions{Every: 20 * time.Millisecond, StallAfter: 50 * time.Millisecond}
	f := &signalling{got: make(chan syscall.Signal, 4)}
	f.fake = &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		spec.OnPID(77)
		spec.Progress(remote.Progress{Position: time.Second, HasPosition: true})
		waitFor(t, "the stall warning", func() bool { return strings.Contains(w.logText(), "Job stalled") })
		time.Sleep(100 * time.Millisecond)
		return remote.Result{Started: true, Code: 0}
	}}
	w.call(f, "-i", "in.mkv", "out.ts")
	if len(f.sigs) != 0 {
		t.Errorf("signals %v, want none", f.sigs)
	}
	if h := w.history(); len(h) != 1 || h[0].Failure != "" {
		t.Errorf("history %+v", h)
	}
}

// TestKilledJobRecorded: a kill request found when the job ends names who
// killed it in the history row.
func TestKilledJobRecorded(t *testing.T) {
	for _, c := range []struct {
		name        string
		code        int
		failure, by string
	}{
		{"stopped by the request", 255, state.FailKilled, "alice"},
		{"finished first", 0, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, "", "gpu1")
			ctx := context.Background()
			f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
				snap, err := w.store.Snapshot(ctx)
				if err != nil || len(snap.Processes) != 1 {
					t.Fatalf("processes %+v, %v", snap.Processes, err)
				}
				p := snap.Processes[0]
				if err := w.store.RequestKill(ctx, p.ID, p.PID, "alice", time.Now()); err != nil {
					t.Fatal(err)
				}
				return remote.Result{Started: true, Code: c.code}
			}}
			w.call(f, "-i", "in.mkv", "out.ts")
			h := w.history()
			if len(h) != 1 || h[0].Failure != c.failure || h[0].KilledBy != c.by {
				t.Errorf("history %+v, want failure %q by %q", h, c.failure, c.by)
			}
		})
	}
}
