package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// job is one call to run on the selected host.
type job struct {
	remoteProg, localProg string   // what runs on a remote host and here
	args                  []string // its arguments
	stdoutToStderr        bool     // the original's routing: ffmpeg's stdout goes to stderr
	label                 string   // the command as recorded in the processes table
}

// shim is the ffmpeg/ffprobe face: behave exactly like the real tool.
func (a *app) shim(tool string, argv []string) int {
	c, cerr := a.loadConfig()
	if cerr != nil {
		// A broken configuration must not stop playback: run the local tool
		// with the default paths, and say why where someone will look.
		c, _ = config.Parse(nil, func(string) (string, bool) { return "", false })
	}
	log := a.logger(c)
	defer log.Close()
	args := argv[1:]
	log.Infof("Starting rffmpeg as %s with args: %s", filepath.Base(argv[0]), strings.Join(args, " "))
	if cerr != nil {
		log.Errorf("Invalid configuration, running locally with defaults: %v", cerr)
	}
	j := job{remoteProg: c.Commands.FFmpeg, localProg: c.Commands.FallbackFFmpeg, args: args}
	if tool == "ffprobe" {
		j.remoteProg, j.localProg = c.Commands.FFprobe, c.Commands.FallbackFFprobe
	} else {
		// The original sends ffmpeg's stdout to stderr unless a special flag
		// (-version, -encoders, …) asks for output the caller reads.
		j.stdoutToStderr = true
		for _, arg := range args {
			for _, f := range c.SpecialFlags() {
				if arg == f {
					j.stdoutToStderr = false
				}
			}
		}
	}
	j.label = tool + " " + remote.Join(args)
	if cerr != nil {
		return a.finish(log, a.runLocal(log, j, nil))
	}
	return a.finish(log, a.runJob(c, log, j))
}

func (a *app) finish(log *logging.Logger, code int) int {
	log.Infof("Finished rffmpeg with return code %d", code)
	return code
}

// cmdRun is `rffmpeg run`: any command, through the same machinery.
func cmdRun(a *app, c *config.Config, o map[string]string, args []string) error {
	log := a.logger(c)
	defer log.Close()
	log.Infof("Starting rffmpeg as rffmpeg run with args: %s", strings.Join(args, " "))
	j := job{remoteProg: args[0], localProg: args[0], args: args[1:], stdoutToStderr: o["stderr-as-stdout"] == "true",
		label: remote.Join(args)}
	return exitCode(a.finish(log, a.runJob(c, log, j)))
}

func (a *app) signals() chan os.Signal {
	ch := make(chan os.Signal, 8)
	// Forwarded to the job. SIGPIPE is caught (not ignored, which children
	// would inherit) so a caller that closed its end cannot kill us mid-cleanup.
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return ch
}

func (a *app) stdoutFor(j job) *os.File {
	if j.stdoutToStderr {
		return a.stderr
	}
	return a.stdout
}

// runLocal runs the job's local program here; sigs may be nil.
func (a *app) runLocal(log *logging.Logger, j job, sigs chan os.Signal) int {
	if sigs == nil {
		sigs = a.signals()
	}
	log.Infof("Running command on host 'localhost' (localhost)")
	res, err := remote.Run(remote.Spec{Argv: append([]string{j.localProg}, j.args...), Stdin: a.stdin,
		Stdout: a.stdoutFor(j), Stderr: a.stderr, Signals: sigs})
	if err != nil {
		// The one case where the shim speaks on stderr: nothing could run.
		log.Errorf("Cannot run %s: %v", j.localProg, err)
		fmt.Fprintf(a.stderr, "rffmpeg: cannot run %s: %v\n", j.localProg, err)
	}
	return res.Code
}

// maxAttempts bounds re-selection after failed hosts (each failure marks a
// host bad, so the policy reaches the fallback long before).
const maxAttempts = 16

func (a *app) runJob(c *config.Config, log *logging.Logger, j job) int {
	ctx := context.Background()
	sigs := a.signals()
	store, err := openStore(ctx, c)
	if err != nil {
		log.Errorf("Cannot open the state database, running locally: %v", err)
		if !c.Commands.Fallback {
			fmt.Fprintf(a.stderr, "rffmpeg: %v (and commands.fallback is off)\n", err)
			return 1
		}
		return a.runLocal(log, j, sigs)
	}
	defer store.Close()
	self := owner.Self()
	req := state.AcquireRequest{Claim: state.Claim{PID: self.PID, Owner: self.String(), Cmd: j.label}}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		req.Claim.Now = a.now()
		pol := policy(c, req.Claim.Now)
		var why selector.Reason
		var chosen selector.HostView
		lease, d, _, err := store.Acquire(ctx, req, func(snap state.Snapshot) state.Decision {
			v := pol.Classify(snap)
			var id int64
			var none bool
			id, none, why = pol.Choose(v)
			for _, h := range v.Hosts {
				if h.ID == id {
					chosen = h
				}
			}
			return state.Decision{HostID: id, None: none, ReapProcesses: v.DeadProcesses, ReapMarks: v.DeadMarks}
		})
		if err != nil {
			log.Errorf("Cannot select a host, running locally: %v", err)
			return a.runLocal(log, j, sigs)
		}
		if d.None {
			log.Errorf("No usable host and commands.fallback is off: not running")
			fmt.Fprintln(a.stderr, "rffmpeg: no usable transcode host (all bad or draining) and commands.fallback is off")
			return 1
		}
		stop := a.heartbeat(store, lease)
		code, retry, reason := a.attempt(c, log, j, chosen, why, sigs)
		stop()
		if !retry {
			if err := store.Release(context.Background(), lease); err != nil {
				log.Errorf("%v", err)
			}
			return code
		}
		log.Errorf("Marking host %s (%s) as bad due to retcode %d: %s", chosen.Hostname, chosen.Servername, code, reason)
		req.Replace, req.MarkBad = &lease, &state.BadMark{HostID: chosen.ID, Reason: reason}
	}
	log.Errorf("Gave up after %d hosts failed", maxAttempts)
	return 1
}

// heartbeat keeps a long job's row fresh for frontends on other machines.
func (a *app) heartbeat(store *state.Store, lease state.Lease) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(owner.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				store.Heartbeat(context.Background(), lease, a.now())
			}
		}
	}()
	return func() { close(done) }
}

// attempt runs the job on the chosen host (id 0: the fallback). retry means
// the host failed before anything ran; code is then ssh's.
func (a *app) attempt(c *config.Config, log *logging.Logger, j job, h selector.HostView, why selector.Reason, sigs chan os.Signal) (code int, retry bool, reason string) {
	if h.ID == state.LocalHostID || h.IsLocal() {
		log.Debugf("Chose %s: %s", hostLabel(h), why)
		return a.runLocal(log, j, sigs), false, ""
	}
	log.Debugf("Chose %s: %s (%d running, weight %d)", hostLabel(h), why, len(h.Processes), h.Weight)
	sshc := sshFor(c, h.Hostname)
	now := a.now()
	if h.CheckedAt.IsZero() || now.Sub(h.CheckedAt) >= time.Duration(c.Remote.CheckInterval)*time.Second {
		rc, reason := a.check(c, sshc)
		if rc != 0 {
			return rc, true, reason
		}
		log.Debugf("Host %s passed its check (%s -version)", hostLabel(h), c.Commands.FFmpeg)
		// Best effort: a failed write only means the next call checks again.
		if s, err := openStore(context.Background(), c); err == nil {
			s.MarkChecked(context.Background(), h.ID, now)
			s.Close()
		}
	}
	log.Infof("Running command on host '%s' (%s)", h.Hostname, h.Servername)
	cwd, _ := os.Getwd()
	script := remote.Script(cwd, append(append(append([]string{}, c.Commands.Pre...), j.remoteProg), j.args...))
	exe, _ := os.Executable()
	var guard *remote.Guardian
	startTimeout := time.Duration(c.Remote.ConnectTimeout)*time.Second + 2*time.Second
	if c.Remote.Persist == 0 {
		startTimeout += 8 * time.Second // a full handshake every call
	}
	res, err := remote.Run(remote.Spec{
		Argv: sshc.Argv(script, remote.Quiet(true)), Remote: true,
		Stdin: a.stdin, Stdout: a.stdoutFor(j), Stderr: a.stderr,
		StartTimeout: startTimeout, Signals: sigs,
		Forward: func(sig syscall.Signal, pid int) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			name := strings.TrimPrefix(signalName(sig), "SIG")
			log.Infof("Forwarding %s to PID %d on host '%s'", signalName(sig), pid, h.Hostname)
			argv := sshc.Argv(remote.SignalScript(pid, name, false), remote.Quiet(true))
			return exec.CommandContext(ctx, argv[0], argv[1:]...).Run() == nil
		},
		OnPID: func(pid int) {
			log.Debugf("Remote PID %d on host '%s'", pid, h.Hostname)
			if exe == "" {
				return
			}
			g, err := remote.StartGuardian(exe, sshc.Argv(remote.SignalScript(pid, "TERM", true), remote.Quiet(true)))
			if err != nil {
				log.Warnf("No guardian for remote PID %d: %v", pid, err)
				return
			}
			guard = g
		},
	})
	guard.Release()
	if err != nil {
		log.Errorf("Cannot run %s: %v", c.Commands.SSH, err)
		fmt.Fprintf(a.stderr, "rffmpeg: cannot run %s: %v\n", c.Commands.SSH, err)
		return 1, false, ""
	}
	if !res.Started {
		switch {
		case res.TimedOut:
			return res.Code, true, fmt.Sprintf("timed out: the command did not start within %s", startTimeout)
		case res.Diag != "":
			return res.Code, true, remote.Classify(res.Code, res.Diag)
		default:
			return res.Code, true, fmt.Sprintf("ssh failed before the command started (exit %d)", res.Code)
		}
	}
	return res.Code, false, ""
}

func hostLabel(h selector.HostView) string {
	if h.ID == state.LocalHostID {
		return "localhost (fallback)"
	}
	return fmt.Sprintf("host '%s' (%s, id %d)", h.Hostname, h.Servername, h.ID)
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	}
	return "SIGTERM"
}

// check runs `ffmpeg -version` on the host (the original's test), bounded
// by the connect timeout plus a margin, and says why it failed.
func (a *app) check(c *config.Config, sshc remote.SSH) (int, string) {
	limit := time.Duration(c.Remote.ConnectTimeout)*time.Second + 1500*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	argv := sshc.Argv(remote.Join([]string{c.Commands.FFmpeg, "-version"}), remote.Quiet(false))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A master started by this call lives on; never wait on streams it holds.
	cmd.WaitDelay = 200 * time.Millisecond
	err := cmd.Run()
	if ctx.Err() != nil {
		return 255, fmt.Sprintf("timed out after %s", limit)
	}
	if err == nil {
		return 0, ""
	}
	if cmd.ProcessState == nil {
		return 255, err.Error()
	}
	rc := remote.ExitCode(cmd.ProcessState)
	return rc, remote.Classify(rc, stderr.String())
}
