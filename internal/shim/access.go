package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Access modes (issue 10 §9). A transcode host is reached one of three ways,
// found by its check and recorded in the store (state.HostAccess):
//
//   - wrapper: rffmpeg's wrapper script (cwd, PID for signals, orphan guard);
//   - agent: the key is forced to run `rffmpeg agent` (docs/agent.md), which
//     refuses the wrapper with exit 126 and "rffmpeg agent: refused";
//   - plain: the key is forced through a user's wrapper that accepts only an
//     allowlisted ffmpeg/ffprobe path as the first word (the original
//     rffmpeg's documented hardening). Such a host runs the original's
//     command line: no working directory, no remote PID — so no signal
//     forwarding and no orphan guard beyond the session's end.

// prober is what access detection needs beyond Runner: Exec has it; a
// test's fake runner may not, and then every host is a wrapper host.
type prober interface {
	Probe(ctx context.Context, s remote.SSH, command string, limit time.Duration) probeResult
}

// agentRunner is how signals and the guardian reach an agent host's job.
type agentRunner interface {
	AgentSignal(s remote.SSH, pid int, sig syscall.Signal) bool
	AgentGuard(s remote.SSH, pid int) (release func(), err error)
}

// probeResult is one remote command's end: its exit code and output.
type probeResult struct {
	Code           int
	Stdout, Stderr []byte
	TimedOut       bool
}

// Probe runs command on the host (ssh's errors at LogLevel=ERROR, so a
// failure has a reason), bounded by limit.
func (Exec) Probe(ctx context.Context, s remote.SSH, command string, limit time.Duration) probeResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	argv := s.Argv(command, remote.Quiet(false))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = remote.SSHEnv(os.Environ())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A master started by this call lives on; never wait on streams it holds.
	cmd.WaitDelay = 200 * time.Millisecond
	err := cmd.Run()
	r := probeResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	switch {
	case ctx.Err() != nil:
		r.Code, r.TimedOut = 255, true
	case err == nil:
	case cmd.ProcessState != nil:
		r.Code = remote.ExitCode(cmd.ProcessState)
	default:
		r.Code = 255
		r.Stderr = append(r.Stderr, err.Error()...)
	}
	return r
}

func (Exec) AgentSignal(s remote.SSH, pid int, sig syscall.Signal) bool {
	ctx, cancel := context.WithTimeout(context.Background(), remote.SignalTimeout)
	defer cancel()
	argv := s.Argv(remote.AgentSignal(pid, remote.SignalName(sig), false), remote.Quiet(true))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = remote.SSHEnv(os.Environ())
	cmd.WaitDelay = 200 * time.Millisecond
	return cmd.Run() == nil
}

func (Exec) AgentGuard(s remote.SSH, pid int) (func(), error) {
	g, err := remote.StartGuardian(s.Argv(remote.AgentSignal(pid, "TERM", true), remote.Quiet(true)))
	if err != nil {
		return func() {}, err
	}
	return g.Release, nil
}

// probeAccess checks a host through p and finds how it is reached. ok
// false: the host failed (out says why).
func (c *call) probeAccess(ctx context.Context, p prober, sshc remote.SSH, ffmpeg string) (mode string, out outcome, ok bool) {
	limit := c.o.Timeouts.Check
	r := p.Probe(ctx, sshc, remote.Join([]string{ffmpeg, "-version"}), limit)
	if remote.AgentRefused(r.Code, string(r.Stderr)) {
		v := p.Probe(ctx, sshc, remote.AgentVersion(), limit)
		var ver struct {
			Protocol string `json:"protocol"`
		}
		if v.Code != 0 || json.Unmarshal(v.Stdout, &ver) != nil || ver.Protocol != remote.AgentProtocol {
			return "", c.probeFailed(v, "the rffmpeg agent refused a plain command but did not answer a version request"), false
		}
		return state.AccessAgent, outcome{}, true
	}
	if r.Code != 0 {
		return "", c.probeFailed(r, ""), false
	}
	// ffmpeg answers. Does the host run the wrapper script too? A forced
	// command that allows only ffmpeg/ffprobe as the first word does not.
	token := remote.NewToken()
	w := p.Probe(ctx, sshc, remote.Script("", token, []string{"true"}), limit)
	switch {
	case w.Code == 0 && bytes.Contains(w.Stderr, remote.Frame(token, 'S', "")):
		return state.AccessWrapper, outcome{}, true
	case w.Code == 255 || w.TimedOut:
		return "", c.probeFailed(w, ""), false
	}
	return state.AccessPlain, outcome{}, true
}

// probeFailed is the outcome of a failed probe: the host is marked bad.
func (c *call) probeFailed(r probeResult, why string) outcome {
	reason := why
	switch {
	case r.TimedOut:
		reason = fmt.Sprintf("timed out after %s (host frozen or unreachable)", c.o.Timeouts.Check)
	case reason == "":
		reason = remote.Classify(r.Code, string(r.Stderr))
	}
	if c.hostKeys != "" && r.Code == 255 && !r.TimedOut {
		reason += " (host keys: " + c.hostKeys + ")"
	}
	return outcome{code: r.Code, retry: true, mark: true, reason: reason, dropMaster: r.TimedOut}
}

// recordAccess stores a host's mode when it changed, and says so once (the
// change is the once: calls that find it recorded say nothing).
func (c *call) recordAccess(ctx context.Context, h selector.HostView, was, mode string) {
	if mode == was {
		return
	}
	switch mode {
	case state.AccessAgent:
		c.log.Infof("Host %s runs rffmpeg agent: sending it agent requests", hostLabel(h))
	case state.AccessPlain:
		c.log.Warnf("Host %s refuses rffmpeg's wrapper script but runs %s (a forced-command wrapper): running it in plain mode, "+
			"as the original rffmpeg does, with fewer guarantees: no working directory, no remote PID (so no signal forwarding) "+
			"and no orphan guard beyond the end of the SSH session; 'rffmpeg agent' keeps them (see docs/agent.md)",
			hostLabel(h), c.o.RemoteFFmpeg)
	default:
		c.log.Infof("Host %s runs rffmpeg's wrapper script again", hostLabel(h))
	}
	dbCtx, cancel := c.dbContext(ctx)
	defer cancel()
	if err := c.store.SetHostAccess(dbCtx, h.ID, mode); err != nil {
		c.log.Warnf("%v", err)
	}
}

// recordedAccess is how a host is reached as the selection read it (the
// wrapper when the runner cannot probe).
func (c *call) recordedAccess(h selector.HostView) string {
	if _, ok := c.env.Runner.(prober); !ok {
		return state.AccessWrapper
	}
	return h.Access
}

// hostAccess is how a host is reached as recorded now, after another call
// checked it (the wrapper when the runner cannot probe, or the store
// cannot say).
func (c *call) hostAccess(ctx context.Context, h selector.HostView) string {
	if _, ok := c.env.Runner.(prober); !ok {
		return state.AccessWrapper
	}
	dbCtx, cancel := c.dbContext(ctx)
	defer cancel()
	mode, err := c.store.HostAccess(dbCtx, h.ID)
	if err != nil {
		c.log.Debugf("%v", err)
	}
	return mode
}

// agentRequest is the job as an agent request: a program name (the agent
// maps it to its own path), the arguments as data, the directory, the
// allowed environment and the nice value. ok false: the job is not one an
// agent runs (`rffmpeg run` of another program).
func (c *call) agentRequest() (remote.AgentRequest, bool) {
	prog := ""
	switch c.j.RemoteProg {
	case c.o.RemoteFFmpeg:
		prog = "ffmpeg"
	case c.o.RemoteFFprobe:
		prog = "ffprobe"
	default:
		return remote.AgentRequest{}, false
	}
	req := remote.AgentRequest{Program: prog, Args: c.j.Args, Dir: c.env.Dir, Nice: min(max(c.env.Nice, 0), 19)}
	for _, kv := range remote.PassEnv(c.env.Environ, c.o.EnvAllow) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if req.Env == nil {
				req.Env = map[string]string{}
			}
			req.Env[k] = v
		}
	}
	return req, true
}
