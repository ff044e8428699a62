package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// The mux path: when a host's master connection is up, a call talks to it
// over its ControlPath socket in OpenSSH's mux proxy mode
// (ssh.NewControlClientConn) instead of starting an ssh client process,
// which costs about 6 ms of CPU and 8 MiB per call. The master itself is
// always established by the system ssh (the user's keys, ~/.ssh/config and
// agents keep working), and every call whose socket does not answer runs
// the ssh client as before.

// MuxEnv switches the mux path: "0" turns it off, "1" on; unset means
// MuxDefault.
const MuxEnv = "RFFMPEG_SSH_MUX"

// MuxDefault is whether calls use the mux path when MuxEnv is unset. On:
// the whole e2e suite (signals, no orphans, frozen hosts, partitions, dead
// masters) passes on it. It was off for a while because a fresh-clone CI
// run once ended a remote job on SIGHUP with the shim exiting 129; that run
// was under nohup, whose ignored SIGHUP the shim used to catch and forward
// (see shim.Signals), on either path.
const MuxDefault = true

func muxOn() bool {
	switch os.Getenv(MuxEnv) {
	case "0", "off", "no", "false":
		return false
	case "1", "on", "yes", "true":
		return true
	}
	return MuxDefault
}

// muxHandshake bounds connecting to a local master and its hello: the
// master is a local process whose event loop runs even when its host froze.
const muxHandshake = time.Second

// dialMaster connects to the host's master, or returns nil when there is
// none that answers (the caller then runs the ssh client, which makes
// one). Only a socket of this user in the private directory is dialled; a
// stale one (its master died) is removed so the next ssh can bind it.
func dialMaster(s SSH) *ssh.Client {
	if !s.Shared() || !muxOn() {
		return nil
	}
	path := s.ControlPath()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || int(st.Uid) != os.Geteuid() {
		return nil
	}
	c, err := net.DialTimeout("unix", path, muxHandshake)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(path) // nobody listens: a dead master's socket
		}
		return nil
	}
	c.SetDeadline(time.Now().Add(muxHandshake))
	conn, chans, reqs, err := ssh.NewControlClientConn(c)
	if err != nil {
		c.Close()
		return nil
	}
	c.SetDeadline(time.Time{})
	return ssh.NewClient(conn, chans, reqs)
}

// openSession opens a session on the master's connection within limit (a
// frozen host never confirms the channel). It closes the client when it
// fails.
func openSession(cl *ssh.Client, limit time.Duration) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := cl.NewSession()
		ch <- opened{s, err}
	}()
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case o := <-ch:
		if o.err != nil {
			cl.Close()
		}
		return o.s, o.err
	case <-timeout:
		cl.Close()
		return nil, errSessionTimeout
	}
}

var errSessionTimeout = errors.New("the master did not open a session in time")

// muxCode is the shell's exit code of a finished session: the wrapper's
// status, 128+N when it was killed by signal N, 255 when the connection
// died without one (as the ssh client exits).
func muxCode(err error) int {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			if n, ok := signalNumbers[ee.Signal()]; ok {
				return 128 + int(n)
			}
			return 255
		}
		return ee.ExitStatus()
	}
	return 255
}

var signalNumbers = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// discardOnError passes writes on until one fails, then swallows the rest,
// as the master does with a caller that closed its stdout: the remote job
// is not blocked by a channel nobody drains.
type discardOnError struct {
	w      io.Writer
	failed bool
}

func (d *discardOnError) Write(p []byte) (int, error) {
	if !d.failed {
		if _, err := d.w.Write(p); err != nil {
			d.failed = true
		}
	}
	return len(p), nil
}

// muxJobs counts the jobs of this process running over a master's socket
// (see MuxRunning).
var muxJobs atomic.Int32

// MuxRunning reports whether a job of this process runs over a master's
// socket right now. Such a job needs no guardian: when this process dies,
// its connection to the master drops and the master closes the job's
// channel at once (the remote wrapper then stops the job; measured: gone
// within 40 ms of a SIGKILL), unlike an ssh client's session, which the
// master keeps. A shim runs one job at a time, so this is that job's.
func MuxRunning() bool { return muxJobs.Load() > 0 }

// runMux runs a remote Spec over the master; ok false means the master
// could not be used and nothing ran (the caller runs the ssh client).
func runMux(spec Spec) (res Result, ok bool) {
	t0 := time.Now()
	cl := dialMaster(spec.SSH)
	if cl == nil {
		return Result{}, false
	}
	muxJobs.Add(1)
	defer muxJobs.Add(-1)
	sess, err := openSession(cl, spec.StartTimeout)
	if errors.Is(err, errSessionTimeout) {
		return Result{Code: 255, TimedOut: true, Mux: true}, true
	}
	if err != nil {
		return Result{}, false
	}
	defer cl.Close()
	started := make(chan struct{})
	startFrame := started
	pids := make(chan int, 1)
	f := newFilter(spec.Stderr, spec.Token, started, pids)
	f.tap = newProgressTap(spec.Progress)
	stderr, err := sess.StderrPipe()
	if err != nil {
		return Result{}, false
	}
	sess.Stdin = spec.Stdin
	sess.Stdout = &discardOnError{w: spec.Stdout}
	if err := sess.Start(spec.Argv[len(spec.Argv)-1]); err != nil {
		return Result{}, false
	}
	copied := relay(stderr, f)
	exited := make(chan error, 1)
	go func() { exited <- sess.Wait() }()
	spec.StartTimeout = max(spec.StartTimeout-time.Since(t0), time.Millisecond)
	end := func() { cl.Close() } // the channel closes; the wrapper's watcher stops the job
	res, waitErr := waitRemote(spec, end, end, started, pids, exited)
	if res.TimedOut {
		cl.Close()
	}
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
		cl.Close()
		<-copied
	}
	select {
	case <-startFrame:
		res.Started = true
	default:
	}
	res.Code = muxCode(waitErr)
	res.Diag = string(bytes.TrimSpace(f.pre.Bytes()))
	res.Lost = res.Started && res.Code == 255 && time.Since(f.lastSign) > lostAfter
	res.Mux = true
	return res, true
}

// muxOutput runs a short command over the master within ctx: its exit
// code and stderr; ok false means the master could not be used.
func muxOutput(ctx context.Context, s SSH, command string) (code int, stderr string, ok bool) {
	cl := dialMaster(s)
	if cl == nil {
		return 0, "", false
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	sess, err := cl.NewSession()
	if err != nil {
		if ctx.Err() != nil {
			return 255, "", true
		}
		return 0, "", false
	}
	var eb bytes.Buffer
	sess.Stderr = &eb
	err = sess.Run(command)
	if ctx.Err() != nil {
		return 255, eb.String(), true
	}
	return muxCode(err), eb.String(), true
}
