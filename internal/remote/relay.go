package remote

import (
	"os"
	"sync/atomic"
	"time"
)

// A local job's stderr normally is the caller's own descriptor: nothing
// passes through the shim. To read its progress (Spec.Progress) the shim
// hands the job a pipe instead and copies every byte on, unchanged and at
// once, wherever the job could not tell the difference:
//   - not to a terminal (ffmpeg colours and redraws its stats line only on
//     one; /dev/null, a character device too, needs no progress either);
//   - not when stdout is the same file (2>&1: a copy would reorder the
//     two streams' bytes).
//
// A media server reads stderr through a pipe of its own: that is the case
// this is for. A caller slow to read holds the copy, as it would hold the
// job. A caller that closed its end gets nothing more, and the job writes
// on into the relay as ffmpeg (which ignores SIGPIPE) writes on into a
// broken pipe; its progress is still read, so a healthy job is never
// taken for a stalled one.

// localDrain bounds how long the copy waits, once the job ended, for bytes
// that do not come: only a process the job left behind, still holding
// the pipe, makes it wait; time spent writing to a slow caller does not
// count.
const localDrain = time.Second

// relayStderr says whether a local job's stderr goes through the relay.
func relayStderr(spec Spec) bool {
	if spec.Progress == nil || spec.Stderr == nil {
		return false
	}
	errInfo, err := spec.Stderr.Stat()
	if err != nil || errInfo.Mode()&os.ModeCharDevice != 0 {
		return false
	}
	if spec.Stdout != nil {
		if outInfo, err := spec.Stdout.Stat(); err != nil || os.SameFile(errInfo, outInfo) {
			return false
		}
	}
	return true
}

// stderrRelay copies a local job's stderr to the caller's, feeding the
// progress tap after each write.
type stderrRelay struct {
	r, w  *os.File // the pipe: the job writes w
	out   *os.File
	tap   *progressTap
	idle  time.Duration // once ended: the wait for more bytes
	ended atomic.Bool   // the job exited
	done  chan struct{}
}

func newStderrRelay(out *os.File, progress func(Progress)) (*stderrRelay, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &stderrRelay{r: r, w: w, out: out, tap: newProgressTap(progress), idle: localDrain, done: make(chan struct{})}, nil
}

// started is called once the job started (or failed to): the job holds
// the write end now, and the copy runs until every holder closed it.
func (r *stderrRelay) started() {
	r.w.Close()
	go r.copy()
}

func (r *stderrRelay) copy() {
	defer close(r.done)
	defer r.r.Close()
	buf := make([]byte, 32*1024)
	writing := true
	for {
		if r.ended.Load() {
			r.r.SetReadDeadline(time.Now().Add(r.idle))
		}
		n, err := r.r.Read(buf)
		if n > 0 {
			if writing {
				// A failed write: the caller's end is gone; read on.
				_, werr := r.out.Write(buf[:n])
				writing = werr == nil
			}
			r.tap.feed(buf[:n])
		}
		if err != nil {
			return // the end of the pipe, or the idle bound once ended
		}
	}
}

// drain is called once the job exited: it waits for the copy to pass on
// everything the job wrote, however slowly the caller reads, and no
// longer than idle for bytes that do not come.
func (r *stderrRelay) drain() {
	r.ended.Store(true)
	r.r.SetReadDeadline(time.Now().Add(r.idle))
	<-r.done
}
