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
	sshc := c.sshFor(h.Hostname)
	if c.stale(h.CheckedAt) {
		if out, ok := c.checkHost(ctx, h, sshc); !ok {
			return out
		}
	}
	return c.runRemote(h, sshc)
}

// stale reports whether a host's last successful check is too old to trust.
func (c *call) stale(checked time.Time) bool {
	return checked.IsZero() || c.env.Now().Sub(checked) >= c.o.CheckInterval
}

// checkHost checks a host whose last check is stale; ok false means the
// attempt ends with out. One check per host at a time on this machine: a
// burst of calls (a library scan) must not open a hundred handshakes at once.
func (c *call) checkHost(ctx context.Context, h selector.HostView, sshc remote.SSH) (out outcome, ok bool) {
	unlock := lockHost(c.o.LockDir, h.ID, c.o.Timeouts.CheckLock)
	defer unlock()
	fresh, err := c.store.Host(ctx, h.ID)
	if err == nil && fresh.LastErrAt.After(h.LastErrAt) {
		// It failed for another call while this one waited: do not spend
		// another timeout on it.
		return outcome{retry: true, reason: "failed a check for another call just now: " + fresh.LastError}, false
	}
	if err == nil && !c.stale(fresh.CheckedAt) {
		return outcome{}, true // another call checked it while this one waited
	}
	r := c.env.Runner.Check(ctx, sshc, c.o.RemoteFFmpeg, c.o.Timeouts.Check)
	if r.Code != 0 {
		return outcome{code: r.Code, retry: true, mark: true, reason: r.Reason, dropMaster: r.TimedOut}, false
	}
	c.log.Debugf("Check passed for %s (%s -version)", hostLabel(h), c.o.RemoteFFmpeg)
	// Best effort: a failed write only means the next call checks again.
	c.store.MarkChecked(ctx, h.ID, c.env.Now())
	return outcome{}, true
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
	words = append(append(append(words, c.o.Pre...), c.j.RemoteProg), c.j.Args...)
	script := remote.Script(c.env.Dir, words)
	release := func() {}
	start := c.o.Timeouts.Start
	res, err := c.env.Runner.RunRemote(remote.Spec{
		Argv: sshc.Argv(script, remote.Quiet(true)), Remote: true,
		Stdin: c.s.Stdin, Stdout: c.stdout(), Stderr: c.s.Stderr,
		// A warm master starts a job in milliseconds; a host that froze
		// with its master up would hold the call forever.
		StartTimeout: start, Signals: c.env.Signals,
		Forward: func(sig syscall.Signal, pid int) bool {
			c.log.Infof("Forwarding SIG%s to PID %d on host '%s'", remote.SignalName(sig), pid, h.Hostname)
			return c.env.Runner.Signal(sshc, pid, sig)
		},
		OnPID: func(pid int) {
			c.log.Debugf("Remote PID %d on host '%s'", pid, h.Hostname)
			r, err := c.env.Runner.Guard(sshc, pid)
			if err != nil {
				c.log.Warnf("No guardian for remote PID %d: %v", pid, err)
				return
			}
			release = r
		},
	})
	release()
	if err != nil {
		c.log.Errorf("Cannot run %s: %v", sshc.Path, err)
		c.say("cannot run %s: %v", sshc.Path, err)
		return outcome{code: 1}
	}
	if cl := remote.ClassOf(res); res.Started && !res.Lost && cl != remote.ClassOK {
		c.log.Infof("Command on host '%s' ended: %s; the host is not to blame", h.Hostname, cl.Describe(res.Code))
	}
	return classify(res, start)
}

// classify turns a remote run's result into an outcome: only failures of
// the host mark it bad; the job's own exit code never does.
func classify(res remote.Result, start time.Duration) outcome {
	switch {
	case res.Lost:
		return outcome{code: res.Code, mark: true, dropMaster: true,
			reason: "connection lost while running (host frozen or unreachable)"}
	case res.Started:
		return outcome{code: res.Code}
	case res.TimedOut:
		return outcome{code: res.Code, retry: true, mark: true, dropMaster: true,
			reason: fmt.Sprintf("timed out: the command did not start within %s (host frozen or unreachable)", start)}
	case res.Diag != "":
		return outcome{code: res.Code, retry: true, mark: true, reason: remote.Classify(res.Code, res.Diag)}
	}
	return outcome{code: res.Code, retry: true, mark: true,
		reason: fmt.Sprintf("ssh failed before the command started (exit %d)", res.Code)}
}
