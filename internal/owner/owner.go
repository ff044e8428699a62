// Package owner identifies the process that wrote a state row well enough to
// tell, later and from another process, whether it still runs: a PID alone is
// reused, and on a PostgreSQL database shared by several machines it means
// nothing elsewhere. An identity is machine|boot|start: the machine (the
// frontend: hostname and machine-id, or the configured frontend id), the
// boot (kernel boot_id) and the process start time in clock ticks since
// boot, next to the PID stored in process_id. Rows of this frontend are
// judged by their PID at once; rows of another frontend by their lease
// (heartbeats), the only thing visible across machines.
package owner

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Identity names one process on one machine during one boot.
type Identity struct {
	Machine string
	Boot    string
	PID     int
	Start   uint64
}

// String is the form stored in the owner columns.
func (i Identity) String() string {
	return i.Machine + "|" + i.Boot + "|" + strconv.FormatUint(i.Start, 10)
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Machine names this machine: hostname plus machine-id (containers often
// lack a machine-id, and cloned images share one).
func Machine() string {
	h, _ := os.Hostname()
	id := readTrim("/etc/machine-id")
	if len(id) > 12 {
		id = id[:12]
	}
	return h + ":" + id
}

// FrontendEnv overrides the frontend's identity (database.frontend_id).
const FrontendEnv = "RFFMPEG_FRONTEND_ID"

// Self returns the identity of the calling process: its frontend is
// RFFMPEG_FRONTEND_ID when set, else this machine (see SelfAs).
func Self() Identity {
	return SelfAs(os.Getenv(FrontendEnv))
}

// SelfAs is Self as frontend ("": this machine, see Machine).
func SelfAs(frontend string) Identity {
	pid := os.Getpid()
	start, _ := StartTime(pid)
	return Identity{Machine: Machine(), Boot: readTrim("/proc/sys/kernel/random/boot_id"), PID: pid, Start: start}.As(frontend)
}

// As is the identity with its frontend named frontend ("": unchanged).
// Containers on one host share a hostname and often a machine-id, and
// one machine may run several media servers: each needs its own name, or
// one would judge the other's PIDs in its own PID namespace.
func (i Identity) As(frontend string) Identity {
	if frontend != "" {
		i.Machine = frontend
	}
	return i
}

// Frontend is the frontend that wrote a row with owner column owner ("":
// the original rffmpeg's rows, which name none).
func Frontend(owner string) string {
	f, _, ok := strings.Cut(owner, "|")
	if !ok {
		return ""
	}
	return f
}

// StartTime reads a process's start time (field 22 of /proc/PID/stat).
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: skip to the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, errors.New("short stat")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Lease is how long a row written on another machine counts as alive without
// a heartbeat (the default of database.lease); running jobs refresh theirs
// every HeartbeatEvery (see HeartbeatFor).
const (
	HeartbeatEvery = 15 * time.Second
	Lease          = 60 * time.Second
)

// HeartbeatFor is how often a job refreshes its rows under lease: four
// heartbeats per lease (one or two lost to a busy or restarting database
// do not make a live job look dead), at most every HeartbeatEvery.
func HeartbeatFor(lease time.Duration) time.Duration {
	if lease <= 0 {
		return HeartbeatEvery
	}
	return min(HeartbeatEvery, max(lease/4, 100*time.Millisecond))
}

// Checker decides whether the writer of a row is gone.
type Checker struct {
	Self  Identity
	Lease time.Duration
	Now   time.Time
	// Starts, when not nil, remembers the start times read (one
	// selection judges every row; a frontend holding many jobs writes
	// many rows under one PID). Not safe for concurrent use.
	Starts map[int]uint64
}

// Dead reports whether the process that wrote a row (PID pid, identity
// owner, last heartbeat hb) has ended. Rows of the original rffmpeg have no
// owner: their PID is checked on this machine, as the original assumes.
func (c Checker) Dead(pid int, owner string, hb time.Time) bool {
	if owner == "" {
		return pid <= 0 || !pidExists(pid)
	}
	parts := strings.Split(owner, "|")
	if len(parts) != 3 {
		return false // not ours to judge
	}
	if parts[0] != c.Self.Machine {
		return !hb.IsZero() && c.Now.Sub(hb) > c.Lease
	}
	if parts[1] != c.Self.Boot {
		return true // written before a reboot
	}
	start, ok := c.Starts[pid]
	if !ok {
		var err error
		if start, err = StartTime(pid); err != nil {
			return errors.Is(err, os.ErrNotExist)
		}
		if c.Starts != nil {
			c.Starts[pid] = start
		}
	}
	return strconv.FormatUint(start, 10) != parts[2]
}

func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
