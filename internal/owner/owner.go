// Package owner identifies the process that wrote a state row well enough to
// tell, later and from another process, whether it still runs: a PID alone is
// reused, and on a PostgreSQL database shared by several machines it means
// nothing elsewhere. An identity is machine|boot|start: the machine (hostname
// and machine-id), the boot (kernel boot_id) and the process start time in
// clock ticks since boot, next to the PID stored in process_id.
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

// Self returns the identity of the calling process.
func Self() Identity {
	pid := os.Getpid()
	start, _ := StartTime(pid)
	return Identity{Machine: Machine(), Boot: readTrim("/proc/sys/kernel/random/boot_id"), PID: pid, Start: start}
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
// a heartbeat; running jobs refresh theirs every HeartbeatEvery.
const (
	HeartbeatEvery = 15 * time.Second
	Lease          = 60 * time.Second
)

// Checker decides whether the writer of a row is gone.
type Checker struct {
	Self  Identity
	Lease time.Duration
	Now   time.Time
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
	start, err := StartTime(pid)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return strconv.FormatUint(start, 10) != parts[2]
}

func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
