package remote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// The short ssh calls around a job: the health check, a forwarded signal
// and ending a wedged master. Each is bounded; none holds the caller's
// streams.

// CheckResult is how a health check ended.
type CheckResult struct {
	Code     int    // ssh's exit code (0: the host is fine)
	Reason   string // why it failed, for the log and `status`
	TimedOut bool   // no answer within the limit (host frozen or unreachable)
}

// Check runs `program -version` on the host (the original's test), bounded
// by limit, and says why it failed.
func Check(ctx context.Context, s SSH, program string, limit time.Duration) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if code, stderr, ok := muxOutput(ctx, s, Join([]string{program, "-version"})); ok {
		switch {
		case ctx.Err() != nil:
			return CheckResult{Code: 255, Reason: fmt.Sprintf("timed out after %s (host frozen or unreachable)", limit), TimedOut: true}
		case code == 0:
			return CheckResult{}
		}
		return CheckResult{Code: code, Reason: Classify(code, stderr)}
	}
	argv := s.Argv(Join([]string{program, "-version"}), Quiet(false))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = SSHEnv(os.Environ())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A master started by this call lives on; never wait on streams it holds.
	cmd.WaitDelay = 200 * time.Millisecond
	err := cmd.Run()
	if ctx.Err() != nil {
		return CheckResult{Code: 255, Reason: fmt.Sprintf("timed out after %s (host frozen or unreachable)", limit), TimedOut: true}
	}
	if err == nil {
		return CheckResult{}
	}
	if cmd.ProcessState == nil {
		return CheckResult{Code: 255, Reason: err.Error()}
	}
	rc := ExitCode(cmd.ProcessState)
	return CheckResult{Code: rc, Reason: Classify(rc, stderr.String())}
}

// SignalTimeout bounds one forwarded signal (an ssh round trip).
const SignalTimeout = 3 * time.Second

// Signal sends sig to a job started by Script (pid is its remote PID); it
// reports whether ssh said it worked.
func Signal(s SSH, pid int, sig syscall.Signal) bool {
	ctx, cancel := context.WithTimeout(context.Background(), SignalTimeout)
	defer cancel()
	if code, _, ok := muxOutput(ctx, s, SignalScript(pid, SignalName(sig), false)); ok {
		return code == 0
	}
	argv := s.Argv(SignalScript(pid, SignalName(sig), false), Quiet(true))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = SSHEnv(os.Environ())
	cmd.WaitDelay = 200 * time.Millisecond
	return cmd.Run() == nil
}

// SignalName is the name kill(1) takes, without "SIG".
func SignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGQUIT:
		return "QUIT"
	case syscall.SIGUSR1:
		return "USR1"
	case syscall.SIGUSR2:
		return "USR2"
	case syscall.SIGSTOP, syscall.SIGTSTP:
		return "STOP"
	case syscall.SIGCONT:
		return "CONT"
	case syscall.SIGKILL:
		return "KILL" // by name: the agent takes names only
	}
	return strconv.Itoa(int(sig))
}

// EndMasterTimeout bounds asking a master connection to exit.
const EndMasterTimeout = time.Second

// EndMaster ends a host's master connection after the host stopped
// answering, so the next call builds a fresh one instead of waiting on a
// dead channel; it also lets go of the streams the master holds for calls
// whose session never opened. (A master whose process died leaves a socket
// ssh itself unlinks as stale.) It reports whether the master said yes.
func EndMaster(s SSH) bool {
	if !s.Shared() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), EndMasterTimeout)
	defer cancel()
	argv := s.ControlArgv("exit")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = SSHEnv(os.Environ())
	cmd.WaitDelay = 200 * time.Millisecond
	return cmd.Run() == nil
}

// ValidHost reports why a hostname read from the database must not reach
// ssh ("" when it may): the same rule `rffmpeg add` applies, checked again
// on reading because another tool may have written the row.
func ValidHost(h string) string {
	switch {
	case h == "":
		return "empty host name"
	case len(h) > 255:
		return "host name longer than 255 bytes"
	case h[0] == '-':
		return "host name starts with '-' (ssh would read an option)"
	}
	for _, r := range h {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "host name contains whitespace or control characters"
		}
	}
	return ""
}

// SSHEnv is the environment of the local ssh: the caller's without the
// dynamic loader's variables. A media server may export LD_LIBRARY_PATH for
// its own ffmpeg (Emby does); ssh then loads the wrong libraries and dies
// with "symbol lookup error", which users see as "error 127".
func SSHEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "LD_") {
			out = append(out, kv)
		}
	}
	return out
}

// DefaultEnv is what reaches the remote ffmpeg of the caller's environment
// (remote.env adds to it): ffmpeg's report and colour switches, the time
// zone and the locale. A name ending in "*" is a prefix.
var DefaultEnv = []string{"FFREPORT", "AV_LOG_FORCE_NOCOLOR", "AV_LOG_FORCE_COLOR", "AV_LOG_FORCE_256COLOR", "TZ", "LANG", "LANGUAGE", "LC_*"}

// PassEnv picks the variables of environ that allow names, as NAME=value
// words for env(1), in environ's order. Loader variables never pass, and
// neither does a name that is not a plain shell name.
func PassEnv(environ, allow []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !shellName(name) || strings.HasPrefix(name, "LD_") {
			continue
		}
		for _, a := range allow {
			if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(name, p) || a == name {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

func shellName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
