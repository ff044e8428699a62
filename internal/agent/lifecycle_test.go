package agent

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// A TERM-ignoring job and a child of it, both in the job's process group.
const stubborn = `trap '' TERM; sleep 30 & wait; sleep 30`

// started is an agent running a job, with the read end of its stderr.
type started struct {
	cmd    *exec.Cmd
	pid    int // the job's
	stderr *os.File
	exited chan struct{}
}

// startAgent starts an agent on request and waits for the job's PID frame.
func startAgent(t *testing.T, request string, flags ...string) *started {
	t.Helper()
	argv := agentArgv(request, flags...)
	c := exec.Command(argv[0], argv[1:]...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// stdin stays open and silent: its end is not what stops a job.
	stdinR, stdinW, _ := os.Pipe()
	t.Cleanup(func() { stdinW.Close() })
	c.Stdin, c.Stderr = stdinR, w
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	stdinR.Close()
	s := &started{cmd: c, stderr: r, exited: make(chan struct{})}
	go func() { c.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		if s.pid > 0 {
			syscall.Kill(-s.pid, syscall.SIGKILL)
		}
		c.Process.Kill()
		<-s.exited
		r.Close()
	})
	br := bufio.NewReader(r)
	for s.pid == 0 {
		frame, err := br.ReadString(0)
		if err != nil {
			t.Fatalf("no PID frame: %v", err)
		}
		if p := "rff" + agentTestToken + "P"; strings.HasPrefix(frame, p) {
			s.pid, _ = strconv.Atoi(strings.TrimSuffix(frame[len(p):], "\x00"))
		}
	}
	// Keep reading heartbeats, as the shim does, until the test stops.
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	return s
}

// wait waits for the agent's exit and reports its code and how long it took.
func (s *started) wait(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-s.exited:
		return remote.ExitCode(s.cmd.ProcessState), time.Since(start)
	case <-time.After(limit):
		t.Fatalf("the agent did not exit within %s", limit)
		return 0, 0
	}
}

// groupGone reports whether no live process is left in the job's group
// (a zombie waiting for init to reap it runs nothing), after a moment.
func groupGone(pid int) bool {
	for i := 0; i < 25; i++ {
		if len(liveInGroup(pid)) == 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// liveInGroup lists the processes of group pgrp that are not zombies.
func liveInGroup(pgrp int) []int {
	ents, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := strings.LastIndexByte(string(b), ')')
		if err != nil || i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgrp) && f[0] != "Z" {
			live = append(live, n)
		}
	}
	return live
}

func TestSessionEndStopsJob(t *testing.T) {
	tests := []struct {
		name     string
		program  string
		args     []string
		end      func(s *started)
		wantCode int
		within   time.Duration // coarse: the bound is stopGrace plus a heartbeat, on a loaded machine
	}{
		{"heartbeat write fails", "/bin/sleep", []string{"30"}, func(s *started) { s.stderr.Close() }, 128 + 15, 2 * time.Second},
		{"sshd's SIGHUP", "/bin/sleep", []string{"30"}, func(s *started) { s.cmd.Process.Signal(syscall.SIGHUP) }, 128 + 15, 2 * time.Second},
		{"job ignores SIGTERM", "/bin/sh", []string{"-c", stubborn}, func(s *started) { s.stderr.Close() }, 128 + 9, 5 * time.Second},
	}
	for _, tt := range tests {
		s := startAgent(t, remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: tt.args}), "--ffmpeg", tt.program)
		time.Sleep(300 * time.Millisecond) // let the stubborn shell set its trap
		tt.end(s)
		code, took := s.wait(t, 10*time.Second)
		if code != tt.wantCode || took > tt.within {
			t.Errorf("%s: agent exit %d after %s, want %d within %s", tt.name, code, took, tt.wantCode, tt.within)
		}
		if tt.wantCode == 128+9 && took < stopGrace-100*time.Millisecond {
			t.Errorf("%s: killed after %s, before the %s grace", tt.name, took, stopGrace)
		}
		if !groupGone(s.pid) {
			t.Errorf("%s: processes left in the job's group", tt.name)
		}
	}
}

// The agent's own SIGTERM/SIGINT are the job's.
func TestAgentForwardsSignals(t *testing.T) {
	s := startAgent(t, remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"30"}}), "--ffmpeg", "/bin/sleep")
	s.cmd.Process.Signal(syscall.SIGINT)
	if code, _ := s.wait(t, 5*time.Second); code != 128+2 {
		t.Errorf("agent exit %d, want %d (the job's SIGINT)", code, 128+2)
	}
}

// The shim's signal forwarding and guardian work through signal and stop
// requests; they reach only jobs of an agent.
func TestSignalRequests(t *testing.T) {
	req := remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"30"}})
	s := startAgent(t, req, "--ffmpeg", "/bin/sleep")
	if _, stderr, code := runAgent(t, remote.AgentSignal(s.pid, "STOP", false)); code != 0 {
		t.Fatalf("signal STOP: exit %d: %s", code, stderr)
	}
	if !waitState(s.pid, 'T') {
		t.Errorf("job not stopped by a STOP request")
	}
	runAgent(t, remote.AgentSignal(s.pid, "CONT", false))
	if _, stderr, code := runAgent(t, remote.AgentSignal(s.pid, "USR1", false)); code != 0 {
		t.Fatalf("signal USR1: exit %d: %s", code, stderr)
	}
	if code, _ := s.wait(t, 5*time.Second); code != 128+int(syscall.SIGUSR1) {
		t.Errorf("job exit %d, want %d", code, 128+int(syscall.SIGUSR1))
	}

	// The guardian's stop: SIGTERM, then SIGKILL after the grace.
	s = startAgent(t, remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-c", stubborn}}), "--ffmpeg", "/bin/sh")
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if _, stderr, code := runAgent(t, remote.AgentSignal(s.pid, "TERM", true)); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, stderr)
	}
	if code, _ := s.wait(t, 5*time.Second); code != 128+9 || time.Since(start) < stopGrace-100*time.Millisecond {
		t.Errorf("stop: job exit %d after %s, want 137 after the grace", code, time.Since(start))
	}

	// Not jobs: this test, a group leader that no agent started, nothing.
	other := exec.Command("/bin/sleep", "30")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	tests := []struct {
		request  string
		wantCode int
		wantErr  string
	}{
		{remote.AgentSignal(os.Getpid(), "TERM", false), 1, "not a job of this agent"},
		{remote.AgentSignal(other.Process.Pid, "KILL", false), 1, "its parent is not rffmpeg agent"},
		{remote.AgentSignal(other.Process.Pid, "TERM", true), 1, "its parent is not rffmpeg agent"},
		{remote.AgentSignal(1<<22+1, "TERM", false), 1, "no such job"},
		{remote.AgentSignal(1<<22+1, "TERM", true), 0, ""},
	}
	for _, tt := range tests {
		_, stderr, code := runAgent(t, tt.request)
		if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("%q: exit %d %q, want %d %q", tt.request, code, stderr, tt.wantCode, tt.wantErr)
		}
	}
	if other.ProcessState != nil || syscall.Kill(other.Process.Pid, 0) != nil {
		t.Errorf("a process no agent started was signalled")
	}
}

func waitState(pid int, want byte) bool {
	for i := 0; i < 100; i++ {
		if info, err := ownJob(pid); err == nil && info.state == want {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Through the shim's runner: a signal the shim receives reaches the job
// through a signal request, and the job's exit code comes back.
func TestRunnerForwardsThroughAgent(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	pids := make(chan int, 1)
	var forwarded string
	res, err := remote.Run(remote.Spec{
		Argv:   agentArgv(remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"30"}}), "--ffmpeg", "/bin/sleep"),
		Remote: true, Token: agentTestToken, Stdin: devNull(t), Stdout: tempFile(t), Stderr: tempFile(t), StartTimeout: 10 * time.Second,
		Signals: sigs,
		Forward: func(sig syscall.Signal, pid int) bool {
			_, stderr, code := runAgent(t, remote.AgentSignal(pid, "TERM", false))
			forwarded = stderr
			return code == 0
		},
		OnPID: func(p int) { pids <- p; sigs <- syscall.SIGTERM },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 128+15 || !res.Started || forwarded != "" {
		t.Errorf("got exit %d started %v (forward said %q), want 143 after a forwarded SIGTERM", res.Code, res.Started, forwarded)
	}
	if pid := <-pids; !groupGone(pid) {
		t.Errorf("job left behind")
	}
}
