package remote

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Spec is one job to run, locally or through ssh.
type Spec struct {
	Argv   []string // ssh … Script(…), or a local program and its arguments
	Remote bool     // Argv runs Script: expect protocol frames on stderr
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
	if err := cmd.Start(); err != nil {
		return Result{Code: 127}, err
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
	err := cmd.Wait()
	close(done)
	if cmd.ProcessState == nil {
		return Result{Code: 1}, err
	}
	return Result{Code: ExitCode(cmd.ProcessState), Started: true}, nil
}

func runRemote(spec Spec) (Result, error) {
	cmd := command(spec)
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{Code: 1}, err
	}
	cmd.Stderr = pw
	started := make(chan struct{})
	startFrame := started // kept: the loop below drops its copy once seen
	pids := make(chan int, 1)
	f := &filter{out: spec.Stderr, started: started, pids: pids}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Result{Code: 127}, err
	}
	pw.Close()
	copied := relay(pr, f)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	res := waitRemote(spec, cmd, started, pids, exited)
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
func relay(pr *os.File, f *filter) <-chan struct{} {
	copied := make(chan struct{})
	go func() {
		buf := make([]byte, 32*1024)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				f.write(buf[:n])
			}
			if err != nil {
				close(copied)
				return
			}
		}
	}()
	return copied
}

// waitRemote waits for the local ssh to exit, meanwhile noting the start
// frame and the remote PID, enforcing the start timeout and forwarding
// signals.
func waitRemote(spec Spec, cmd *exec.Cmd, started <-chan struct{}, pids <-chan int, exited <-chan error) Result {
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
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
wait:
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
			cmd.Process.Kill()
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
		case <-exited:
			break wait
		}
	}
	return res
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
// passes the job's bytes through unchanged and unbuffered.
type filter struct {
	out      io.Writer
	started  chan struct{}
	pids     chan int
	isStart  bool
	inFrame  bool
	frame    []byte
	pre      bytes.Buffer
	lastSign time.Time // the last frame or byte from the remote side
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
}

const maxFrame = 24

func (f *filter) write(p []byte) {
	f.lastSign = time.Now()
	for len(p) > 0 {
		if !f.inFrame {
			i := bytes.IndexByte(p, 0)
			if i < 0 {
				f.emit(p)
				return
			}
			f.emit(p[:i])
			p = p[i+1:]
			f.inFrame, f.frame = true, f.frame[:0]
			continue
		}
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			f.frame = append(f.frame, p...)
			p = nil
		} else {
			f.frame = append(f.frame, p[:i]...)
			p = p[i+1:]
			f.inFrame = false
			f.handle(f.frame)
			continue
		}
		if len(f.frame) > maxFrame { // not a frame after all: pass it on
			f.inFrame = false
			f.emit(append([]byte{0}, f.frame...))
		}
	}
}

func (f *filter) handle(fr []byte) {
	if len(fr) == 0 {
		f.emit([]byte{0, 0})
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
	case frameHeartbeat:
	default:
		f.emit(append(append([]byte{0}, fr...), 0))
	}
}
