package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// ProbeTimeout bounds a whole capability probe done outside a job's path
// (rffmpeg add, a refresh beside a running job): up to two round trips of
// ffmpeg runs, each device or encoder try bounded to 10 s on the host by
// timeout(1).
const ProbeTimeout = 90 * time.Second

// ProbeMaxAge is how long probed capabilities are trusted. A driver update
// or a new card changes them; a probe costs a second or two of the host's
// time, so it is redone this rarely, and beside a running job.
const ProbeMaxAge = 6 * time.Hour

// pre is commands.pre without empty words (the original's sample has
// pre: [""]).
func pre(c *config.Config) []string {
	var out []string
	for _, w := range c.Commands.Pre {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// ScriptRunner runs a POSIX sh script where the ffmpeg to probe lives
// (here, or on a host over SSH) and returns its standard output.
type ScriptRunner func(ctx context.Context, script string) (string, error)

// Probe finds what an ffmpeg (the command words, e.g. commands.pre and its
// path) can do, through run: one round trip lists and tries the devices
// (jobclass.ProbeScript), a second one, only when there are hardware
// encoders worth trying, opens them. It returns capability tokens for
// state.Store.SetCapabilities or SetMachineCapabilities.
func Probe(ctx context.Context, run ScriptRunner, ffmpeg []string) ([]string, error) {
	out, err := run(ctx, jobclass.ProbeScript(ffmpeg))
	if err != nil {
		return nil, err
	}
	p := jobclass.ParseProbeScript(out)
	if p.Encoders == "" && p.Filters == "" {
		return nil, errors.New("it listed no encoders or filters (not an ffmpeg?)")
	}
	if cands := jobclass.EncoderCandidates(p); len(cands) > 0 {
		out, err := run(ctx, jobclass.EncoderProbeScript(ffmpeg, cands))
		if err != nil {
			return nil, fmt.Errorf("open encoders: %w", err)
		}
		jobclass.ParseEncoderProbe(&p, out)
	}
	return jobclass.Capabilities(p), nil
}

// LocalScripts runs probe scripts on this machine.
// They run in / with only PATH set: the caller's FFREPORT would make
// ffmpeg write report files, as this user, into the caller's working
// directory, where the caller's own job then cannot write its report.
func LocalScripts(ctx context.Context, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir, cmd.Env = "/", []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	return string(out), err
}

// SSHScripts runs probe scripts on a host through ssh (under sh, whatever
// the account's login shell), its errors classified.
func SSHScripts(s remote.SSH) ScriptRunner {
	return func(ctx context.Context, script string) (string, error) {
		return SSHOutput(ctx, s, ProbeCommand(script))
	}
}

// SSHOutput runs a remote command through ssh and returns its standard
// output; a failure is classified (connect, auth, 127, …).
func SSHOutput(ctx context.Context, s remote.SSH, command string) (string, error) {
	out, _, _, err := sshRun(ctx, s, command)
	return out, err
}

// sshRun is SSHOutput that also returns the remote command's stderr and
// exit code (-1 when ssh did not run or timed out).
func sshRun(ctx context.Context, s remote.SSH, command string) (stdout, stderr string, code int, err error) {
	argv := s.Argv(command, remote.Quiet(false))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = remote.SSHEnv(os.Environ())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A master started by this run lives on; never wait on its streams.
	cmd.WaitDelay = 200 * time.Millisecond
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return "", "", -1, fmt.Errorf("timed out (host frozen or unreachable)")
	case err != nil && cmd.ProcessState != nil:
		code := remote.ExitCode(cmd.ProcessState)
		return "", errb.String(), code, errors.New(remote.Classify(code, errb.String()))
	case err != nil:
		return "", "", -1, err
	}
	return out.String(), errb.String(), 0, nil
}

// ProbeCommand is the remote command that runs a probe script under sh.
func ProbeCommand(script string) string { return remote.Join([]string{"sh", "-c", script}) }

// oneOff is how an admin command reaches a host: without a master
// connection, which would outlive the command under the admin's account,
// and without writing the state's known_hosts (ssh, run as root, would
// create it readable by root alone, and the media server's calls could no
// longer read it): under remote.host_keys: tofu the key is recorded by
// the shim's first call, as before, not by this check.
func oneOff(c *config.Config, h state.Host) remote.SSH {
	// No socket directory either: an admin's one-off must not create one
	// (as root, in the service account's persist directory).
	s := ForHost(sshBase(c), h)
	s.ControlDir = ""
	if s.HostKeys != remote.HostKeysSSH {
		s.HostKeys = remote.HostKeysIgnore
	}
	return s
}

// CheckTimeout bounds HostVersion: the connect timeout, then time for the
// remote ffmpeg (or the agent) to answer. The console shows it while it
// waits.
func CheckTimeout(c *config.Config) time.Duration {
	return time.Duration(c.Remote.ConnectTimeout)*time.Second + 10*time.Second
}

// HostVersion runs host h's own ffmpeg -version (the shim's check) and
// returns its first line, bounded by the connect timeout and a margin.
func HostVersion(ctx context.Context, c *config.Config, h state.Host) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout(c))
	defer cancel()
	ffmpeg, _ := Programs(c, h)
	s := oneOff(c, h)
	out, stderr, code, err := sshRun(ctx, s, remote.Join([]string{ffmpeg, "-version"}))
	if err != nil && remote.AgentRefused(code, stderr) {
		// A key forced to `rffmpeg agent` runs no plain command: ask the
		// agent itself, as the shim's check does.
		return agentVersion(ctx, s)
	}
	if err != nil {
		return "", fmt.Errorf("%s -version: %w", ffmpeg, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return first, nil
}

// agentVersion asks a host's rffmpeg agent for its version and says what
// it runs.
func agentVersion(ctx context.Context, s remote.SSH) (string, error) {
	out, err := SSHOutput(ctx, s, remote.AgentVersion())
	var v struct {
		Protocol string            `json:"protocol"`
		Version  string            `json:"version"`
		Programs map[string]string `json:"programs"`
	}
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Protocol != remote.AgentProtocol {
		return "", fmt.Errorf("the rffmpeg agent refused a plain command but did not answer a version request")
	}
	return fmt.Sprintf("rffmpeg agent %s (%s) running ffmpeg %s", v.Version, v.Protocol, v.Programs["ffmpeg"]), nil
}

// ProbeHost probes remote host h with its own ffmpeg (rffmpeg set HOST
// ffmpeg=…), bounded by ProbeTimeout.
func ProbeHost(ctx context.Context, c *config.Config, h state.Host) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	ffmpeg, _ := Programs(c, h)
	caps, err := Probe(ctx, SSHScripts(oneOff(c, h)), append(pre(c), ffmpeg))
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", ffmpeg, err)
	}
	return caps, nil
}

// ProbeLocal probes this machine (the local fallback's ffmpeg, as the
// fallback and localhost hosts run it) and returns its capability tokens,
// for state.Store.SetMachineCapabilities.
func ProbeLocal(ctx context.Context, c *config.Config) ([]string, error) {
	return ProbeLocalWith(ctx, append(pre(c), c.Commands.FallbackFFmpeg), ProbeTimeout)
}

// ProbeLocalWith probes this machine's ffmpeg (the command words), bounded
// by limit.
func ProbeLocalWith(ctx context.Context, ffmpeg []string, limit time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	caps, err := Probe(ctx, LocalScripts, ffmpeg)
	if err != nil {
		return nil, fmt.Errorf("probe this machine's %s: %w", strings.Join(ffmpeg, " "), err)
	}
	return caps, nil
}
