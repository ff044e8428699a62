package shim

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A remote job's progress: the relay hands every ffmpeg stats line to the
// tracker (remote.Spec.Progress), which only keeps the latest; its own
// goroutine writes it to the job's row every ProgressOptions.Every, each
// write bounded, so a busy database skips an update and never holds the
// job's stream. The same goroutine flags a job whose position stopped
// advancing and, when configured, stops it.
//
// A local job (the fallback, a localhost host) is followed the same way
// where its stderr can pass through the shim unnoticed (remote.Spec's
// Progress: not to a terminal, not 2>&1); elsewhere it keeps the caller's
// stderr as its own and reports no progress.

// ProgressOptions are how progress is recorded and stalls are handled.
type ProgressOptions struct {
	Every time.Duration // how often the latest progress is written; 0: DefaultProgressEvery
	// StallAfter: a job whose position has not advanced for this long is
	// stalled (0: never); with StopStalled the shim stops it: SIGTERM to
	// the remote job, SIGKILL when it is still there StopGrace later.
	StallAfter  time.Duration
	StopStalled bool
	StopGrace   time.Duration // 0: DefaultStopGrace
}

// Defaults of ProgressOptions.
const (
	DefaultProgressEvery = 2 * time.Second
	// DefaultStopGrace: ffmpeg ends within a second of SIGTERM when it
	// can (it finishes the file); one stopped or stuck in the kernel does
	// not, and gets SIGKILL.
	DefaultStopGrace = 10 * time.Second
)

// progressWrite bounds one progress write.
const progressWrite = time.Second

// tracker follows one remote job.
type tracker struct {
	c      *call
	signal func(sig syscall.Signal, pid int) bool // to the remote job
	done   chan struct{}
	ended  chan struct{}

	mu       sync.Mutex
	cur      state.JobProgress
	dirty    bool
	pid      int    // the remote job's PID, 0 until known
	pidName  string // how the log names it: "remote PID" or "local PID"
	stalled  bool
	stopping bool
}

// track starts following the job whose rows are c.lease; signal reaches
// the remote job. Nil (no goroutine, no ticker) when there is nothing to
// record to or the call prints no stats line: ffprobe, ffmpeg -version
// and the other special flags (most of a library scan's calls).
func (c *call) track(signal func(sig syscall.Signal, pid int) bool) *tracker {
	if c.store == nil || c.lease.ProcessID == 0 || c.j.As == "ffprobe" || c.j.Special {
		return nil // nothing to record to, or a call that prints no stats line
	}
	t := &tracker{c: c, signal: signal, done: make(chan struct{}), ended: make(chan struct{}),
		cur: state.JobProgress{ProcessID: c.lease.ProcessID, PID: c.env.Self.PID}, pidName: "remote PID"}
	go t.loop()
	return t
}

// observe is remote.Spec.Progress: called on the relay's goroutine for
// each stats line; it only takes a lock and copies numbers.
func (t *tracker) observe(p remote.Progress) {
	now := t.c.env.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	first := t.cur.At.IsZero()
	if first || p.HasPosition && (!t.cur.HasPosition || p.Position > t.cur.Position) {
		t.cur.AdvancedAt = now
	}
	if p.HasPosition {
		t.cur.Position, t.cur.HasPosition = p.Position, true
	}
	t.cur.Speed, t.cur.FPS, t.cur.Frames, t.cur.At = p.Speed, p.FPS, p.Frame, now
	t.dirty = true
}

// remotePID notes the remote job's PID (the stall stop signals it).
func (t *tracker) remotePID(pid int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.pid = pid
	t.mu.Unlock()
}

// progressFunc is the Spec.Progress of a job followed by t (nil: none).
func (t *tracker) progressFunc() func(remote.Progress) {
	if t == nil {
		return nil
	}
	return t.observe
}

// stop ends the tracker once the job ended, waiting for a write in flight
// (bounded by progressWrite), so no write comes after the job's release.
func (t *tracker) stop() {
	if t == nil {
		return
	}
	close(t.done)
	<-t.ended
}

func (t *tracker) loop() {
	defer close(t.ended)
	every := t.c.o.Progress.Every
	if every <= 0 {
		every = DefaultProgressEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		cur, dirty := t.cur, t.dirty
		t.dirty = false
		t.mu.Unlock()
		if dirty {
			ctx, cancel := context.WithTimeout(context.Background(), progressWrite)
			if err := t.c.store.SetProgress(ctx, cur); err != nil {
				t.c.log.Debugf("Progress not recorded: %v", err)
			}
			cancel()
		}
		t.checkStall(cur)
	}
}

// checkStall flags (once) a job whose position stopped advancing, and
// stops it when StopStalled says so.
func (t *tracker) checkStall(cur state.JobProgress) {
	o := t.c.o.Progress
	now := t.c.env.Now()
	if t.stalled || !cur.Stalled(now, o.StallAfter) {
		return
	}
	t.stalled = true
	still := now.Sub(cur.AdvancedAt).Round(time.Second)
	t.c.log.Warnf("Job stalled: its position (%s) has not advanced for %s", cur.Position.Round(time.Millisecond), still)
	if !o.StopStalled {
		return
	}
	t.mu.Lock()
	pid := t.pid
	t.mu.Unlock()
	if pid == 0 {
		t.c.log.Warnf("Cannot stop the stalled job: its remote PID is unknown")
		return
	}
	t.c.setStalled(fmt.Sprintf("rffmpeg: no progress for %s (commands.stall_after)", still))
	go t.stopStalled(pid)
}

// stopStalled ends the stalled remote job: SIGTERM (ffmpeg finishes its
// output and exits), then SIGKILL if it is still there after the grace
// (a job stopped with SIGSTOP, or stuck, ignores SIGTERM until then).
func (t *tracker) stopStalled(pid int) {
	grace := t.c.o.Progress.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	t.c.log.Warnf("Stopping the stalled job (commands.stop_stalled): SIGTERM to %s %d", t.pidName, pid)
	t.signal(syscall.SIGTERM, pid)
	select {
	case <-t.done:
		return
	case <-time.After(grace):
	}
	t.c.log.Warnf("The stalled job is still there after %s: SIGKILL to %s %d", grace, t.pidName, pid)
	t.signal(syscall.SIGKILL, pid)
}

// stallStop is why the shim stopped its job itself ("": it did not).
type stallStop struct {
	mu  sync.Mutex
	why string
}

func (c *call) setStalled(why string) {
	c.stall.mu.Lock()
	c.stall.why = why
	c.stall.mu.Unlock()
}

func (c *call) stalledWhy() string {
	c.stall.mu.Lock()
	defer c.stall.mu.Unlock()
	return c.stall.why
}

// stopReason fills in the history row of a job that did not end by
// itself: the shim stopped it as stalled, or `rffmpeg kill` asked (read
// from the job's row while it is still there, within the caller's bound).
// A job that exited 0 finished before any stop took effect.
func (c *call) stopReason(ctx context.Context, rec *state.JobRecord) {
	if rec.ExitCode == 0 {
		return
	}
	if why := c.stalledWhy(); why != "" {
		rec.Failure, rec.KilledBy = state.FailStalled, why
		return
	}
	if c.lease.ProcessID == 0 {
		return
	}
	by, err := c.store.KillRequest(ctx, c.lease.ProcessID, c.env.Self.PID)
	if err != nil {
		c.log.Debugf("%v", err)
	}
	if by != "" {
		c.log.Infof("The job was stopped by rffmpeg kill (%s)", by)
		rec.Failure, rec.KilledBy = state.FailKilled, by
	}
}
