package e2e

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// progressJob is a job as status --json shows its progress.
type progressJob struct {
	ID              int64    `json:"id"`
	PID             int      `json:"pid"`
	Command         string   `json:"command"`
	PositionSeconds *float64 `json:"position_seconds"`
	Speed           *float64 `json:"speed"`
	FPS             *float64 `json:"fps"`
	Stalled         bool     `json:"stalled"`
	KillRequestedBy *string  `json:"kill_requested_by"`
}

// jobProgress is the job of shim PID pid in status --json (ok false: not
// listed).
func (e *env) jobProgress(pid int) (progressJob, bool) {
	e.t.Helper()
	var s struct {
		Hosts []struct {
			Processes []progressJob `json:"processes"`
		} `json:"hosts"`
	}
	out := e.mustCLI("status", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json: %v: %s", err, out)
	}
	for _, h := range s.Hosts {
		for _, p := range h.Processes {
			if p.PID == pid {
				return p, true
			}
		}
	}
	return progressJob{}, false
}

// waitProgress waits for the job of shim PID pid to report a position
// past after, and returns it.
func (e *env) waitProgress(pid int, after float64, limit time.Duration) progressJob {
	e.t.Helper()
	var p progressJob
	if !waitFor(limit, func() bool {
		var ok bool
		p, ok = e.jobProgress(pid)
		return ok && p.PositionSeconds != nil && *p.PositionSeconds > after
	}) {
		e.t.Fatalf("job %d reported no position past %.1f s within %s (last %+v)\n%s", pid, after, limit, p, e.logText())
	}
	return p
}

// A real remote ffmpeg (-re, so it runs in real time) shows an advancing
// position and its speed in status; `rffmpeg kill` ends it, the remote
// ffmpeg is gone, and the history says who killed it. Through an ssh
// client and over the master's socket (the mux path).
func TestProgressAndKill(t *testing.T) {
	for i, mux := range []string{"0", "1"} {
		t.Run("mux="+mux, func(t *testing.T) {
			_, e := twoHosts(t, nil)
			e.extra = append(e.extra, "RFFMPEG_SSH_MUX="+mux)
			if mux == "1" {
				// The master is up once a first call ran.
				if r := e.run("ffmpeg", nil, "-version"); r.code != 0 {
					t.Fatalf("ffmpeg -version: exit %d", r.code)
				}
			}
			progressAndKill(t, e, "testsrc=rate=10:duration=63.1"+strconv.Itoa(i), mux == "1")
		})
	}
}

func progressAndKill(t *testing.T, e *env, marker string, mux bool) {
	c, remote := remoteJob(t, e, marker)
	shim := c.Process.Pid
	first := e.waitProgress(shim, 0, 15*time.Second)
	if first.Speed == nil || *first.Speed <= 0 || first.FPS == nil || first.Stalled || first.ID == 0 {
		t.Errorf("progress %+v: want a speed, an fps, not stalled", first)
	}
	// Recorded every 2 s: the next record is further on.
	next := e.waitProgress(shim, *first.PositionSeconds, 10*time.Second)
	if *next.Speed < 0.2 || *next.Speed > 3 {
		t.Errorf("speed %.2f of a -re job, want about 1", *next.Speed)
	}
	text := e.mustCLI("status")
	if !strings.Contains(text, "PID "+strconv.Itoa(shim)+": ffmpeg") || !strings.Contains(text, "x, ") {
		t.Errorf("status text lacks the job's progress:\n%s", text)
	}

	// Not rffmpeg jobs: refused, nothing signalled.
	for _, target := range []string{"1", strconv.Itoa(remote)} {
		r := e.run("rffmpeg", nil, "kill", target)
		if r.code != 1 || !oneLineError(string(r.stderr)) || !strings.Contains(string(r.stderr), "not a running rffmpeg job") {
			t.Errorf("kill %s: exit %d, stderr %q; want 1 and one line", target, r.code, r.stderr)
		}
	}
	if len(remotePIDs(marker)) != 1 {
		t.Fatalf("the remote job ended on a refused kill")
	}

	e.extra = append(e.extra, "SUDO_USER=alice")
	t0 := time.Now()
	r := e.run("rffmpeg", nil, "kill", strconv.Itoa(shim))
	if r.code != 0 || !strings.Contains(string(r.stdout), "stopped (SIGTERM)") {
		t.Fatalf("kill: exit %d: %s%s\n%s", r.code, r.stdout, r.stderr, e.logText())
	}
	if _, _, ok := waitExit(c, 10*time.Second); !ok {
		t.Fatalf("the shim still runs after rffmpeg kill")
	}
	if !waitFor(3*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg %v still runs %s after the kill", remotePIDs(marker), time.Since(t0).Round(time.Millisecond))
	}
	h := e.history("-n", "1")
	if len(h.Jobs) != 1 || h.Jobs[0].Outcome != "killed" || h.Jobs[0].KilledBy != "alice" || !strings.Contains(h.Jobs[0].Command, marker) {
		t.Errorf("history %+v, want the job killed by alice", h.Jobs)
	}
	if ran := strings.Contains(e.logText(), "Ran over the master connection's socket"); ran != mux {
		t.Errorf("ran over the master's socket: %v, want %v", ran, mux)
	}
	if r := e.run("rffmpeg", nil, "kill", strconv.Itoa(shim)); r.code != 1 || !oneLineError(string(r.stderr)) {
		t.Errorf("second kill: exit %d, stderr %q; want 1 and one line", r.code, r.stderr)
	}
}

// A job paused on its host (SIGSTOP of the remote ffmpeg) stops
// advancing and is flagged stalled after stall_after; resumed, it is not.
func TestStallFlagged(t *testing.T) {
	_, e := twoHosts(t, map[string]string{"commands": "stall_after: 3"})
	marker := "testsrc=rate=10:duration=62.9"
	c, remote := remoteJob(t, e, marker)
	shim := c.Process.Pid
	e.waitProgress(shim, 0, 15*time.Second)
	syscall.Kill(remote, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(remote, syscall.SIGCONT) })
	var p progressJob
	if !waitFor(20*time.Second, func() bool { p, _ = e.jobProgress(shim); return p.Stalled }) {
		t.Fatalf("a paused job not flagged stalled within 20 s: %+v\n%s", p, e.logText())
	}
	if text := e.mustCLI("status"); !strings.Contains(text, "STALLED: no progress for") {
		t.Errorf("status text does not say stalled:\n%s", text)
	}
	// The shim looks every 2 s: it may say so a moment after status does.
	if !waitFor(5*time.Second, func() bool { return strings.Contains(e.logText(), "Job stalled") }) {
		t.Errorf("the shim's log does not say the job stalled:\n%s", e.logText())
	}
	if st, _, _ := procStat(remote); st != "T" {
		t.Errorf("the stalled job was touched (state %q) without stop_stalled", st)
	}
	syscall.Kill(remote, syscall.SIGCONT)
	if !waitFor(15*time.Second, func() bool { p, _ = e.jobProgress(shim); return !p.Stalled }) {
		t.Errorf("a resumed job still flagged stalled: %+v", p)
	}
}

// With stop_stalled the shim stops a stalled job itself: SIGTERM, which a
// paused ffmpeg cannot act on, then SIGKILL after the grace; the remote
// ffmpeg is gone and the history says why.
func TestStalledJobStopped(t *testing.T) {
	_, e := twoHosts(t, map[string]string{"commands": "stall_after: 2\nstop_stalled: true"})
	marker := "testsrc=rate=10:duration=61.3"
	c, remote := remoteJob(t, e, marker)
	e.waitProgress(c.Process.Pid, 0, 15*time.Second)
	syscall.Kill(remote, syscall.SIGSTOP)
	code, took, ok := waitExit(c, 40*time.Second)
	if !ok {
		t.Fatalf("the stalled job was not stopped within 40 s\n%s", e.logText())
	}
	if code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %d after %s, want %d (SIGKILL)", code, took, 128+int(syscall.SIGKILL))
	}
	if !waitFor(3*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg %v still there", remotePIDs(marker))
	}
	h := e.history("-n", "1")
	if len(h.Jobs) != 1 || h.Jobs[0].Outcome != "stalled" || !strings.Contains(h.Jobs[0].KilledBy, "no progress for") {
		t.Errorf("history %+v, want the job stopped as stalled", h.Jobs)
	}
	for _, line := range []string{"Job stalled", "SIGTERM to remote PID " + strconv.Itoa(remote), "SIGKILL to remote PID " + strconv.Itoa(remote)} {
		if !strings.Contains(e.logText(), line) {
			t.Errorf("log lacks %q", line)
		}
	}
}

// A local fallback job whose stderr is a pipe (as a media server reads
// it) reports its progress too: status --json shows an advancing position
// and a speed under fallback_processes, every byte of stderr still reaches
// the caller (the stats lines and ffmpeg's own last words on SIGTERM), and
// the exit code is ffmpeg's.
func TestFallbackProgress(t *testing.T) {
	e := newEnv(t, nil, nil) // no hosts: every job runs here
	e.mustCLI("init", "-y", "--no-root")
	var stderr bytes.Buffer // read only after Wait, which waits for the copy
	c := e.cmd("ffmpeg", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=rate=10:duration=62.3", "-f", "null", "-")
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pos := func() (progressJob, bool) {
		var s struct {
			Fallback []progressJob `json:"fallback_processes"`
		}
		if err := json.Unmarshal([]byte(e.mustCLI("status", "--json")), &s); err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Fallback {
			if p.PID == c.Process.Pid && p.PositionSeconds != nil {
				return p, true
			}
		}
		return progressJob{}, false
	}
	var first, next progressJob
	if !waitFor(15*time.Second, func() bool { var ok bool; first, ok = pos(); return ok }) {
		t.Fatalf("no progress for the fallback job within 15 s:\n%s", e.logText())
	}
	if !waitFor(10*time.Second, func() bool {
		var ok bool
		next, ok = pos()
		return ok && *next.PositionSeconds > *first.PositionSeconds
	}) {
		t.Fatalf("the position did not advance past %.1f s", *first.PositionSeconds)
	}
	if next.Speed == nil || *next.Speed < 0.2 || *next.Speed > 3 {
		t.Errorf("speed %v of a -re job, want about 1", next.Speed)
	}
	c.Process.Signal(syscall.SIGTERM)
	err := c.Wait()
	if code := c.ProcessState.ExitCode(); code != 255 {
		t.Errorf("exit %d (%v), want ffmpeg's 255 after SIGTERM", code, err)
	}
	out := stderr.String()
	for _, want := range []string{"Input #0, lavfi", "frame=", "Exiting normally, received signal 15"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}
