// Package remote builds and runs the commands the shim executes: the ssh
// argv as data (unit-tested word for word), POSIX shell quoting, the small
// wrapper script that runs ffmpeg on the transcode host, and the runner that
// relays streams, forwards signals and reports exit codes. It reads no
// configuration and no database.
package remote

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	Path           string // the ssh client
	User           string // remote user; "" leaves it to ssh
	Host           string // hostname or address
	Port           int    // this host's port (rffmpeg add HOST:PORT); 0: remote.args or ssh's default
	ConnectTimeout int    // seconds
	Persist        int    // ControlPersist seconds; 0 disables the shared master connection
	PersistDir     string // directories.persist, the parent of ControlDir
	// ControlDir is the private directory (0700, this user's) the master
	// sockets live in; "" when it could not be made safe: no master then.
	ControlDir     string
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

// Shared reports whether calls share a master connection: persist is on
// and the private socket directory is usable.
func (s SSH) Shared() bool { return s.Persist > 0 && s.ControlDir != "" }

// ControlPath is the master socket of this host: a name rffmpeg computes
// itself (the mux client dials it), in the private ControlDir, from
// everything that makes a connection different (the client, user, host,
// remote.args with a port or an identity, the host-key policy), so two
// configurations never share a master. 16 hex digits keep it far below
// the 108-byte socket path limit with ssh's temporary suffix.
func (s SSH) ControlPath() string {
	h := sha256.New()
	words := []string{s.Path, s.User, s.Host, s.HostKeys, s.KnownHosts}
	if s.Port > 0 {
		// Only then: the paths of hosts without a port of their own stay
		// what they were (a running master keeps serving).
		words = append(words, "port "+strconv.Itoa(s.Port))
	}
	for _, w := range append(words, s.Extra...) {
		h.Write([]byte(w))
		h.Write([]byte{0})
	}
	return strings.TrimRight(s.ControlDir, "/") + "/" + hex.EncodeToString(h.Sum(nil))[:16]
}

// ControlArgv asks the master connection for op ("exit", "check") without
// running anything remote.
func (s SSH) ControlArgv(op string) []string {
	a := []string{s.Path, "-o", "ControlPath=" + s.ControlPath(), "-O", op}
	a = append(a, s.Extra...)
	a = s.portArgs(a)
	// "--": the destination is data; a host row written by another tool as
	// "-oProxyCommand=…" must never be parsed as an option.
	return append(a, "--", s.Destination())
}

// portArgs adds the host's own port after remote.args: ssh takes the last
// -p given, so a host added as HOST:PORT overrides a pool-wide "-p" there.
func (s SSH) portArgs(a []string) []string {
	if s.Port > 0 {
		a = append(a, "-p", strconv.Itoa(s.Port))
	}
	return a
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
	if s.Shared() {
		// One master connection per host, shared by every call: a warm call
		// costs a channel open, not a TCP and SSH handshake.
		a = append(a, "-o", "ControlMaster=auto", "-o", "ControlPath="+s.ControlPath(),
			"-o", "ControlPersist="+strconv.Itoa(s.Persist))
	}
	a = append(a, s.Extra...)
	a = s.portArgs(a)
	// "--": see ControlArgv. remote.args stay before it: they are options.
	return append(a, "--", s.Destination(), remoteCommand)
}

// Protocol frames the wrapper writes on stderr, interleaved with the job's
// own stderr: NUL, "rff", the call's token, a letter, a payload, NUL. The
// token is random per call (NewToken), so bytes the job writes — even binary
// data sent to pipe:2 — are never taken for a frame: the filter passes every
// byte through that does not continue the exact frame prefix.
const (
	frameStart     = 'S' // the wrapper runs; from here on stderr is the job's
	framePID       = 'P' // payload: the job's remote PID, for signal forwarding
	frameHeartbeat = 'H' // written every HeartbeatInterval; a failed write means the session is gone
)

// HeartbeatInterval is how often the wrapper proves the session is alive.
const HeartbeatInterval = "0.25"

// NewToken is a fresh frame token: 16 hex digits (64 random bits), safe in
// a shell's printf format and in an agent request.
func NewToken() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// No randomness: a fixed token still frames correctly, only with
		// the (tiny) chance that job bytes repeat it.
		return "00000000deadbeef"
	}
	return hex.EncodeToString(b[:])
}

// Frame is one protocol frame for token: what the wrapper (and the agent)
// writes on stderr.
func Frame(token string, letter byte, payload string) []byte {
	return []byte("\x00rff" + token + string(letter) + payload + "\x00")
}

// Script is the remote command: it changes to the caller's directory (paths
// are shared between the machines), starts the job with the caller's stdin,
// reports its PID, and watches the session: when a heartbeat cannot be
// written (the SSH connection is gone) it stops the job, first with SIGTERM,
// then SIGKILL. The wrapper's exit status is the job's (128+N when killed by
// signal N, as a shell shows it). token frames its messages (NewToken).
func Script(cwd, token string, command []string) string {
	frame := func(letter, payload string) string { return `printf '\0rff` + token + letter + payload + `\0'` }
	var b strings.Builder
	if cwd != "" {
		b.WriteString("cd -- " + Quote(cwd) + " 2>/dev/null; ")
	}
	b.WriteString(frame("S", "") + " >&2; ")
	// A background job's stdin is /dev/null even with "<&0" (dash applies
	// that first), so the caller's stdin is kept on fd 3 and handed over.
	b.WriteString("exec 3<&0; " + Join(command) + " <&3 3<&- & p=$!; exec 3<&-; ")
	b.WriteString(frame("P", "%s") + ` "$p" >&2; `)
	b.WriteString(`(trap '' PIPE; while kill -0 "$p" 2>/dev/null; do ` + frame("H", "") + ` >&2 || { kill -TERM "$p"; sleep 2; kill -KILL "$p" 2>/dev/null; break; }; sleep ` +
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
