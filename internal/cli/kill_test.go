package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// startJob starts a real process standing in for a shim and records it as
// a running job on a host, with its real identity; ended is closed once
// it exited (and was reaped).
func startJob(t *testing.T, s *state.Store, script string) (pid int, lease state.Lease, ended chan struct{}) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended = make(chan struct{})
	go func() { cmd.Wait(); close(ended) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-ended })
	pid = cmd.Process.Pid
	self := owner.Self()
	var start uint64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if start, err = owner.StartTime(pid); err == nil || time.Now().After(deadline) {
			break
		}
	}
	id := owner.Identity{Machine: self.Machine, Boot: self.Boot, PID: pid, Start: start}
	h, err := s.AddHost(context.Background(), "gpu"+strconv.Itoa(pid), "", 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claim := state.Claim{PID: pid, Owner: id.String(), Cmd: "ffmpeg -re -i in.mkv out.ts", Now: time.Now()}
	lease, _, _, err = s.Acquire(context.Background(), state.AcquireRequest{Claim: claim},
		func(state.Snapshot) state.Decision { return state.Decision{HostID: h.ID} })
	if err != nil {
		t.Fatal(err)
	}
	return pid, lease, ended
}

// TestKillJob signals real processes: one that ends on SIGTERM, one that
// ignores it and needs SIGKILL; neither wrote a history row itself, so
// the kill does, once, saying who killed it.
func TestKillJob(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := state.Init(ctx, b.New(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, c := range []struct {
				name, script string
				byJobID      bool
				signal       string
				exit         int
			}{
				{"ends on TERM", "exec sleep 60", false, "TERM", 143},
				{"ignores TERM", "trap '' TERM; while :; do sleep 0.05; done", true, "KILL", 137},
			} {
				pid, lease, ended := startJob(t, s, c.script)
				req := cli.KillRequest{PID: pid, By: "alice", Grace: 500 * time.Millisecond, Now: time.Now()}
				if c.byJobID {
					req.PID, req.JobID = 0, lease.ProcessID
				}
				t0 := time.Now()
				res, err := cli.KillJob(ctx, s, req)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				select {
				case <-ended:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: PID %d still runs after the kill", c.name, pid)
				}
				if res.Signal != c.signal || res.PID != pid || res.JobID != lease.ProcessID || !res.Recorded || res.KilledBy != "alice" {
					t.Errorf("%s: result %+v", c.name, res)
				}
				if c.signal == "KILL" && time.Since(t0) < req.Grace {
					t.Errorf("%s: SIGKILL after %v, before the grace of %v", c.name, time.Since(t0), req.Grace)
				}
				jobs, _ := s.History(ctx, state.HistoryQuery{Limit: 1})
				if len(jobs) != 1 || jobs[0].PID != pid || jobs[0].Failure != state.FailKilled || jobs[0].KilledBy != "alice" || jobs[0].ExitCode != c.exit {
					t.Errorf("%s: history %+v", c.name, jobs)
				}
				snap, _ := s.Snapshot(ctx)
				if len(snap.Processes) != 0 {
					t.Errorf("%s: rows left: %+v", c.name, snap.Processes)
				}
				// Gone now: a second kill is refused, and signals nothing.
				if _, err := cli.KillJob(ctx, s, req); !errors.Is(err, cli.ErrNoSuchJob) {
					t.Errorf("%s: second kill: %v, want ErrNoSuchJob", c.name, err)
				}
			}
		})
	}
}

// TestKillVerbJSON runs `rffmpeg kill --json` as an admin would, through
// sudo: the document names the job and who killed it.
func TestKillVerbJSON(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rffmpeg.db")
	cfg := "rffmpeg:\n  logging:\n    logfile: " + filepath.Join(dir, "rffmpeg.log") + "\n  directories:\n    state: " + dir +
		"\n    persist: " + dir + "\n  database:\n    path: " + db + "\n"
	if err := os.WriteFile(filepath.Join(dir, "rffmpeg.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := state.Init(context.Background(), state.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid, lease, ended := startJob(t, s, "exec sleep 60")
	var out, errb lockedBuffer
	env := testEnv(map[string]string{"RFFMPEG_CONFIG": filepath.Join(dir, "rffmpeg.yml"), "SUDO_USER": "bob"}, &out, &errb)
	if code := cli.Main([]string{"kill", "--json", "--grace", "5", strconv.Itoa(pid)}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	<-ended
	var res cli.KillResult
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.PID != pid || res.JobID != lease.ProcessID || res.KilledBy != "bob" || res.Signal != "TERM" || res.Command != "ffmpeg -re -i in.mkv out.ts" {
		t.Errorf("kill --json: %+v", res)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "rffmpeg.log")); !strings.Contains(string(log), "rffmpeg kill: killed job "+strconv.FormatInt(lease.ProcessID, 10)) {
		t.Errorf("no audit line in the log:\n%s", log)
	}
}
