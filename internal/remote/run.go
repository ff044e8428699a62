package remote

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is one job to run, locally or through ssh.
type Spec struct {
	Argv   []string // ssh … Script(…), or a local program and its arguments
	Remote bool     // Argv runs Script: expect protocol frames on stderr
	Token  string   // the frame token Script (or the agent request) was given
	Stdin  *os.File
	Stdout *os.File // where the job's stdout goes (the caller's stdout or stderr)
	Stderr *os.File
	// StartTimeout bounds the wait for the remote start frame; past it the
	// host is taken as unreachable and nothing has run.
	StartTimeout time.Duration
	// Signals delivers the signals to forward (SIGTERM, SIGINT, …).
	Signals <-chan os.Signal
	// Forward sends a signal to the remote job (through ssh); it reports
	// whether that worked. Remote only.
	Forward func(sig syscall.Signal, pid int) bool
	// OnPID is called with the remote job's PID once it is known.
	OnPID func(pid int)
	// OnProcess is called with a local job's process once it started: a
	// signal through it never reaches another process that took the PID
	// after the job ended (os.Process uses a pidfd, and refuses once
	// waited for).
	OnProcess func(*os.Process)
	// Progress, when set, is called with each of ffmpeg's stats lines in
	// the job's stderr (progress.go). It runs on the relay's goroutine
	// after the bytes were passed on: it must not block. A local job's
	// stderr is relayed for it only where that cannot be told apart
	// (relayStderr).
	Progress func(Progress)
	// SSH is the host's connection (remote only): with its master up, the
	// job runs over the master's socket without an ssh client (mux.go);
	// the command is Argv's last word.
	SSH SSH
}

// Result is how a job ended.
type Result struct {
	Code     int    // exit code as a shell shows it (128+N for signal N)
	Started  bool   // the job ran (remote: the start frame arrived)
	Diag     string // remote: what ssh printed before the job started
	TimedOut bool   // remote: no start frame within StartTimeout
	// Lost: the SSH session died under a running job (ssh exited 255 long
	// after the wrapper's last heartbeat), not the job's own exit code.
	Lost bool
	// Mux: the job ran over the master's socket, without an ssh client.
	Mux bool
}

// lostAfter is the heartbeat silence after which an ssh exit of 255 means
// the connection died; the wrapper writes one every 0.25 s until the job ends.
const lostAfter = 1500 * time.Millisecond

// ExitCode turns a finished process's status into a shell's exit code.
func ExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Run runs the job to its end. The error is only for a job that could not be
// started at all (the program is missing).
func Run(spec Spec) (Result, error) {
	if spec.Remote {
		if spec.Token == "" {
			// Without the token no frame is ever recognized: the job would
			// run unwatched, its PID unknown, its start never seen.
			return Result{Code: 1}, errors.New("remote job without a frame token (remote.NewToken)")
		}
		return runRemote(spec)
	}
	return runLocal(spec)
}

func command(spec Spec) *exec.Cmd {
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Stdin, cmd.Stdout = spec.Stdin, spec.Stdout
	// If the shim is SIGKILLed, the kernel sends the child SIGTERM: a local
	// ffmpeg stops cleanly, an ssh client goes away.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if spec.Remote {
		cmd.Env = SSHEnv(os.Environ())
	}
	return cmd
}

func runLocal(spec Spec) (Result, error) {
	cmd := command(spec)
	cmd.Stderr = spec.Stderr
	var relay *stderrRelay
	if relayStderr(spec) {
		var err error
		if relay, err = newStderrRelay(spec.Stderr, spec.Progress); err != nil {
			return Result{Code: 1}, err
		}
		cmd.Stderr = relay.w
	}
	err := cmd.Start()
	if relay != nil {
		relay.started()
	}
	if err != nil {
		return Result{Code: 127}, err
	}
	if spec.OnProcess != nil {
		spec.OnProcess(cmd.Process)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-spec.Signals:
				cmd.Process.Signal(s)
				if s == syscall.SIGTSTP {
					stopSelf()
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	if relay != nil {
		relay.drain()
	}
	if cmd.ProcessState == nil {
		return Result{Code: 1}, err
	}
	return Result{Code: ExitCode(cmd.ProcessState), Started: true}, nil
}

func runRemote(spec Spec) (Result, error) {
	if res, ok := runMux(spec); ok {
		return res, nil
	}
	cmd := command(spec)
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{Code: 1}, err
	}
	cmd.Stderr = pw
	started := make(chan struct{})
	startFrame := started // kept: the loop below drops its copy once seen
	pids := make(chan int, 1)
	f := newFilter(spec.Stderr, spec.Token, started, pids)
	f.tap = newProgressTap(spec.Progress)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Result{Code: 127}, err
	}
	pw.Close()
	copied := relay(pr, f)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	kill := func() { cmd.Process.Kill() }
	term := func() { cmd.Process.Signal(syscall.SIGTERM) }
	res, _ := waitRemote(spec, kill, term, started, pids, exited)
	// The stream ends when the master connection drops its copy of our
	// pipe, at once when the remote side closed the channel. A master whose
	// host stopped answering keeps it: after a start timeout do not wait at
	// all, otherwise not for long.
	grace := 2 * time.Second
	if res.TimedOut {
		grace = 50 * time.Millisecond
	}
	select {
	case <-copied:
	case <-time.After(grace):
		pr.Close()
		<-copied
	}
	select {
	case <-startFrame:
		res.Started = true
	default:
	}
	res.Code = ExitCode(cmd.ProcessState)
	res.Diag = string(bytes.TrimSpace(f.pre.Bytes()))
	res.Lost = res.Started && res.Code == 255 && time.Since(f.lastSign) > lostAfter
	return res, nil
}

// relay copies the wrapper's stderr through the filter until it ends.
func relay(pr io.Reader, f *filter) <-chan struct{} {
	copied := make(chan struct{})
	go func() {
		buf := make([]byte, 32*1024)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				f.write(buf[:n])
			}
			if err != nil {
				f.flush()
				close(copied)
				return
			}
		}
	}()
	return copied
}

// waitRemote waits for the session to end (the local ssh to exit, or the
// mux session's exit status), meanwhile noting the start frame and the
// remote PID, enforcing the start timeout (kill) and forwarding signals
// (term ends the session when the remote job cannot be reached). It
// returns what exited delivered.
func waitRemote(spec Spec, kill, term func(), started <-chan struct{}, pids <-chan int, exited <-chan error) (Result, error) {
	var res Result
	pid := 0
	var timeout <-chan time.Time
	if spec.StartTimeout > 0 {
		t := time.NewTimer(spec.StartTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var pending []syscall.Signal // signals that arrived before the PID
	forward := func(sig syscall.Signal, pid int) {
		ok := pid > 0 && spec.Forward != nil && spec.Forward(sig, pid)
		if sig == syscall.SIGTSTP {
			// The remote job is paused (or could not be): now pause here
			// too, so the caller's shell sees its job stopped.
			stopSelf()
		}
		if !ok && Terminates(sig) {
			// No way to reach the remote job: end the local ssh; the
			// session closes and the wrapper's watcher stops the job.
			term()
		}
	}
	for {
		select {
		case <-started:
			res.Started, started, timeout = true, nil, nil
		case p := <-pids:
			pid = p
			if spec.OnPID != nil {
				spec.OnPID(p)
			}
			for _, s := range pending {
				go forward(s, pid)
			}
			pending = nil
		case <-timeout:
			res.TimedOut = true
			kill()
			timeout = nil
		case s := <-spec.Signals:
			sig, _ := s.(syscall.Signal)
			if pid == 0 && !res.Started && !Terminates(sig) {
				continue // nothing to pause or notify yet
			}
			if pid == 0 && res.Started {
				pending = append(pending, sig)
				continue
			}
			go forward(sig, pid)
		case err := <-exited:
			return res, err
		}
	}
}

// Terminates reports whether a signal, forwarded, means "end the job" (the
// others pause, resume or notify it).
func Terminates(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGUSR1, syscall.SIGUSR2:
		return false
	}
	return true
}

// stopSelf stops this process as SIGTSTP's default action would have, once
// the job is paused; SIGCONT resumes it (and is forwarded in turn).
func stopSelf() { syscall.Kill(os.Getpid(), syscall.SIGSTOP) }

// filter relays the wrapper's stderr: it strips protocol frames, holds back
// what ssh prints before the job starts (diagnostics, not the job's), and
// passes the job's bytes through unchanged and unbuffered — except the few
// bytes that begin like a frame, held until they turn out not to be one.
type filter struct {
	out      io.Writer
	started  chan struct{}
	pids     chan int
	prefix   []byte // NUL, "rff", the call's token (see Frame)
	isStart  bool
	pend     []byte // bytes that may be a frame
	pre      bytes.Buffer
	lastSign time.Time    // the last frame or byte from the remote side
	tap      *progressTap // reads a copy of the job's bytes (nil: none)
}

func newFilter(out io.Writer, token string, started chan struct{}, pids chan int) *filter {
	return &filter{out: out, started: started, pids: pids, prefix: []byte("\x00rff" + token)}
}

func (f *filter) emit(p []byte) {
	if len(p) == 0 {
		return
	}
	if !f.isStart {
		if f.pre.Len() < 64*1024 {
			f.pre.Write(p)
		}
		return
	}
	f.out.Write(p) // a closed caller stderr must not stop the relay
	if f.tap != nil {
		f.tap.feed(p) // after the write: the caller never waits for it
	}
}

// maxFrame bounds a frame's letter and payload (a PID).
const maxFrame = 24

func (f *filter) write(p []byte) {
	f.lastSign = time.Now()
	for len(p) > 0 {
		n := len(f.pend)
		switch {
		case n == 0:
			i := bytes.IndexByte(p, 0)
			if i < 0 {
				f.emit(p)
				return
			}
			f.emit(p[:i])
			f.pend, p = append(f.pend, 0), p[i+1:]
		case n < len(f.prefix):
			if p[0] != f.prefix[n] {
				// Not a frame: the held bytes are the job's. p[0] is looked
				// at again, since it may begin a frame itself.
				f.flush()
				continue
			}
			f.pend, p = append(f.pend, p[0]), p[1:]
		default:
			i := bytes.IndexByte(p, 0)
			if i < 0 {
				f.pend, p = append(f.pend, p...), nil
				if len(f.pend) > len(f.prefix)+maxFrame {
					f.flush()
				}
				continue
			}
			f.pend, p = append(f.pend, p[:i]...), p[i+1:]
			fr := f.pend[len(f.prefix):]
			if len(fr) > maxFrame {
				f.pend = append(f.pend, 0)
				f.flush()
				continue
			}
			f.handle(fr)
			f.pend = f.pend[:0]
		}
	}
}

// flush passes on held bytes that are not a frame (also at the stream's end).
func (f *filter) flush() {
	held := f.pend
	f.pend = nil
	f.emit(held)
}

// handle acts on a frame (its letter and payload); one it does not know
// still carried the call's token, so it is the wrapper's, not the job's.
func (f *filter) handle(fr []byte) {
	if len(fr) == 0 {
		return
	}
	switch fr[0] {
	case frameStart:
		if !f.isStart {
			f.isStart = true
			close(f.started)
		}
	case framePID:
		if n, err := strconv.Atoi(string(fr[1:])); err == nil && n > 0 {
			select {
			case f.pids <- n:
			default:
			}
		}
	}
}

// SplitFrames reads the whole captured stderr of a Script run with token:
// whether the job started, what came before its start (ssh's diagnostics),
// and the job's own stderr, byte for byte.
func SplitFrames(token string, b []byte) (started bool, diag string, job []byte) {
	var out bytes.Buffer
	f := newFilter(&out, token, make(chan struct{}), make(chan int, 1))
	f.write(b)
	f.flush()
	return f.isStart, strings.TrimSpace(f.pre.String()), out.Bytes()
}
