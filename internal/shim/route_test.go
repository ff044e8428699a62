package shim

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// callAs runs one call of tool through the flow, with signals from sigs.
func (w *world) callAs(f Runner, sigs chan os.Signal, tool string, args ...string) int {
	log := logging.New(logging.Options{Stderr: lockedBuf{w.logMu, w.log}, Debug: true})
	if sigs == nil {
		sigs = make(chan os.Signal)
	}
	env := Env{Log: log, Runner: f, Self: owner.Self(), Signals: sigs, Dir: w.dir, Environ: []string{"PATH=/bin"}}
	return Run(context.Background(), w.o, env, w.o.ToolJob(tool, args), Streams{Stderr: w.stderr})
}

// occupy records a live job on host id (this test process is its writer,
// so it is never reaped).
func (w *world) occupy(id int64) {
	w.t.Helper()
	self := owner.Self()
	claim := state.Claim{PID: self.PID, Owner: self.String(), Cmd: "ffmpeg -i busy.mkv", Now: time.Now()}
	_, _, _, err := w.store.Acquire(context.Background(), state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision {
		return state.Decision{HostID: id}
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) set(host string, p state.HostProps) {
	w.t.Helper()
	if _, err := w.store.SetHostProps(context.Background(), host, p); err != nil {
		w.t.Fatal(err)
	}
}

// A host's own ffmpeg (rffmpeg set HOST ffmpeg=…) is the one its check and
// its jobs run; ffprobe keeps the configured one.
func TestHostProgramUsed(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	own := "/opt/ffmpeg7/bin/ffmpeg"
	w.set("gpu1", state.HostProps{FFmpeg: &own})
	var mu sync.Mutex
	var ran []string
	f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		mu.Lock()
		ran = append(ran, spec.Argv[len(spec.Argv)-1])
		mu.Unlock()
		return remote.Result{Started: true}
	}}
	if code := w.call(f, "-i", "in.mkv", "out.mkv"); code != 0 {
		t.Fatalf("exit %d\n%s", code, w.logText())
	}
	if code := w.callAs(f, nil, "ffprobe", "-i", "in.mkv"); code != 0 {
		t.Fatalf("ffprobe exit %d\n%s", code, w.logText())
	}
	if len(ran) != 2 || !strings.Contains(ran[0], own+" -i in.mkv") || strings.Contains(ran[1], own) ||
		!strings.Contains(ran[1], w.o.RemoteFFprobe) {
		t.Errorf("remote commands %q: want the host's %s for ffmpeg, the configured ffprobe", ran, own)
	}
	if !strings.Contains(w.logText(), "("+own+" -version") {
		t.Errorf("the check did not run the host's ffmpeg:\n%s", w.logText())
	}
}

// A full host (max_jobs) is not given another job: when_full says what
// happens instead. Each outcome is what the caller sees.
func TestWhenFull(t *testing.T) {
	one := 1
	for _, tt := range []struct {
		name, yaml string
		code       int
		calls      string // the runner's calls, joined
		log        string
	}{
		{"fallback", "", 0, "local /usr/lib/jellyfin-ffmpeg/ffmpeg", "every usable host is full: local fallback"},
		{"reject", "rffmpeg:\n  scheduling:\n    when_full: reject\n", 1, "", "Not running:"},
		{"wait, then the fallback", "rffmpeg:\n  scheduling:\n    when_full: wait\n    queue_timeout: 1\n", 0,
			"local /usr/lib/jellyfin-ffmpeg/ffmpeg", "Waiting for capacity, at most 1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.yaml, "gpu1")
			w.set("gpu1", state.HostProps{MaxJobs: &one})
			w.occupy(1)
			f := &fake{}
			start := time.Now()
			code := w.call(f, "-i", "in.mkv", "out.mkv")
			if code != tt.code || strings.Join(f.Calls(), ",") != tt.calls {
				t.Errorf("exit %d calls %q, want %d %q\n%s", code, f.Calls(), tt.code, tt.calls, w.logText())
			}
			if !strings.Contains(w.logText(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, w.logText())
			}
			if el := time.Since(start); tt.name == "wait, then the fallback" && el < 900*time.Millisecond {
				t.Errorf("gave up waiting after %v, want about queue_timeout (1 s)", el)
			}
			if tt.name == "reject" && !strings.Contains(w.stderrText(), "rffmpeg:") {
				t.Errorf("a rejected call says nothing on stderr: %q", w.stderrText())
			}
		})
	}
}

// A waiting call that gets a signal leaves the queue and exits as killed.
func TestWaitInterrupted(t *testing.T) {
	one := 1
	w := newWorld(t, "rffmpeg:\n  scheduling:\n    when_full: wait\n    queue_timeout: 60\n", "gpu1")
	w.set("gpu1", state.HostProps{MaxJobs: &one})
	w.occupy(1)
	sigs := make(chan os.Signal, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		sigs <- os.Interrupt
	}()
	start := time.Now()
	code := w.callAs(&fake{}, sigs, "ffmpeg", "-i", "in.mkv", "out.mkv")
	if code != 130 || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d after %v, want 130 soon after SIGINT\n%s", code, time.Since(start), w.logText())
	}
	snap, err := w.store.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Processes) != 1 {
		t.Errorf("%d process rows, want only the occupying one", len(snap.Processes))
	}
}

// A routing rule sends probes to the local machine, not to the host.
func TestRuleRoutesLocal(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  scheduling:\n    rules:\n      - probe=local\n", "gpu1")
	f := &fake{}
	if code := w.callAs(f, nil, "ffprobe", "-i", "in.mkv"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Join(f.Calls(), ","); !strings.HasPrefix(got, "local ") {
		t.Errorf("calls %q, want the probe run locally\n%s", got, w.logText())
	}
	f = &fake{}
	w.call(f, "-i", "in.mkv", "-c:v", "libx264", "out.mkv")
	if got := strings.Join(f.Calls(), ","); !strings.Contains(got, "remote gpu1") {
		t.Errorf("a transcode: calls %q, want gpu1", got)
	}
}

// Every job that ran leaves one history row: where, what class, how it
// ended (the exit code and its failure class).
func TestHistoryRecorded(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  remote:\n    check_interval: 30\n", "gpu1")
	code := 3
	f := &fake{remote: func(string, remote.Spec) remote.Result { return remote.Result{Started: true, Code: code} }}
	w.call(f, "-i", "in.mkv", "-c:v", "libx264", "out.mkv")
	code = 128 + 9
	w.callAs(f, nil, "ffprobe", "-i", "in.mkv")
	f.checks = map[string]remote.CheckResult{"gpu1": {Code: 255, Reason: "connection refused"}}
	w.store.MarkChecked(context.Background(), 1, time.Time{})
	f.localCode = 0
	w.call(f, "-version")
	got, err := w.store.History(context.Background(), state.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		host           int64
		class, failure string
		exit           int
	}
	var rows []row
	for _, j := range got {
		rows = append(rows, row{j.HostID, j.Class, j.Failure, j.ExitCode})
		if j.Started.IsZero() || j.Duration < 0 || j.PID == 0 || j.Frontend == "" || j.Command == "" {
			t.Errorf("incomplete row %+v", j)
		}
	}
	// Newest first.
	want := []row{{state.LocalHostID, "capability", "", 0}, {1, "probe", state.FailSignal, 137}, {1, "transcode", state.FailFFmpeg, 3}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("history %+v, want %+v", rows, want)
	}
}

// A call that worked around a refused socket directory records it for
// status; a healthy call records nothing.
func TestProblemsReported(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	w.call(&fake{}, "-version")
	if ps, _ := w.store.Problems(context.Background(), time.Time{}); len(ps) != 0 {
		t.Errorf("a healthy call reported %+v", ps)
	}
	w.o.SocketErr = errors.New("ssh socket directory: unsafe")
	w.call(&fake{}, "-version")
	ps, err := w.store.Problems(context.Background(), time.Time{})
	if err != nil || len(ps) != 1 || !strings.HasPrefix(ps[0].Source, "ssh sockets (uid ") || ps[0].Message != "ssh socket directory: unsafe" {
		t.Errorf("problems %+v (%v), want the socket directory's", ps, err)
	}
}
