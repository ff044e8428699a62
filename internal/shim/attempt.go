package shim

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// outcome is how an attempt on one host ended.
type outcome struct {
	code       int    // the job's exit code (ssh's when retry)
	retry      bool   // nothing ran: select again
	mark       bool   // mark the host bad for reason
	reason     string // why the host failed
	dropMaster bool   // the host stopped answering: end its master connection
	failure    string // the job's failure class for its history (state.Fail*); "": from code
}

// attempt runs the job on the chosen host (id 0: the fallback).
func (c *call) attempt(ctx context.Context, h selector.HostView) outcome {
	if h.ID == state.LocalHostID || h.IsLocal() {
		return outcome{code: c.runLocal()}
	}
	if why := remote.ValidHost(h.Hostname); why != "" {
		// Another tool wrote this row: never hand it to ssh, where it
		// could be read as an option. Marked bad so selection moves on.
		return outcome{code: 255, retry: true, mark: true, reason: "refused: " + why}
	}
	sshc := c.sshFor(h.Host)
	mode := c.recordedAccess(h)
	if c.stale(h.CheckedAt) {
		m, out, ok := c.checkHost(ctx, h, sshc, mode)
		if !ok {
			return out
		}
		mode = m
	}
	if out, ok := c.probeHost(ctx, h, sshc, mode); !ok {
		return out // it lacks what the job needs: select again (probe.go)
	}
	defer c.mapPaths(h)() // opt-in per host (pathmap.go)
	switch mode {
	case state.AccessAgent:
		return c.runAgent(h, sshc)
	case state.AccessPlain:
		return c.runPlain(h, sshc)
	}
	return c.runRemote(h, sshc)
}

// stale reports whether a host's last successful check is too old to trust.
func (c *call) stale(checked time.Time) bool {
	return checked.IsZero() || c.env.Now().Sub(checked) >= c.o.CheckInterval
}

// checkHost checks a host whose last check is stale (was: how it was
// reached so far) and returns how it is reached now; ok false means the
// attempt ends with out. One check per host at a time on this machine: a
// burst of calls (a library scan) must not open a hundred handshakes at once.
func (c *call) checkHost(ctx context.Context, h selector.HostView, sshc remote.SSH, was string) (mode string, out outcome, ok bool) {
	unlock := lockHost(c.o.LockDir, h.ID, c.o.Timeouts.CheckLock)
	defer unlock()
	// And across frontends sharing the database (state.Store.LockCheck).
	defer c.store.LockCheck(ctx, h.ID, c.env.Self.String(), c.o.Timeouts.CheckLock, c.o.Timeouts.CheckLock)()
	// A failure is written before the locks go (defers run last in, first
	// out): a call waiting for them must find it, not check again.
	var began time.Time // the check's start: its latency goes to the health history
	defer func() {
		if !ok && out.mark {
			dbCtx, cancel := c.dbContext(ctx)
			c.store.RecordCheck(dbCtx, c.checkResult(h, began, out.reason))
			cancel()
		}
	}()
	dbCtx, cancel := c.dbContext(ctx)
	fresh, err := c.store.Host(dbCtx, h.ID)
	cancel()
	if err == nil && fresh.LastErrAt.After(h.LastErrAt) {
		// It failed for another call while this one waited: do not spend
		// another timeout on it.
		return "", outcome{retry: true, reason: "failed a check for another call just now: " + fresh.LastError}, false
	}
	if err == nil && !c.stale(fresh.CheckedAt) {
		// Another call checked it while this one waited (and recorded
		// how it is reached).
		return c.hostAccess(ctx, h), outcome{}, true
	}
	mode, began = state.AccessWrapper, time.Now()
	ffmpeg := c.hostFFmpeg(h.Host) // the host's own (rffmpeg set HOST ffmpeg=…)
	if p, ok := c.env.Runner.(prober); ok {
		m, out, ok := c.probeAccess(ctx, p, sshc, ffmpeg)
		if !ok {
			return "", out, false
		}
		mode = m
		c.recordAccess(ctx, h, was, mode)
	} else if r := c.env.Runner.Check(ctx, sshc, ffmpeg, c.o.Timeouts.Check); r.Code != 0 {
		reason := r.Reason
		if c.hostKeys != "" && r.Code == 255 && !r.TimedOut {
			reason += " (host keys: " + c.hostKeys + ")"
		}
		return "", outcome{code: r.Code, retry: true, mark: true, reason: reason, dropMaster: r.TimedOut}, false
	}
	c.log.Debugf("Check passed for %s (%s -version, %s mode)", hostLabel(h), ffmpeg, mode)
	// Best effort, bounded: a failed write only means the next call checks
	// again.
	dbCtx, cancel = c.dbContext(ctx)
	c.store.RecordCheck(dbCtx, c.checkResult(h, began, ""))
	cancel()
	return mode, outcome{}, true
}

// checkResult is a check of h that began then, passed unless failed says why.
func (c *call) checkResult(h selector.HostView, began time.Time, failed string) state.CheckResult {
	return state.CheckResult{HostID: h.ID, At: c.env.Now(), Latency: time.Since(began), OK: failed == "", Reason: failed,
		Owner: c.env.Self.String(), PID: c.env.Self.PID}
}

// runRemote runs the job on a remote host and tells the host's failures
// (nothing started, or the connection died under the job) from the job's
// own exit code.
func (c *call) runRemote(h selector.HostView, sshc remote.SSH) outcome {
	c.log.Infof("Running command on host '%s' (%s)", h.Hostname, h.Servername)
	var words []string
	if vars := remote.PassEnv(c.env.Environ, c.o.EnvAllow); len(vars) > 0 {
		// env(1), not shell assignments: a quoted NAME=value word would be
		// run as a command.
		words = append([]string{"env"}, vars...)
	}
	if c.env.Nice > 0 {
		// Only lower: a remote user may not raise a priority.
		words = append(words, "nice", "-n", strconv.Itoa(c.env.Nice))
	}
	words = append(append(append(words, c.o.Pre...), c.remoteProg(h.Host)), c.j.Args...)
	token := remote.NewToken()
	script := remote.Script(c.env.Dir, token, words)
	r := c.env.Runner
	return c.runFramed(h, sshc, script, token, r.Signal, r.Guard)
}

// runFramed runs a remote command that speaks the wrapper's frame protocol
// (the wrapper script, or an agent's run request) framed with token, with
// signal forwarding and the guardian through signal and guard.
func (c *call) runFramed(h selector.HostView, sshc remote.SSH, command, token string,
	signal func(remote.SSH, int, syscall.Signal) bool, guard func(remote.SSH, int) (func(), error)) outcome {
	release := func() {}
	start := c.o.Timeouts.StartFor(h.Running())
	tr := c.track(func(sig syscall.Signal, pid int) bool { return signal(sshc, pid, sig) })
	res, err := c.env.Runner.RunRemote(remote.Spec{
		Argv: sshc.Argv(command, remote.Quiet(true)), Remote: true, Token: token, SSH: sshc,
		Stdin: c.s.Stdin, Stdout: c.stdout(), Stderr: c.s.Stderr,
		// A warm master starts a job in milliseconds; a host that froze
		// with its master up would hold the call forever.
		StartTimeout: start, Signals: c.signals(), Progress: tr.progressFunc(),
		Forward: func(sig syscall.Signal, pid int) bool {
			c.log.Infof("Forwarding SIG%s to PID %d on host '%s'", remote.SignalName(sig), pid, h.Hostname)
			return signal(sshc, pid, sig)
		},
		OnPID: func(pid int) {
			c.log.Debugf("Remote PID %d on host '%s'", pid, h.Hostname)
			tr.remotePID(pid)
			r, err := guard(sshc, pid)
			if err != nil {
				c.log.Warnf("No guardian for remote PID %d: %v", pid, err)
				return
			}
			release = r
		},
	})
	tr.stop()
	release()
	if res.Mux {
		c.log.Debugf("Ran over the master connection's socket (no ssh client)")
	}
	if err != nil {
		c.log.Errorf("Cannot run %s: %v", sshc.Path, err)
		c.say("cannot run %s: %v", sshc.Path, err)
		return outcome{code: 1}
	}
	if cl := remote.ClassOf(res); res.Started && !res.Lost && cl != remote.ClassOK {
		c.log.Infof("Command on host '%s' ended: %s; the host is not to blame", h.Hostname, cl.Describe(res.Code))
	}
	if !res.Started && remote.AgentRefused(res.Code, res.Diag) {
		// Switched to the agent since its last check: not bad, but due
		// for a check (which records the mode) when it is selected again.
		ctx, cancel := c.dbContext(context.Background())
		c.store.MarkChecked(ctx, h.ID, time.Time{})
		cancel()
		return outcome{code: res.Code, retry: true, reason: "refuses the wrapper script (an rffmpeg agent host): to be checked again"}
	}
	return classify(res, start)
}

// runAgent runs the job through the host's `rffmpeg agent`.
func (c *call) runAgent(h selector.HostView, sshc remote.SSH) outcome {
	req, ok := c.agentRequest()
	ar, can := c.env.Runner.(agentRunner)
	if !ok || !can {
		// `rffmpeg run` of another program: the agent would refuse it, and
		// selecting again could pick this host again. The host is fine.
		c.log.Infof("Host %s runs only ffmpeg and ffprobe (rffmpeg agent): running %s here", hostLabel(h), c.j.RemoteProg)
		return outcome{code: c.runLocal()}
	}
	c.log.Infof("Running command on host '%s' (%s) through rffmpeg agent", h.Hostname, h.Servername)
	req.Token = remote.NewToken()
	return c.runFramed(h, sshc, remote.AgentCommand(req), req.Token, ar.AgentSignal, ar.AgentGuard)
}

// runPlain runs the job on a host behind a forced-command wrapper, as the
// original sends it: commands.pre, the remote program and the quoted
// arguments, nothing else (see access.go for what that gives up).
func (c *call) runPlain(h selector.HostView, sshc remote.SSH) outcome {
	c.log.Infof("Running command on host '%s' (%s) in plain mode", h.Hostname, h.Servername)
	words := append(append(append([]string{}, c.o.Pre...), c.remoteProg(h.Host)), c.j.Args...)
	// No frames: ssh is run like a local program; its signals (forwarded
	// as to a local job) end the session, and with it the remote job as far
	// as the forced command lets it.
	res, err := c.env.Runner.RunLocal(remote.Spec{Argv: sshc.Argv(remote.Join(words), remote.Quiet(true)),
		Stdin: c.s.Stdin, Stdout: c.stdout(), Stderr: c.s.Stderr, Signals: c.signals()})
	if err != nil {
		c.log.Errorf("Cannot run %s: %v", sshc.Path, err)
		c.say("cannot run %s: %v", sshc.Path, err)
		return outcome{code: 1}
	}
	if res.Code == 255 {
		// ssh's own failure, or the job's 255: without frames they look
		// the same; the original marks the host bad too. No retry: the
		// job may have written output.
		return outcome{code: 255, mark: true, failure: state.FailLost, reason: "ssh exited 255 in plain mode (connection failed or lost)"}
	}
	return outcome{code: res.Code}
}

// classify turns a remote run's result into an outcome: only failures of
// the host mark it bad; the job's own exit code never does.
func classify(res remote.Result, start time.Duration) outcome {
	switch {
	case res.Lost:
		return outcome{code: res.Code, mark: true, dropMaster: true, failure: state.FailLost,
			reason: "connection lost while running (host frozen or unreachable)"}
	case res.Started:
		return outcome{code: res.Code, failure: failureOf(remote.ClassOf(res))}
	case res.TimedOut:
		return outcome{code: res.Code, retry: true, mark: true, dropMaster: true,
			reason: fmt.Sprintf("timed out: the command did not start within %s (host frozen or unreachable)", start)}
	case res.Diag != "":
		return outcome{code: res.Code, retry: true, mark: true, reason: remote.Classify(res.Code, res.Diag)}
	}
	return outcome{code: res.Code, retry: true, mark: true,
		reason: fmt.Sprintf("ssh failed before the command started (exit %d)", res.Code)}
}

// remoteProg is the program the job runs on host h: the host's own ffmpeg
// or ffprobe when it has one (rffmpeg set HOST ffmpeg=…), else the configured.
func (c *call) remoteProg(h state.Host) string {
	switch {
	case c.j.RemoteProg == c.o.RemoteFFmpeg && h.FFmpeg != "":
		return h.FFmpeg
	case c.j.RemoteProg == c.o.RemoteFFprobe && h.FFprobe != "":
		return h.FFprobe
	}
	return c.j.RemoteProg
}

// failureOf is a remote class as a history failure class.
func failureOf(cl remote.Class) string {
	if f, ok := failures[cl]; ok {
		return f
	}
	return state.FailFFmpeg
}

var failures = map[remote.Class]string{
	remote.ClassOK: "", remote.ClassExit: state.FailFFmpeg, remote.ClassSignal: state.FailSignal,
	remote.ClassMissing: state.FailRemoteMissing, remote.ClassNotExec: state.FailRemoteNotExec,
	remote.ClassConnect: state.FailConnect, remote.ClassAuth: state.FailAuth, remote.ClassHostKey: state.FailHostKey,
	remote.ClassShell: state.FailRemoteShell, remote.ClassTimeout: state.FailTimeout, remote.ClassLost: state.FailLost,
}

// codeFailure is the failure class of an exit code alone (a local job, or
// a remote one whose class is not known): 128+N is a signal's.
func codeFailure(code int) string {
	switch {
	case code == 0:
		return ""
	case code > 128 && code <= 128+64:
		return state.FailSignal
	}
	return state.FailFFmpeg
}
