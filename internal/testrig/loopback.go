package testrig

import (
	"fmt"
	"time"
)

// ReadyTimeout bounds how long a test sshd may take to answer; generous,
// because the machine running the tests is often busy compiling.
const ReadyTimeout = 15 * time.Second

// Loopback is the rig's pair of transcode hosts: one sshd serving HostA and
// HostB on one port, logging in User with the keys in Dir.
type Loopback struct {
	Dir  string
	Port int
	User string
	Keys Keys
	SSHD SSHD
}

// StartLoopback makes the user (if missing) and fresh keys in dir, starts
// the sshd and returns once it proved to log the user in on both addresses.
// dir must be readable by user: sshd reads authorized_keys as the user.
func StartLoopback(dir string, port int, user string) (*Loopback, error) {
	if err := Prerequisites(); err != nil {
		return nil, err
	}
	if err := EnsureUser(user); err != nil {
		return nil, err
	}
	keys, err := MakeKeys(dir)
	if err != nil {
		return nil, err
	}
	l := &Loopback{Dir: dir, Port: port, User: user, Keys: keys, SSHD: SSHD{Dir: dir, Port: port,
		Listen: []string{HostA, HostB}, HostKey: keys.Host, AuthorizedKeys: keys.AuthorizedKeys}}
	l.SSHD.Stop() // an earlier run's, from the same directory
	if err := l.SSHD.Start(); err != nil {
		return nil, err
	}
	if err := l.SSHD.Ready(user, keys.Client, ReadyTimeout); err != nil {
		l.SSHD.Stop()
		return nil, fmt.Errorf("loopback hosts: %w", err)
	}
	return l, nil
}

// LoopbackIn names the loopback hosts an earlier StartLoopback made in dir
// (for a process that did not start them: the benchmark, `rig host down`).
func LoopbackIn(dir string, port int, user string) *Loopback {
	keys := KeysIn(dir)
	return &Loopback{Dir: dir, Port: port, User: user, Keys: keys, SSHD: SSHD{Dir: dir, Port: port,
		Listen: []string{HostA, HostB}, HostKey: keys.Host, AuthorizedKeys: keys.AuthorizedKeys}}
}

// Stop ends the sshd.
func (l *Loopback) Stop() { l.SSHD.Stop() }
