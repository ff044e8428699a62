package agent

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// jobInfo is what /proc says about a process that may be one of our jobs.
type jobInfo struct {
	state byte // 'R', 'S', 'Z', …
}

// ownJob checks that pid is a job an agent started for this user: it leads
// its own process group (the agent starts every job so), belongs to our
// user, and its parent is a running `rffmpeg agent` of this very binary.
// Without it the key could signal any process of the host's user.
//
// A binary replaced while jobs run leaves them with a parent whose
// executable is the old file: they cannot be signalled by the new one, and
// still stop when their session ends.
func ownJob(pid int) (jobInfo, error) {
	p := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(p + "/stat")
	if err != nil {
		return jobInfo{}, errNoJob
	}
	// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return jobInfo{}, errNoJob
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 3 {
		return jobInfo{}, errNoJob
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	info := jobInfo{state: f[0][0]}
	if pgrp != pid {
		return info, errors.New("not a job of this agent (not a process group leader)")
	}
	if fi, err := os.Stat(p); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		return info, errors.New("not a job of this agent (another user's process)")
	}
	if !isAgent(ppid) {
		return info, errors.New("not a job of this agent (its parent is not rffmpeg agent)")
	}
	return info, nil
}

// isAgent reports whether pid runs this binary as `… agent …`.
func isAgent(pid int) bool {
	p := "/proc/" + strconv.Itoa(pid)
	self, err1 := os.Stat("/proc/self/exe")
	exe, err2 := os.Stat(p + "/exe")
	if err1 != nil || err2 != nil || !os.SameFile(self, exe) {
		return false
	}
	cmdline, err := os.ReadFile(p + "/cmdline")
	if err != nil {
		return false
	}
	argv := strings.Split(string(cmdline), "\x00")
	return len(argv) > 1 && argv[1] == "agent"
}

// signalJob sends sig to the job's process group (job control and the
// shim's forwarded signals reach whatever ffmpeg spawned, too).
func signalJob(pid int, sig syscall.Signal, stderr io.Writer) int {
	if _, err := ownJob(pid); err != nil {
		fail(stderr, "signal PID %d: %v", pid, err)
		return 1
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		fail(stderr, "signal PID %d: %v", pid, err)
		return 1
	}
	return 0
}

// stopJob is the guardian's request (the shim died and nobody will wait for
// the job): SIGTERM, and SIGKILL if the job is still there after stopGrace.
// A job already gone is success.
func stopJob(pid int, stderr io.Writer) int {
	if _, err := ownJob(pid); err != nil {
		if err == errNoJob {
			return 0
		}
		fail(stderr, "stop PID %d: %v", pid, err)
		return 1
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(stopGrace)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if info, err := ownJob(pid); err != nil || info.state == 'Z' {
			return 0
		}
	}
	if _, err := ownJob(pid); err == nil {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	return 0
}
