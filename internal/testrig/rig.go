// Package testrig is the test equipment of rffmpeg, in one place: the
// transcode hosts the end-to-end tests, the benchmark and the demo run
// against. It builds the one sshd config for test hosts, makes their keys
// and test user, waits for a port, proves that the sshd answering there is
// ours, serves a hung host (accepts TCP, never speaks) and makes hosts in
// network namespaces that can be frozen, cut off or made lossy.
//
// It needs root (sshd for another user, namespaces) and is never imported by
// the product (internal/imports_test.go enforces it). Shell scripts reach it
// through its command, internal/testrig/cmd/rig.
package testrig

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// The loopback addresses of the e2e rig: two hosts served by one sshd, a
// hung host and a dead one (nothing listens there).
const (
	HostA    = "127.0.0.2"
	HostB    = "127.0.0.3"
	HungAddr = "127.0.0.4"
	DeadAddr = "127.0.0.9"
)

// TestUser is the unprivileged account the e2e rig's sshd logs in, so remote
// processes are told apart from local ones.
const TestUser = "rffmpegtest"

// SSHDPath is the sshd the rig runs (an absolute path: sshd re-executes itself).
const SSHDPath = "/usr/sbin/sshd"

// Prerequisites says what this machine lacks to run a rig, nil if nothing.
func Prerequisites() error {
	if _, err := os.Stat("/usr/bin/ffmpeg"); err != nil {
		return fmt.Errorf("ffmpeg not installed (apt-get install ffmpeg)")
	}
	if _, err := os.Stat(SSHDPath); err != nil {
		return fmt.Errorf("sshd not installed (apt-get install openssh-server)")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		return fmt.Errorf("ssh-keygen not installed (apt-get install openssh-client)")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root to run sshd for a test user")
	}
	return nil
}

// run runs a command and says which one failed, with its output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
