package agent

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// Stderr frames are the remote wrapper script's protocol (remote.Frame,
// read by remote's filter), framed with the token the request carries so
// that nothing the job writes on stderr is ever taken for one.

// heartbeatEvery matches the wrapper's: the shim takes 1.5 s of silence
// with a dead ssh as a lost connection.
const heartbeatEvery = 250 * time.Millisecond

// stopGrace is how long a job has between SIGTERM and SIGKILL when its
// session is gone: ffmpeg finishes its output file on SIGTERM.
const stopGrace = 2 * time.Second

// run runs an admitted job with the channel's streams and returns its exit
// code as a shell shows it.
func (c Config) run(j Job, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	path, err := c.admit(j)
	if err != nil {
		fail(stderr, "refused: %v", err)
		return exitRefused
	}
	// Checked before the start frame: a host whose ffmpeg is missing is a
	// broken host (the shim marks it bad and goes elsewhere), not a job
	// that failed.
	if code, err := executable(path); err != nil {
		fail(stderr, "%s: %v", path, err)
		return code
	}
	frames := stderr
	if _, ok := stderr.(*os.File); !ok {
		// The job's stderr is copied by os/exec then: serialise it with the
		// frames so neither splits the other.
		frames = &lockedWriter{w: stderr}
	}
	cmd := exec.Command(path, j.Args...)
	cmd.Args[0] = j.Program // what a local call shows in ps
	cmd.Env = jobEnv(j.Env, env)
	cmd.Dir = usableDir(j.Dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, frames
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: stopping the job reaches whatever it
		// spawned, and a signal for the agent's group is the agent's.
		Setpgid: true,
		// If the agent itself is killed, the job does not run on alone.
		Pdeathsig: syscall.SIGTERM,
	}
	sigs := make(chan os.Signal, 8)
	// SIGPIPE is caught, not ignored: a job inherits an ignored signal, and
	// a heartbeat write into a closed channel must report EPIPE, not end us.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE)
	defer signal.Stop(sigs)
	if j.Nice > 0 {
		// Nice is per thread on Linux and a child inherits its forking
		// thread's: lower this thread's priority and fork from it, so the
		// job never runs a moment at the normal one. The thread stays
		// locked: the job's parent-death signal is tied to it.
		runtime.LockOSThread()
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, j.Nice); err != nil {
			fail(stderr, "nice %d: %v", j.Nice, err)
			return exitRefused
		}
	}
	frames.Write(remote.Frame(j.Token, 'S', ""))
	if err := cmd.Start(); err != nil {
		fail(stderr, "%s: %v", path, err)
		if errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitRefused
	}
	frames.Write(remote.Frame(j.Token, 'P', strconv.Itoa(cmd.Process.Pid)))
	return supervise(cmd, sigs, frames, remote.Frame(j.Token, 'H', ""))
}

// executable reports why path cannot be run, with a shell's exit code.
func executable(path string) (int, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return exitNotFound, errors.New("not found")
	case err != nil:
		return exitRefused, err
	case !fi.Mode().IsRegular():
		return exitRefused, errors.New("not a regular file")
	}
	if err := syscall.Access(path, 1 /* X_OK */); err != nil {
		return exitRefused, errors.New("not executable")
	}
	return 0, nil
}

// usableDir is dir when the agent can enter it, else "" (stay in the home
// directory sshd started us in) — what the wrapper script's `cd … 2>/dev/null`
// does, silently, since stderr belongs to the job.
func usableDir(dir string) string {
	if dir == "" {
		return ""
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || syscall.Access(dir, 1 /* X_OK */) != nil {
		return ""
	}
	return dir
}

// hostEnv is what the job keeps of the agent's environment (set by sshd
// and the host): enough to behave like a login's ffmpeg.
var hostEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "LANG", "TZ"}

// jobEnv is the job's environment: the host's basics, then the request's
// admitted variables over them.
func jobEnv(req map[string]string, env func(string) (string, bool)) []string {
	vars := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	for _, k := range hostEnv {
		if v, ok := env(k); ok {
			vars[k] = v
		}
	}
	for k, v := range req {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// supervise waits for the job, forwarding signals and writing heartbeats;
// when the session ends (a heartbeat cannot be written, or sshd's SIGHUP)
// it stops the job's process group: SIGTERM, then SIGKILL after stopGrace.
func supervise(cmd *exec.Cmd, sigs <-chan os.Signal, frames io.Writer, beat []byte) int {
	pg := cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	lost := make(chan struct{})
	go heartbeat(frames, beat, done, lost)
	var kill <-chan time.Time
	stopping := false
	stop := func() {
		if !stopping {
			stopping = true
			syscall.Kill(-pg, syscall.SIGTERM)
			kill = time.After(stopGrace)
		}
	}
	for {
		select {
		case <-done:
			if stopping {
				// Whatever the job left in its group goes with it.
				syscall.Kill(-pg, syscall.SIGKILL)
			}
			return exitCode(cmd.ProcessState)
		case <-lost:
			lost = nil
			stop()
		case <-kill:
			syscall.Kill(-pg, syscall.SIGKILL)
		case s := <-sigs:
			switch s {
			case syscall.SIGPIPE: // a write will say it
			case syscall.SIGHUP: // sshd: the session is over
				stop()
			default:
				syscall.Kill(-pg, s.(syscall.Signal))
			}
		}
	}
}

// heartbeat writes a frame every heartbeatEvery until done; a failed write
// means nobody reads the channel any more, and closes lost. It runs apart
// from supervise: a write into a full channel may block, signals may not.
func heartbeat(w io.Writer, beat []byte, done <-chan struct{}, lost chan<- struct{}) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if _, err := w.Write(beat); err != nil {
				close(lost)
				return
			}
		}
	}
}

// exitCode is the job's exit as a shell shows it (128+N for signal N).
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// lockedWriter serialises writes from the job's copier and the frames.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
