package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	return recordJob(t, s, exec.Command("/bin/sh", "-c", script))
}

// startSelfJob is startJob with this test binary as the job, sleeping
// (TestHelperSleep): the program `rffmpeg kill` signals only.
func startSelfJob(t *testing.T, s *state.Store) (pid int, lease state.Lease, ended chan struct{}) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSleep$")
	cmd.Env = append(os.Environ(), "RFFMPEG_TEST_HELPER_SLEEP=1")
	return recordJob(t, s, cmd)
}

// TestHelperSleep is the job of startSelfJob; run otherwise, it does nothing.
func TestHelperSleep(t *testing.T) {
	if os.Getenv("RFFMPEG_TEST_HELPER_SLEEP") == "1" {
		time.Sleep(time.Minute)
	}
}

func recordJob(t *testing.T, s *state.Store, cmd *exec.Cmd) (pid int, lease state.Lease, ended chan struct{}) {
	t.Helper()
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

// runs waits until pid runs the program named name (found in $PATH) and
// returns its path as /proc shows it.
func runs(t *testing.T, pid int, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == want {
			return want
		}
	}
	t.Fatalf("PID %d does not run %s", pid, want)
	return ""
}

// A row naming a process that runs another program than the job's (a row
// forged by someone who can write the database, naming a process of
// root's with its real start time) is refused and nothing is signalled.
func TestKillRefusesAnotherProgram(t *testing.T) {
	ctx := context.Background()
	b := statetest.Backends(t)[0]
	s, err := state.Init(ctx, b.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid, _, ended := startJob(t, s, "exec sleep 60")
	runs(t, pid, "sleep")
	shell, _ := filepath.EvalSymlinks("/bin/sh")
	for _, program := range []string{"", shell} { // this test binary; a shell
		_, err := cli.KillJob(ctx, s, cli.KillRequest{PID: pid, By: "mallory", Grace: time.Second, Now: time.Now(), Program: program})
		if !errors.Is(err, cli.ErrNoSuchJob) {
			t.Errorf("program %q: %v, want ErrNoSuchJob", program, err)
		}
	}
	select {
	case <-ended:
		t.Fatal("the process was signalled")
	case <-time.After(300 * time.Millisecond):
	}
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
				name, script, program string
				byJobID               bool
				grace                 time.Duration
				signal                string
				exit                  int
			}{
				// A grace far above a loaded machine's TERM-to-exit time.
				{"ends on TERM", "exec sleep 60", "sleep", false, 10 * time.Second, "TERM", 143},
				{"ignores TERM", "trap '' TERM; while :; do sleep 0.05; done", "sh", true, 500 * time.Millisecond, "KILL", 137},
			} {
				pid, lease, ended := startJob(t, s, c.script)
				program := runs(t, pid, c.program)
				req := cli.KillRequest{PID: pid, By: "alice", Grace: c.grace, Now: time.Now(), Program: program}
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
	pid, lease, ended := startSelfJob(t, s)
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
