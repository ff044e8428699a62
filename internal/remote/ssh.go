// Package remote builds and runs the commands the shim executes: the ssh
// argv as data (unit-tested word for word), POSIX shell quoting, the small
// wrapper script that runs ffmpeg on the transcode host, and the runner that
// relays streams, forwards signals and reports exit codes. It reads no
// configuration and no database.
package remote

import (
	"strconv"
	"strings"
)

// Quote quotes s for a POSIX shell: the result is one word whose value is s,
// byte for byte (spaces, quotes, $(), backticks, newlines, empty strings).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_./=:,+@%", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every word and joins them with spaces.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// Host-key policies.
const (
	HostKeysTOFU   = "tofu"
	HostKeysIgnore = "ignore"
	HostKeysSSH    = "ssh"
)

// SSH describes how to reach one transcode host.
type SSH struct {
	Path           string   // the ssh client
	User           string   // remote user; "" leaves it to ssh
	Host           string   // hostname or address
	ConnectTimeout int      // seconds
	Persist        int      // ControlPersist seconds; 0 disables the shared master connection
	PersistDir     string   // where master sockets live
	KeepaliveEvery int      // ServerAliveInterval seconds
	KeepaliveCount int      // ServerAliveCountMax
	HostKeys       string   // HostKeysTOFU, HostKeysIgnore or HostKeysSSH
	KnownHosts     string   // known_hosts file for HostKeysTOFU
	Extra          []string // remote.args, verbatim
}

// Destination is user@host, or host when no user is configured.
func (s SSH) Destination() string {
	if s.User == "" {
		return s.Host
	}
	return s.User + "@" + s.Host
}

// ControlPath is the master socket path pattern (the original's).
func (s SSH) ControlPath() string {
	return strings.TrimRight(s.PersistDir, "/") + "/ssh-%r@%h:%p"
}

// ControlArgv asks the master connection for op ("exit", "check") without
// running anything remote.
func (s SSH) ControlArgv(op string) []string {
	a := []string{s.Path, "-o", "ControlPath=" + s.ControlPath(), "-O", op}
	a = append(a, s.Extra...)
	// "--": the destination is data; a host row written by another tool as
	// "-oProxyCommand=…" must never be parsed as an option.
	return append(a, "--", s.Destination())
}

// Quiet selects ssh's own messages: a job runs with -q (the original's
// choice; nothing of ssh's may land in the media server's transcode log), a
// health check with LogLevel=ERROR so a failure has a reason.
type Quiet bool

// Argv is the full ssh command line running remoteCommand on the host.
func (s SSH) Argv(remoteCommand string, quiet Quiet) []string {
	a := []string{s.Path}
	if quiet {
		a = append(a, "-q")
	} else {
		a = append(a, "-o", "LogLevel=ERROR")
	}
	a = append(a,
		// -T: never a pty. A pty rewrites \n to \r\n and eats ^C, ^S, ^Q
		// and ^D, which breaks binary stdout and ffmpeg's stdin keys.
		"-T",
		// BatchMode: never prompt (there is nobody to answer a media server).
		"-o", "BatchMode=yes",
		// One short attempt: a dead host must cost one timeout, not several.
		"-o", "ConnectTimeout="+strconv.Itoa(s.ConnectTimeout),
		"-o", "ConnectionAttempts=1",
	)
	if s.KeepaliveEvery > 0 {
		// The master connection asks the host for a sign of life; a frozen
		// host or a cut cable ends it (and every job on it) within
		// interval × count seconds instead of TCP's many minutes.
		a = append(a, "-o", "ServerAliveInterval="+strconv.Itoa(s.KeepaliveEvery),
			"-o", "ServerAliveCountMax="+strconv.Itoa(max(s.KeepaliveCount, 1)))
	}
	switch s.HostKeys {
	case HostKeysIgnore: // the original's options
		a = append(a, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")
	case HostKeysSSH:
	default: // trust on first use, refuse a changed key
		a = append(a, "-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile="+s.KnownHosts)
	}
	if s.Persist > 0 {
		// One master connection per host, shared by every call: a warm call
		// costs a channel open, not a TCP and SSH handshake.
		a = append(a, "-o", "ControlMaster=auto", "-o", "ControlPath="+s.ControlPath(),
			"-o", "ControlPersist="+strconv.Itoa(s.Persist))
	}
	a = append(a, s.Extra...)
	// "--": see ControlArgv. remote.args stay before it: they are options.
	return append(a, "--", s.Destination(), remoteCommand)
}

// Protocol frames the wrapper writes on stderr. A NUL byte never occurs in
// ffmpeg's text output, so a frame is NUL, a letter, a payload, NUL.
const (
	frameStart     = 'S' // the wrapper runs; from here on stderr is the job's
	framePID       = 'P' // payload: the job's remote PID, for signal forwarding
	frameHeartbeat = 'H' // written every HeartbeatInterval; a failed write means the session is gone
)

// HeartbeatInterval is how often the wrapper proves the session is alive.
const HeartbeatInterval = "0.25"

// Script is the remote command: it changes to the caller's directory (paths
// are shared between the machines), starts the job with the caller's stdin,
// reports its PID, and watches the session: when a heartbeat cannot be
// written (the SSH connection is gone) it stops the job, first with SIGTERM,
// then SIGKILL. The wrapper's exit status is the job's (128+N when killed by
// signal N, as a shell shows it).
func Script(cwd string, command []string) string {
	var b strings.Builder
	if cwd != "" {
		b.WriteString("cd -- " + Quote(cwd) + " 2>/dev/null; ")
	}
	b.WriteString(`printf '\0S\0' >&2; `)
	// A background job's stdin is /dev/null even with "<&0" (dash applies
	// that first), so the caller's stdin is kept on fd 3 and handed over.
	b.WriteString("exec 3<&0; " + Join(command) + " <&3 3<&- & p=$!; exec 3<&-; ")
	b.WriteString(`printf '\0P%s\0' "$p" >&2; `)
	b.WriteString(`(trap '' PIPE; while kill -0 "$p" 2>/dev/null; do printf '\0H\0' >&2 || { kill -TERM "$p"; sleep 2; kill -KILL "$p" 2>/dev/null; break; }; sleep ` +
		HeartbeatInterval + ` </dev/null >/dev/null 2>&1; done) & w=$!; `)
	b.WriteString(`wait "$p"; r=$?; kill "$w" 2>/dev/null; exit "$r"`)
	return b.String()
}

// SignalScript sends sig to a job started by Script. With escalate (the
// shim is gone and nobody will wait for the job), SIGKILL follows if the job
// is still there two seconds later.
func SignalScript(pid int, sig string, escalate bool) string {
	p := strconv.Itoa(pid)
	if !escalate {
		return "kill -" + sig + " " + p
	}
	return "kill -" + sig + " " + p + " 2>/dev/null && { i=0; while kill -0 " + p + " 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; kill -KILL " + p + " 2>/dev/null; }; true"
}
