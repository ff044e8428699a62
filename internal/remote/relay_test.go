package remote

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

// localJob runs sh -c script as a local job with Progress set, stdout and
// stderr as given, and returns what Progress saw.
func localJob(t *testing.T, script string, stdout, stderr *os.File) (Result, []Progress) {
	t.Helper()
	var mu sync.Mutex
	var seen []Progress
	res, err := Run(Spec{Argv: []string{"sh", "-c", script}, Stdout: stdout, Stderr: stderr,
		Progress: func(p Progress) { mu.Lock(); seen = append(seen, p); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return res, seen
}

// pipeReader collects what a pipe's read end receives.
func pipeReader(t *testing.T) (w *os.File, got func() []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, r); r.Close(); close(done) }()
	return w, func() []byte { w.Close(); <-done; return buf.Bytes() }
}

// A local job whose stderr is a pipe (a media server reading it): every
// byte reaches the caller unchanged, and the stats lines are read on the
// way.
func TestLocalRelayReadsProgress(t *testing.T) {
	t.Setenv("RFFMPEG_RELAY_TEST", ffmpegStderr)
	errW, errGot := pipeReader(t)
	outW, outGot := pipeReader(t)
	res, seen := localJob(t, `printf '%s' "$RFFMPEG_RELAY_TEST" >&2; printf stdout-bytes; exit 3`, outW, errW)
	if res.Code != 3 || !res.Started {
		t.Errorf("result %+v, want code 3, started", res)
	}
	if got := errGot(); string(got) != ffmpegStderr {
		t.Errorf("stderr changed on the way:\n got %q\nwant %q", got, ffmpegStderr)
	}
	if got := outGot(); string(got) != "stdout-bytes" {
		t.Errorf("stdout %q", got)
	}
	if !reflect.DeepEqual(seen, ffmpegStderrWant) {
		t.Errorf("progress seen:\n got %+v\nwant %+v", seen, ffmpegStderrWant)
	}
}

// Where a relay could be told apart, the job keeps the caller's own
// descriptor and no progress is read: stdout and stderr the same pipe
// (2>&1, whose order a copy could change), stderr /dev/null.
func TestLocalRelayOnlyWhereInvisible(t *testing.T) {
	t.Setenv("RFFMPEG_RELAY_TEST", ffmpegStderr)
	both, got := pipeReader(t)
	_, seen := localJob(t, `printf A; printf '%s' "$RFFMPEG_RELAY_TEST" >&2; printf B`, both, both)
	if want := "A" + ffmpegStderr + "B"; string(got()) != want {
		t.Errorf("2>&1 output reordered or changed")
	}
	if len(seen) != 0 {
		t.Errorf("2>&1: progress read through a relay: %d lines", len(seen))
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	outW, outGot := pipeReader(t)
	if _, seen := localJob(t, `printf '%s' "$RFFMPEG_RELAY_TEST" >&2`, outW, null); len(seen) != 0 {
		t.Errorf("/dev/null: progress read through a relay: %d lines", len(seen))
	}
	outGot()
}

// A caller that closed its stderr: the job writes on (ffmpeg ignores
// SIGPIPE and keeps transcoding) and its progress is still read, so it is
// never taken for a stalled job.
func TestLocalRelayCallerGone(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	outW, outGot := pipeReader(t)
	defer outGot()
	res, seen := localJob(t, `trap '' PIPE; for i in 1 2 3 4 5; do printf 'frame=%d fps=1 q=1 size=1kB time=00:00:0%d.00 bitrate=1 speed=1x\r' $i $i >&2; done`, outW, w)
	if res.Code != 0 {
		t.Errorf("exit %d, want 0", res.Code)
	}
	if len(seen) != 5 || seen[4].Position != 5*time.Second {
		t.Errorf("progress after the caller closed stderr: %+v, want 5 lines up to 5 s", seen)
	}
}

// A caller slow to read gets every byte of a job that has ended: the
// bound after the job's end counts only waiting for bytes, not writing
// them to the caller.
func TestLocalRelaySlowCaller(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		time.Sleep(localDrain + 1500*time.Millisecond)
		b, _ := io.ReadAll(r)
		got <- len(b)
	}()
	outW, outGot := pipeReader(t)
	res, _ := localJob(t, `head -c 300000 /dev/zero >&2; exit 3`, outW, w)
	w.Close()
	outGot()
	if n := <-got; n != 300000 || res.Code != 3 {
		t.Errorf("the slow caller got %d of 300000 bytes, exit %d (want 3)", n, res.Code)
	}
}

// A process the job leaves behind holding stderr does not hold the call:
// the relay lets go localDrain after the job ended.
func TestLocalRelayLeftoverHolder(t *testing.T) {
	errW, errGot := pipeReader(t)
	outW, outGot := pipeReader(t)
	t0 := time.Now()
	res, _ := localJob(t, `(sleep 8 >&2 &); echo done >&2`, outW, errW)
	if took := time.Since(t0); took > localDrain+5*time.Second {
		t.Errorf("the call took %v with a leftover holding stderr", took)
	}
	if res.Code != 0 {
		t.Errorf("exit %d", res.Code)
	}
	if got := string(errGot()); got != "done\n" {
		t.Errorf("stderr %q", got)
	}
	outGot()
}
