package testrig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SSHD is one test sshd: where it listens, its keys, and its files in Dir
// (Name.config, Name.pid, Name.log, Name.known_hosts).
type SSHD struct {
	Name           string // prefix of its files; "sshd" when empty
	Dir            string
	Port           int
	Listen         []string // addresses
	HostKey        string   // private host key file
	AuthorizedKeys string
	ForceCommand   string // sshd's ForceCommand, "" for none (a hardened host)
}

func (s SSHD) file(ext string) string {
	name := s.Name
	if name == "" {
		name = "sshd"
	}
	return filepath.Join(s.Dir, name+"."+ext)
}

// ConfigFile, PIDFile and LogFile are where the sshd's files live.
func (s SSHD) ConfigFile() string { return s.file("config") }
func (s SSHD) PIDFile() string    { return s.file("pid") }
func (s SSHD) LogFile() string    { return s.file("log") }

// Config is the one sshd configuration of every test host.
func (s SSHD) Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Port %d\n", s.Port)
	for _, a := range s.Listen {
		fmt.Fprintf(&b, "ListenAddress %s\n", a)
	}
	fmt.Fprintf(&b, "HostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n", s.HostKey, s.PIDFile(), s.AuthorizedKeys)
	if s.ForceCommand != "" {
		fmt.Fprintf(&b, "ForceCommand %s\n", s.ForceCommand)
	}
	b.WriteString(strings.Join([]string{
		// Keys only. PAM's session modules cost a login tens of
		// milliseconds and need a full system setup; without PAM a
		// locked account cannot log in (EnsureUser unlocks it).
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		// The demo logs in as root when asked to; keys only (the default,
		// said here so a distribution's default cannot change it).
		"PermitRootLogin prohibit-password",
		// The key files sit in a directory the test made: sshd's
		// ownership checks of the user's home would refuse them.
		"StrictModes no",
		// A library scan and the concurrency tests open 200 sessions at
		// once, many over one control master: the defaults (MaxStartups
		// 10:30:100, MaxSessions 10) would drop some of them.
		"MaxStartups 1000",
		"MaxSessions 1000",
		// Errors only: a bind failure is what Ready reads from the log.
		"LogLevel ERROR",
	}, "\n"))
	b.WriteString("\n")
	return b.String()
}

// Start writes the config and starts the sshd, which detaches; wrap runs it
// through a command such as `ip netns exec NS`. Ready says whether it came up.
func (s SSHD) Start(wrap ...string) error {
	// The privilege-separation directory that a packaged sshd's unit makes.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	cfg := s.Config()
	// OpenSSH 9.8+ penalizes a source that connects without logging in
	// (wait-for-port probes, the hung-host tests) by refusing it for a
	// while: every test connection comes from 127.0.0.1. Older sshd does
	// not know the option, so ask it first.
	if s.accepts("PerSourcePenalties=no") {
		cfg += "PerSourcePenalties no\n"
	}
	if err := os.WriteFile(s.ConfigFile(), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	os.Remove(s.PIDFile())
	// -E appends: start from an empty log, so Ready reads only this run.
	if err := os.WriteFile(s.LogFile(), nil, 0o644); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	argv := append(append([]string{}, wrap...), SSHDPath, "-f", s.ConfigFile(), "-E", s.LogFile())
	if err := run(argv[0], argv[1:]...); err != nil {
		return fmt.Errorf("start sshd: %w: %s", err, s.logTail())
	}
	return nil
}

// accepts reports whether this sshd knows a config option.
func (s SSHD) accepts(opt string) bool {
	return exec.Command(SSHDPath, "-t", "-f", "/dev/null", "-h", s.HostKey, "-o", opt).Run() == nil
}

// PID is the running sshd's process id (its listener), from its pid file.
func (s SSHD) PID() (int, error) {
	b, err := os.ReadFile(s.PIDFile())
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", s.PIDFile(), err)
	}
	if syscall.Kill(pid, 0) != nil {
		return 0, fmt.Errorf("sshd (pid %d) is not running", pid)
	}
	return pid, nil
}

// Stop ends the listener (sessions end with their connections or their
// user's processes, which the caller owns).
func (s SSHD) Stop() {
	pid, err := s.PID()
	if err != nil {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	os.Remove(s.PIDFile())
}

func (s SSHD) logTail() string {
	b, _ := os.ReadFile(s.LogFile())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "; ")
}

// Ready waits until this sshd, and no other program, answers on every
// address it listens on and logs user in with clientKey. The error says why
// not: its port is taken (and by what), or sshd died (with its log).
func (s SSHD) Ready(user, clientKey string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := s.waitListening(deadline); err != nil {
		return err
	}
	kh, err := s.knownHosts()
	if err != nil {
		return err
	}
	for _, a := range s.Listen {
		for {
			err := s.login(a, user, clientKey, kh)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return s.explain(a, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// waitListening waits for the pid file, which sshd writes once it has
// bound its addresses, and fails on a bind error in its log. An sshd that
// bound some of its addresses runs on: the error waits for its pid file,
// so the caller's Stop finds it.
func (s SSHD) waitListening(deadline time.Time) error {
	var failure error
	for {
		log, _ := os.ReadFile(s.LogFile())
		dead := false
		for _, line := range strings.Split(string(log), "\n") {
			if failure == nil && (strings.Contains(line, "Bind to port") || strings.Contains(line, "fatal")) {
				failure = errors.New(strings.TrimSpace(line))
			}
			dead = dead || strings.Contains(line, "Cannot bind any address") || strings.Contains(line, "fatal")
		}
		_, err := s.PID()
		switch {
		case failure != nil && (err == nil || dead || time.Now().After(deadline)):
			return s.explain("", failure)
		case failure == nil && err == nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("sshd on port %d did not start (no pid file %s): %s", s.Port, s.PIDFile(), s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// knownHosts pins the host key for every listen address, so a login proves
// that the sshd answering is this one.
func (s SSHD) knownHosts() (string, error) {
	pub, err := os.ReadFile(s.HostKey + ".pub")
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	var b strings.Builder
	for _, a := range s.Listen {
		name := fmt.Sprintf("[%s]:%d", a, s.Port)
		if s.Port == 22 {
			name = a // ssh names a host on the default port without brackets
		}
		fmt.Fprintf(&b, "%s %s\n", name, strings.TrimSpace(string(pub)))
	}
	kh := s.file("known_hosts")
	return kh, os.WriteFile(kh, []byte(b.String()), 0o644)
}

func (s SSHD) login(addr, user, clientKey, knownHosts string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
		"-i", clientKey, "-p", strconv.Itoa(s.Port), user+"@"+addr, "true").CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("ssh login timed out after 10 s (a listener that never speaks?)")
	}
	if err != nil {
		return fmt.Errorf("ssh %s@%s: %v: %s", user, addr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// explain turns a failure on addr ("" for any) into the reason a person
// needs: what else holds the port, or what sshd logged.
func (s SSHD) explain(addr string, err error) error {
	addrs := s.Listen
	if addr != "" {
		addrs = []string{addr}
	}
	pid, _ := s.PID()
	for _, a := range addrs {
		holder := PortHolder(a, s.Port)
		if holder != "" && !strings.Contains(holder, fmt.Sprintf("pid=%d,", pid)) {
			return fmt.Errorf("port %d on %s is taken by another program (%s), not this rig's sshd: %v", s.Port, a, holder, err)
		}
	}
	return fmt.Errorf("sshd on port %d (%s) is not serving: %v; sshd log: %s", s.Port, strings.Join(addrs, ", "), err, s.logTail())
}
