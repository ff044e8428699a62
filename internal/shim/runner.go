package shim

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// Runner is every process the flow starts: the job (remote or local), the
// health check, a forwarded signal, ending a master connection, and the
// guardian that stops a remote job if the shim is killed. Exec runs them for
// real; tests substitute a fake to drive the flow through every outcome.
type Runner interface {
	RunRemote(spec remote.Spec) (remote.Result, error)
	RunLocal(spec remote.Spec) (remote.Result, error)
	Check(ctx context.Context, s remote.SSH, program string, limit time.Duration) remote.CheckResult
	Signal(s remote.SSH, pid int, sig syscall.Signal) bool
	EndMaster(s remote.SSH) bool
	// Guard starts a guardian for the remote PID; release tells it the job
	// ended normally.
	Guard(s remote.SSH, pid int) (release func(), err error)
}

// Exec is the Runner of real processes (package remote).
type Exec struct{}

func (Exec) RunRemote(spec remote.Spec) (remote.Result, error) {
	spec.Remote = true
	return remote.Run(spec)
}

func (Exec) RunLocal(spec remote.Spec) (remote.Result, error) {
	spec.Remote = false
	return remote.Run(spec)
}

func (Exec) Check(ctx context.Context, s remote.SSH, program string, limit time.Duration) remote.CheckResult {
	return remote.Check(ctx, s, program, limit)
}

func (Exec) Signal(s remote.SSH, pid int, sig syscall.Signal) bool { return remote.Signal(s, pid, sig) }

func (Exec) EndMaster(s remote.SSH) bool { return remote.EndMaster(s) }

func (Exec) Guard(s remote.SSH, pid int) (func(), error) {
	if remote.MuxRunning() {
		return func() {}, nil // the master ends the job if this process dies
	}
	g, err := remote.StartGuardian(s.Argv(remote.SignalScript(pid, "TERM", true), remote.Quiet(true)))
	if err != nil {
		return func() {}, err
	}
	return g.Release, nil
}

// Signals starts catching the signals a call forwards to its job: the ones
// that end it, SIGTSTP and SIGCONT (a caller that stops the shim expects
// the work to stop: the remote job is paused, then the shim stops itself),
// and SIGUSR1/SIGUSR2. SIGPIPE is caught (not ignored, which children would
// inherit) so a caller that closed its end cannot kill the shim mid-cleanup.
//
// A signal the caller ignores (nohup's SIGHUP) and ffmpeg does not handle
// itself stays ignored, as a local ffmpeg would inherit it: catching it
// would forward it and end a job its caller meant to survive. ffmpeg sets
// its own handlers for INT, TERM and QUIT, so those are caught regardless.
func Signals() <-chan os.Signal {
	ch := make(chan os.Signal, 8)
	catch(ch)
	return ch
}

// CatchSignals is Signals without waiting: the signals are caught beside
// the call's start-up (its configuration, its database work), and ready is
// closed once they are. Catching them takes a thread of its own and a
// round trip to it per signal (os/signal), about 0.3 ms, which the call
// need not wait for until its job starts (see call.signals): a signal
// before then ends the shim as it would a moment earlier, before any job
// ran (rows it wrote are reaped, their owner being dead).
func CatchSignals() (sigs <-chan os.Signal, ready <-chan struct{}) {
	ch, done := make(chan os.Signal, 8), make(chan struct{})
	go func() {
		catch(ch)
		close(done)
	}()
	return ch, done
}

// catch has ch receive the signals a call forwards (see Signals).
func catch(ch chan<- os.Signal) {
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	for _, sig := range inheritable {
		if !signal.Ignored(sig) {
			signal.Notify(ch, sig)
		}
	}
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// inheritable are the forwarded signals ffmpeg leaves at their inherited
// disposition.
var inheritable = []os.Signal{syscall.SIGHUP, syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGUSR1, syscall.SIGUSR2}

// Nice is this process's nice value. (Linux's getpriority returns 20 minus
// the nice value, so that it is never negative.)
func Nice() int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - p
}

// NewEnv is the environment of a real call in this process: real
// processes, the clock, this process's identity, caught signals, working
// directory and nice value. now nil means time.Now; self is this process
// as the configuration names its frontend (setup.Self: reading it costs
// a few files, so it is read once).
func NewEnv(log *logging.Logger, now func() time.Time, self owner.Identity) Env {
	if now == nil {
		now = time.Now
	}
	cwd, _ := os.Getwd()
	sigs, ready := CatchSignals()
	return Env{Log: log, Runner: Exec{}, Now: now, Self: self, Signals: sigs, SignalsReady: ready, Dir: cwd, Nice: Nice()}
}
