package remote

import (
	"strconv"
	"strings"
)

// Classify turns a failed ssh call (its exit code and what it printed) into a
// short reason for the log and for `status`: refused, timed out, host key
// changed, authentication failed, remote program missing, …
func Classify(code int, diag string) string {
	d := strings.ToLower(diag)
	switch {
	case strings.Contains(d, "remote host identification has changed"), strings.Contains(d, "host key verification failed"):
		return "host key changed or unknown: refusing to connect (see remote.host_keys)"
	case strings.Contains(d, "connection refused"):
		return "connection refused"
	case strings.Contains(d, "timed out"), strings.Contains(d, "timeout"):
		return "timed out"
	case strings.Contains(d, "no route to host"), strings.Contains(d, "network is unreachable"):
		return "unreachable"
	case strings.Contains(d, "could not resolve hostname"), strings.Contains(d, "name or service not known"):
		return "unknown host name"
	case strings.Contains(d, "permission denied"):
		return "authentication failed (permission denied)"
	case code == 127, strings.Contains(d, "not found"):
		return "remote program not found (exit 127)"
	case code == 126:
		return "remote program not executable (exit 126)"
	}
	first := strings.TrimSpace(strings.SplitN(strings.TrimSpace(diag), "\n", 2)[0])
	if first == "" {
		return "failed with exit code " + strconv.Itoa(code)
	}
	if len(first) > 200 {
		first = first[:200]
	}
	return first + " (exit " + strconv.Itoa(code) + ")"
}

// Class is what kind of failure ended a remote call. Only the host's
// failures (HostFault) mark it bad: ffmpeg's own errors (a missing input, a
// bad option or filter) and signals sent to the job never do.
type Class string

const (
	ClassOK      Class = "ok"
	ClassExit    Class = "ffmpeg's own exit"             // the job ran and exited non-zero
	ClassSignal  Class = "killed by signal"              // the job ran and was killed (128+N)
	ClassMissing Class = "remote program missing"        // 127
	ClassNotExec Class = "remote program not executable" // 126
	ClassConnect Class = "connect failure"               // refused, unreachable, unknown name, banner timeout
	ClassAuth    Class = "authentication failure"        // permission denied
	ClassHostKey Class = "host key refused"              // changed or unknown key
	ClassShell   Class = "remote shell error"            // the remote shell failed before the job started
	ClassTimeout Class = "timeout"                       // no start within the bound: host frozen or unreachable
	ClassLost    Class = "connection lost"               // the session died under a running job
)

// HostFault reports whether the class blames the host.
func (c Class) HostFault() bool {
	switch c {
	case ClassConnect, ClassAuth, ClassHostKey, ClassTimeout, ClassLost, ClassShell:
		return true
	}
	return false
}

// ClassOf classifies a remote job's result.
func ClassOf(res Result) Class {
	switch {
	case res.Lost:
		return ClassLost
	case res.TimedOut:
		return ClassTimeout
	case res.Started:
		return startedClass(res.Code)
	}
	d := strings.ToLower(res.Diag)
	switch {
	case strings.Contains(d, "remote host identification has changed"), strings.Contains(d, "host key verification failed"):
		return ClassHostKey
	case strings.Contains(d, "permission denied"):
		return ClassAuth
	case res.Code == 255:
		return ClassConnect // ssh's own failure: it never reached a shell
	case res.Code == 127:
		return ClassMissing
	case res.Code == 126:
		return ClassNotExec
	}
	return ClassShell
}

func startedClass(code int) Class {
	switch {
	case code == 0:
		return ClassOK
	case code == 127:
		return ClassMissing
	case code == 126:
		return ClassNotExec
	case code > 128 && code < 128+65:
		return ClassSignal
	}
	return ClassExit
}

// Describe is the class with its detail, for the log: "ffmpeg's own exit 1",
// "killed by signal 9".
func (c Class) Describe(code int) string {
	switch c {
	case ClassSignal:
		return string(c) + " " + strconv.Itoa(code-128)
	case ClassOK:
		return "exit 0"
	}
	return string(c) + " (exit " + strconv.Itoa(code) + ")"
}
