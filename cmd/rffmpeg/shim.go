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
	"github.com/rffmpeg/rffmpeg/internal/setup"
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
		j.stdoutToStderr = !hasAny(args, c.SpecialFlags())
	}
	j.label = tool + " " + remote.Join(args)
	if cerr != nil {
		return a.finish(log, a.runLocal(log, j, nil))
	}
	return a.finish(log, a.runJob(c, log, j))
}

// hasAny reports whether any argument is one of flags.
func hasAny(args, flags []string) bool {
	for _, arg := range args {
		for _, f := range flags {
			if arg == f {
				return true
			}
		}
	}
	return false
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
	store, err := setup.OpenStore(ctx, c)
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
		pol := setup.Policy(c, req.Claim.Now, self)
		var why selector.Reason
		var chosen selector.HostView
		lease, d, _, err := store.Acquire(ctx, req, func(snap state.Snapshot) state.Decision {
			var d state.Decision
			d, chosen, why = pol.Plan(snap)
			return d
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
		out := a.attempt(c, store, log, j, chosen, why, sigs)
		stop()
		if out.mark && out.dropMaster {
			endMaster(sshFor(c, chosen.Hostname), log)
		}
		if !out.retry {
			if out.mark {
				// The job ran and its host failed under it: the media server
				// sees the failure (and retries); new calls avoid the host.
				log.Errorf("Marking host %s (%s) as bad due to retcode %d: %s", chosen.Hostname, chosen.Servername, out.code, out.reason)
				claim := req.Claim
				claim.Now = a.now() // the mark runs from now, not from the job's start
				if err := store.MarkBad(context.Background(), chosen.ID, claim, out.reason); err != nil {
					log.Errorf("%v", err)
				}
			}
			if err := store.Release(context.Background(), lease); err != nil {
				log.Errorf("%v", err)
			}
			return out.code
		}
		req.Replace, req.MarkBad = &lease, nil
		if out.mark {
			log.Errorf("Marking host %s (%s) as bad due to retcode %d: %s", chosen.Hostname, chosen.Servername, out.code, out.reason)
			req.MarkBad = &state.BadMark{HostID: chosen.ID, Reason: out.reason}
		} else {
			log.Infof("Skipping host %s (%s): %s", chosen.Hostname, chosen.Servername, out.reason)
		}
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

// outcome is how an attempt on one host ended.
type outcome struct {
	code       int    // the job's exit code (ssh's when retry)
	retry      bool   // nothing ran: select again
	mark       bool   // mark the host bad for reason
	reason     string // why the host failed
	dropMaster bool   // the host stopped answering: end its master connection
}

// attempt runs the job on the chosen host (id 0: the fallback).
func (a *app) attempt(c *config.Config, store *state.Store, log *logging.Logger, j job, h selector.HostView, why selector.Reason, sigs chan os.Signal) outcome {
	if h.ID == state.LocalHostID || h.IsLocal() {
		log.Debugf("Chose %s: %s", hostLabel(h), why)
		return outcome{code: a.runLocal(log, j, sigs)}
	}
	log.Debugf("Chose %s: %s (%d running, weight %d)", hostLabel(h), why, len(h.Processes), h.Weight)
	sshc := sshFor(c, h.Hostname)
	if a.stale(c, h.CheckedAt) {
		// One check per host at a time on this machine: a burst of calls
		// (a library scan) must not open a hundred handshakes at once.
		unlock := lockHost(c, h.ID)
		fresh, err := store.Host(context.Background(), h.ID)
		if err == nil && fresh.LastErrAt.After(h.LastErrAt) {
			// It failed for another call while this one waited: do not
			// spend another timeout on it.
			unlock()
			return outcome{retry: true, reason: "failed a check for another call just now: " + fresh.LastError}
		}
		if err != nil || a.stale(c, fresh.CheckedAt) {
			rc, reason, timedOut := a.check(c, sshc)
			if rc != 0 {
				unlock()
				return outcome{code: rc, retry: true, mark: true, reason: reason, dropMaster: timedOut}
			}
			log.Debugf("Check passed for %s (%s -version)", hostLabel(h), c.Commands.FFmpeg)
			// Best effort: a failed write only means the next call checks again.
			store.MarkChecked(context.Background(), h.ID, a.now())
		}
		unlock()
	}
	log.Infof("Running command on host '%s' (%s)", h.Hostname, h.Servername)
	cwd, _ := os.Getwd()
	script := remote.Script(cwd, append(append(append([]string{}, c.Commands.Pre...), j.remoteProg), j.args...))
	var guard *remote.Guardian
	// A warm master starts a job in milliseconds; a host that froze with its
	// master up would hold the call forever. Give up after the connect
	// timeout plus a margin, and go elsewhere.
	startTimeout := time.Duration(c.Remote.ConnectTimeout)*time.Second + 1500*time.Millisecond
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
			g, err := remote.StartGuardian(sshc.Argv(remote.SignalScript(pid, "TERM", true), remote.Quiet(true)))
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
		return outcome{code: 1}
	}
	if res.Lost {
		return outcome{code: res.Code, mark: true, dropMaster: true,
			reason: "connection lost while running (host frozen or unreachable)"}
	}
	if !res.Started {
		out := outcome{code: res.Code, retry: true, mark: true}
		switch {
		case res.TimedOut:
			out.dropMaster = true
			out.reason = fmt.Sprintf("timed out: the command did not start within %s (host frozen or unreachable)", startTimeout)
		case res.Diag != "":
			out.reason = remote.Classify(res.Code, res.Diag)
		default:
			out.reason = fmt.Sprintf("ssh failed before the command started (exit %d)", res.Code)
		}
		return out
	}
	return outcome{code: res.Code}
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

// stale reports whether a host's last successful check is too old to trust.
func (a *app) stale(c *config.Config, checked time.Time) bool {
	return checked.IsZero() || a.now().Sub(checked) >= time.Duration(c.Remote.CheckInterval)*time.Second
}

// lockHost takes this machine's check lock for a host, waiting at most as
// long as a check may take; it returns the unlock function.
func lockHost(c *config.Config, id int64) func() {
	path := filepath.Join(c.Directories.Persist, fmt.Sprintf("rffmpeg-check-%d.lock", id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return func() {}
	}
	f.Chmod(0o666) // shared by the media server's user and admins
	deadline := time.Now().Add(checkLimit(c) + time.Second)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return func() { f.Close() } // closing releases the lock
}

// checkLimit bounds a health check. A dead or hung host fails sooner, at
// ssh's own ConnectTimeout (connect and banner); the rest of the margin is
// for authentication and ffmpeg's start on a busy machine.
func checkLimit(c *config.Config) time.Duration {
	return time.Duration(c.Remote.ConnectTimeout)*time.Second + 2*time.Second
}

// endMaster ends a host's master connection after the host stopped
// answering, so the next call after its bad mark builds a fresh one instead
// of waiting on a dead channel. (A master whose process died leaves a socket
// ssh itself unlinks as stale.)
func endMaster(sshc remote.SSH, log *logging.Logger) {
	if sshc.Persist == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	argv := sshc.ControlArgv("exit")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 200 * time.Millisecond
	if err := cmd.Run(); err == nil {
		log.Infof("Ended the SSH master connection to host '%s'", sshc.Host)
	}
}

// check runs `ffmpeg -version` on the host (the original's test), bounded
// by checkLimit, and says why it failed.
func (a *app) check(c *config.Config, sshc remote.SSH) (rc int, reason string, timedOut bool) {
	limit := checkLimit(c)
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
		return 255, fmt.Sprintf("timed out after %s (host frozen or unreachable)", limit), true
	}
	if err == nil {
		return 0, "", false
	}
	if cmd.ProcessState == nil {
		return 255, err.Error(), false
	}
	rc = remote.ExitCode(cmd.ProcessState)
	return rc, remote.Classify(rc, stderr.String()), false
}
