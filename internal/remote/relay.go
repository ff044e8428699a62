package remote

import (
	"os"
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
// this is for. If the caller closes its end, the relay closes the job's
// end too, so the job sees the broken pipe it would have seen.

// localDrain bounds the copy of what the job wrote before it ended. It
// takes microseconds; only a process the job left behind, still holding
// the pipe, makes the bound matter, and the relay lets go then.
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
	r, w *os.File // the pipe: the job writes w
	out  *os.File
	tap  *progressTap
	done chan struct{}
}

func newStderrRelay(out *os.File, progress func(Progress)) (*stderrRelay, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &stderrRelay{r: r, w: w, out: out, tap: newProgressTap(progress), done: make(chan struct{})}, nil
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
	for {
		n, err := r.r.Read(buf)
		if n > 0 {
			if _, werr := r.out.Write(buf[:n]); werr != nil {
				return // the caller's end is gone: the job's goes too
			}
			r.tap.feed(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// drain waits for the copy to reach the pipe's end, at most limit.
func (r *stderrRelay) drain(limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		// A process the job left holds the pipe. Closing the read end
		// wakes the pending Read (os.Pipe's files use the runtime
		// poller), and that process gets a broken pipe, as it would
		// when the caller stopped reading.
		r.r.Close()
		<-r.done
	}
}
