package shim

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/driver"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// fake is a Runner that runs nothing: each host answers as the test says,
// and every call is recorded ("check h", "remote h", "local", "end h").
type fake struct {
	mu     sync.Mutex
	calls  []string
	checks map[string]remote.CheckResult // by host; absent: passes
	asleep int                           // the first asleep checks fail (a host still waking)
	// remote answers a job on a host; nil: started, exit 0.
	remote    func(host string, spec remote.Spec) remote.Result
	localCode int
	checkWait time.Duration
	onEnd     func(host string)
}

func (f *fake) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// hostOf is the ssh destination: the word after "--".
func hostOf(argv []string) string {
	for i, a := range argv {
		if a == "--" && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return "?"
}

func (f *fake) RunRemote(spec remote.Spec) (remote.Result, error) {
	h := hostOf(spec.Argv)
	f.record("remote " + h)
	if f.remote == nil {
		return remote.Result{Started: true}, nil
	}
	return f.remote(h, spec), nil
}

func (f *fake) RunLocal(spec remote.Spec) (remote.Result, error) {
	f.record("local " + spec.Argv[0])
	return remote.Result{Code: f.localCode, Started: true}, nil
}

func (f *fake) Check(ctx context.Context, s remote.SSH, program string, limit time.Duration) remote.CheckResult {
	f.record("check " + s.Host)
	time.Sleep(f.checkWait)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asleep > 0 {
		f.asleep--
		return remote.CheckResult{Code: 255, Reason: "connection refused"}
	}
	return f.checks[s.Host]
}

func (f *fake) Signal(s remote.SSH, pid int, sig syscall.Signal) bool {
	f.record("signal " + s.Host)
	return true
}

func (f *fake) EndMaster(s remote.SSH) bool {
	f.record("end " + s.Host)
	if f.onEnd != nil {
		f.onEnd(s.Host)
	}
	return true
}

func (f *fake) Guard(s remote.SSH, pid int) (func(), error) { return func() {}, nil }

// world is an installation: a real SQLite database, options as the config
// builds them, a log in memory.
type world struct {
	t      *testing.T
	dir    string
	o      Options
	store  *state.Store
	log    *bytes.Buffer
	logMu  *sync.Mutex
	stderr *os.File
}

func newWorld(t *testing.T, yaml string, hosts ...string) *world {
	t.Helper()
	dir := t.TempDir()
	c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c.Database.Path = filepath.Join(dir, "rffmpeg.db")
	// A short persist directory: a subtest's TempDir can be too long for
	// a socket path (setup.SocketDir refuses it, and calls lose the master).
	persist, err := os.MkdirTemp("", "rf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(persist) })
	c.Directories.Persist = persist
	c.Directories.State = dir
	w := &world{t: t, dir: dir, o: FromConfig(c), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	if w.store, err = state.Init(context.Background(), w.o.Store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	for _, h := range hosts {
		if _, err := w.store.AddHost(context.Background(), h, "", 1, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if w.stderr, err = os.Create(filepath.Join(dir, "stderr")); err != nil {
		t.Fatal(err)
	}
	return w
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// call runs one ffmpeg call through the flow with runner f.
func (w *world) call(f Runner, args ...string) int {
	log := logging.New(logging.Options{Stderr: lockedBuf{w.logMu, w.log}, Debug: true})
	env := Env{Log: log, Runner: f, Self: owner.Self(), Signals: make(chan os.Signal), Dir: w.dir, Environ: []string{"PATH=/bin"}}
	return Run(context.Background(), w.o, env, w.o.ToolJob("ffmpeg", args), Streams{Stderr: w.stderr})
}

func (w *world) logText() string {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.log.String()
}

func (w *world) stderrText() string {
	b, _ := os.ReadFile(w.stderr.Name())
	return string(b)
}

// hosts is each host's state and the reason of its bad mark.
func (w *world) hosts() map[string]string {
	snap, err := w.store.Snapshot(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	v := w.o.Policy(time.Now(), owner.Self()).Classify(snap)
	got := map[string]string{}
	for _, h := range v.Hosts {
		got[h.Hostname] = h.State
		if h.Bad != nil {
			got[h.Hostname] += ": " + h.Bad.Reason
		}
	}
	if n := len(snap.Processes); n != 0 {
		got["processes left"] = string(rune('0' + n))
	}
	return got
}

func TestRunsOnTheCheckedHost(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	f := &fake{remote: func(string, remote.Spec) remote.Result { return remote.Result{Started: true, Code: 3} }}
	if got := w.call(f, "-i", "in.mkv"); got != 3 {
		t.Errorf("exit %d, want ffmpeg's 3", got)
	}
	if got, want := f.Calls(), []string{"check gpu1", "remote gpu1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	// ffmpeg's own failure never marks the host; the rows are gone.
	if got, want := w.hosts(), map[string]string{"gpu1": "idle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
	// The check is trusted for check_interval: the next call skips it.
	f.calls = nil
	w.call(f, "-version")
	if got, want := f.Calls(), []string{"remote gpu1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("second call: calls %q, want %q", got, want)
	}
	for _, line := range []string{"Starting rffmpeg as ffmpeg with args: -i in.mkv", "Running command on host 'gpu1' (gpu1)",
		"Finished rffmpeg with return code 3"} {
		if !strings.Contains(w.logText(), line) {
			t.Errorf("log lacks %q:\n%s", line, w.logText())
		}
	}
}

func TestStaleCheck(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  remote:\n    check_interval: 30\n", "gpu1")
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		checked time.Time
		want    []string
	}{
		{"checked just now", time.Now(), []string{"remote gpu1"}},
		{"checked 29 s ago", time.Now().Add(-29 * time.Second), []string{"remote gpu1"}},
		{"checked 31 s ago", time.Now().Add(-31 * time.Second), []string{"check gpu1", "remote gpu1"}},
	} {
		w.store.MarkChecked(ctx, 1, tt.checked)
		f := &fake{}
		w.call(f, "-version")
		if got := f.Calls(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: calls %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRetriesAcrossHostsThenFallback(t *testing.T) {
	refused := remote.CheckResult{Code: 255, Reason: "connection refused"}
	tests := []struct {
		name      string
		yaml      string
		checks    map[string]remote.CheckResult
		wantCode  int
		wantCalls []string
		wantHosts map[string]string
	}{
		{"first host fails its check, second runs", "", map[string]remote.CheckResult{"a": refused}, 0,
			[]string{"check a", "check b", "remote b"},
			map[string]string{"a": "bad: connection refused", "b": "idle"}},
		{"every host fails: the fallback runs", "", map[string]remote.CheckResult{"a": refused, "b": refused}, 7,
			[]string{"check a", "check b", "local /usr/lib/jellyfin-ffmpeg/ffmpeg"},
			map[string]string{"a": "bad: connection refused", "b": "bad: connection refused"}},
		{"every host fails, fallback off: nothing runs", "rffmpeg:\n  commands:\n    fallback: false\n",
			map[string]remote.CheckResult{"a": refused, "b": refused}, 1,
			[]string{"check a", "check b"},
			map[string]string{"a": "bad: connection refused", "b": "bad: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.yaml, "a", "b")
			f := &fake{checks: tt.checks, localCode: 7}
			if got := w.call(f, "-i", "x"); got != tt.wantCode {
				t.Errorf("exit %d, want %d", got, tt.wantCode)
			}
			if got := f.Calls(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
			if got := w.hosts(); !reflect.DeepEqual(got, tt.wantHosts) {
				t.Errorf("hosts %v, want %v", got, tt.wantHosts)
			}
			if tt.wantCode == 1 && !strings.Contains(w.stderrText(), "fallback is off") {
				t.Errorf("stderr %q does not say why nothing ran", w.stderrText())
			}
			if tt.wantCode != 1 && w.stderrText() != "" {
				t.Errorf("the shim spoke on stderr: %q", w.stderrText())
			}
		})
	}
}

// How a remote run ended decides whether the host is to blame.
func TestFailureClassification(t *testing.T) {
	tests := []struct {
		name      string
		res       remote.Result
		wantCode  int
		wantCalls []string
		wantState string
		wantLog   string
	}{
		{"ffmpeg's own error", remote.Result{Started: true, Code: 1}, 1,
			[]string{"remote a"}, "idle", "ended: ffmpeg's own exit (exit 1); the host is not to blame"},
		{"killed by a signal", remote.Result{Started: true, Code: 137}, 137,
			[]string{"remote a"}, "idle", "ended: killed by signal 9; the host is not to blame"},
		{"connection lost under the job", remote.Result{Started: true, Lost: true, Code: 255}, 255,
			[]string{"remote a", "end a"}, "bad: connection lost while running (host frozen or unreachable)", "Marking host a (a) as bad due to retcode 255"},
		{"no start frame in time", remote.Result{TimedOut: true, Code: 137}, 0,
			[]string{"end a", "local /usr/lib/jellyfin-ffmpeg/ffmpeg", "remote a"}, "bad: timed out: the command did not start within 2.5s (host frozen or unreachable)", "as bad due to retcode 137: timed out"},
		{"authentication refused", remote.Result{Code: 255, Diag: "jf@a: Permission denied (publickey)."}, 0,
			[]string{"remote a", "local /usr/lib/jellyfin-ffmpeg/ffmpeg"}, "bad: authentication failed (permission denied)", "as bad due to retcode 255: authentication failed"},
		{"remote program missing", remote.Result{Code: 127, Diag: "sh: 1: /usr/lib/jellyfin-ffmpeg/ffmpeg: not found"}, 0,
			[]string{"remote a", "local /usr/lib/jellyfin-ffmpeg/ffmpeg"}, "bad: remote program not found (exit 127)", "as bad due to retcode 127"},
		{"ssh died silently", remote.Result{Code: 255}, 0,
			[]string{"remote a", "local /usr/lib/jellyfin-ffmpeg/ffmpeg"}, "bad: ssh failed before the command started (exit 255)", "as bad due to retcode 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "", "a")
			w.store.MarkChecked(context.Background(), 1, time.Now())
			f := &fake{remote: func(string, remote.Spec) remote.Result { return tt.res }}
			if got := w.call(f, "-i", "x"); got != tt.wantCode {
				t.Errorf("exit %d, want %d", got, tt.wantCode)
			}
			// Ending a master runs beside the next attempt: any order.
			got, want := f.Calls(), append([]string(nil), tt.wantCalls...)
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("calls %q, want %q", got, want)
			}
			if got := w.hosts()["a"]; got != tt.wantState {
				t.Errorf("host %q, want %q", got, tt.wantState)
			}
			if !strings.Contains(w.logText(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, w.logText())
			}
		})
	}
}

// Two calls find the same host's check stale: one checks, the other waits
// for it and trusts its result.
func TestCheckLock(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	f := &fake{checkWait: 300 * time.Millisecond}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.call(f, "-version") }()
	}
	wg.Wait()
	checks := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "check") {
			checks++
		}
	}
	if checks != 1 {
		t.Errorf("%d checks for two simultaneous calls, want 1: %q", checks, f.Calls())
	}
}

// A call waiting on the check lock sees the other call's failure and does
// not spend a second timeout on the host.
func TestCheckLockSharesFailure(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	f := &fake{checkWait: 300 * time.Millisecond, checks: map[string]remote.CheckResult{"gpu1": {Code: 255, Reason: "timed out"}}}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.call(f, "-version") }()
	}
	wg.Wait()
	var checks, locals int
	for _, c := range f.Calls() {
		checks += map[bool]int{true: 1}[strings.HasPrefix(c, "check")]
		locals += map[bool]int{true: 1}[strings.HasPrefix(c, "local")]
	}
	if checks != 1 || locals != 2 {
		t.Errorf("checks %d (want 1), local runs %d (want 2): %q", checks, locals, f.Calls())
	}
}

// A host row written by another tool with an option for a name never
// reaches ssh.
func TestHostileHostnameRefused(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	db, err := driver.Open("file:" + w.o.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"-oProxyCommand=touch /tmp/pwned", "gpu1 -F/tmp/x", "gpu\n1", ""} {
		if _, err := db.Exec(`UPDATE hosts SET hostname = ? WHERE id = 1`, name); err != nil {
			t.Fatal(err)
		}
		w.store.Clear(context.Background(), "", false)
		f := &fake{}
		if got := w.call(f, "-version"); got != 0 {
			t.Errorf("%q: exit %d", name, got)
		}
		if got, want := f.Calls(), []string{"local /usr/lib/jellyfin-ffmpeg/ffmpeg"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%q: calls %q, want %q", name, got, want)
		}
		// The store leaves such a row out and reports it; were it to slip
		// through, the shim refuses it itself (remote.ValidHost).
		if log := w.logText(); !strings.Contains(log, "Skipped a malformed row (hosts row 1") && !strings.Contains(log, "refused: ") {
			t.Errorf("%q: no log line says why the host was skipped", name)
		}
	}
}

func TestDeriveTimeouts(t *testing.T) {
	for _, tt := range []struct {
		connect    time.Duration
		persistent bool
		want       Timeouts
	}{
		{time.Second, true, Timeouts{Connect: time.Second, Start: 2500 * time.Millisecond, Check: 3 * time.Second, CheckLock: 4 * time.Second}},
		{time.Second, false, Timeouts{Connect: time.Second, Start: 10500 * time.Millisecond, Check: 3 * time.Second, CheckLock: 4 * time.Second}},
		{5 * time.Second, true, Timeouts{Connect: 5 * time.Second, Start: 6500 * time.Millisecond, Check: 7 * time.Second, CheckLock: 8 * time.Second}},
	} {
		if got := DeriveTimeouts(tt.connect, tt.persistent); got != tt.want {
			t.Errorf("DeriveTimeouts(%v, %v) = %+v, want %+v", tt.connect, tt.persistent, got, tt.want)
		}
	}
	// A busy host gets longer to open a session, within a bound.
	tm := DeriveTimeouts(time.Second, true)
	for n, want := range map[int]time.Duration{-1: 2500 * time.Millisecond, 0: 2500 * time.Millisecond,
		100: 7500 * time.Millisecond, 10000: 12500 * time.Millisecond} {
		if got := tm.StartFor(n); got != want {
			t.Errorf("StartFor(%d) = %v, want %v", n, got, want)
		}
	}
}

// A host freezes under a running job (call A). A new call (B) finds it
// dead: its job never starts, so it marks the host bad, ends the master and
// runs on the fallback. Ending the master ends A's job, and A's teardown
// writes the database — here held for 3 s, as on a loaded machine. B must
// not queue behind that: its next host is recorded before the master is
// ended, and its own release is bounded.
func TestNewCallNeverWaitsOnTeardown(t *testing.T) {
	w := newWorld(t, "", "a")
	w.o.ReleaseWait = 300 * time.Millisecond
	w.store.MarkChecked(context.Background(), 1, time.Now())
	ended := make(chan struct{})
	aRunning := make(chan struct{})
	var n int
	var mu sync.Mutex
	f := &fake{}
	var holdLock func()
	f.remote = func(host string, spec remote.Spec) remote.Result {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first { // A: runs until its master is ended
			close(aRunning)
			<-ended
			return remote.Result{Started: true, Lost: true, Code: 255}
		}
		return remote.Result{TimedOut: true, Code: 137} // B: no start frame
	}
	db, err := driver.Open("file:" + w.o.Store.Path + "?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held := make(chan struct{})
	var once sync.Once
	f.onEnd = func(string) { once.Do(holdLock) }
	holdLock = func() {
		tx, err := db.Begin()
		if err == nil {
			_, err = tx.Exec(`UPDATE hosts SET weight = weight`)
		}
		if err != nil {
			t.Errorf("hold the write lock: %v", err)
			return
		}
		go func() { time.Sleep(3 * time.Second); tx.Commit(); close(held) }()
		close(ended)
	}
	aDone := make(chan int)
	go func() { aDone <- w.call(f, "-i", "a.mkv") }()
	<-aRunning
	start := time.Now()
	code := w.call(f, "-version")
	took := time.Since(start)
	if code != 0 || took > 1500*time.Millisecond {
		t.Errorf("new call: exit %d after %v; it waited on the other call's teardown", code, took)
	}
	if got := <-aDone; got != 255 {
		t.Errorf("running job: exit %d, want 255", got)
	}
	<-held
	calls := f.Calls()
	sort.Strings(calls)
	if want := []string{"end a", "end a", "local /usr/lib/jellyfin-ffmpeg/ffmpeg", "remote a", "remote a"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %q, want %q in any order", calls, want)
	}
	if got := w.hosts()["a"]; !strings.HasPrefix(got, "bad: timed out") {
		t.Errorf("host a: %q, want bad: timed out…", got)
	}
}

// The wedged master holds the streams of the session that never opened: a
// call ends it, beside its next attempt, before it exits.
func TestEndsMasterBeforeExit(t *testing.T) {
	w := newWorld(t, "", "a")
	w.store.MarkChecked(context.Background(), 1, time.Now())
	var ended atomic.Bool
	f := &fake{remote: func(string, remote.Spec) remote.Result { return remote.Result{TimedOut: true, Code: 137} }}
	f.onEnd = func(string) { time.Sleep(300 * time.Millisecond); ended.Store(true) }
	if code := w.call(f, "-version"); code != 0 || !ended.Load() {
		t.Errorf("exit %d, master ended before the call returned: %v", code, ended.Load())
	}
}

// The original's sample config, uncommented, sets pre to [""]: empty words
// mean nothing (the remote shell would run ” and fail with 127).
func TestEmptyPreWordsIgnored(t *testing.T) {
	for _, tt := range []struct{ pre, want string }{
		{`[""]`, "exec 3<&0; /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
		{`["", "nice", "", "-n", "5"]`, "exec 3<&0; nice -n 5 /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
		{`[]`, "exec 3<&0; /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
	} {
		w := newWorld(t, "rffmpeg:\n  commands:\n    pre: "+tt.pre+"\n", "gpu1")
		var script string
		f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
			script = spec.Argv[len(spec.Argv)-1]
			return remote.Result{Started: true}
		}}
		w.call(f, "-version")
		if !strings.Contains(script, tt.want) {
			t.Errorf("pre %s: remote script %q lacks %q", tt.pre, script, tt.want)
		}
	}
}

func TestStdoutRouting(t *testing.T) {
	for _, tt := range []struct {
		routing, tool string
		args          []string
		toStderr      bool
	}{
		{"exact", "ffmpeg", []string{"-i", "x", "-f", "md5", "-"}, false},
		{"exact", "ffmpeg", []string{"-version"}, false},
		{"original", "ffmpeg", []string{"-i", "x", "-f", "md5", "-"}, true},
		{"original", "ffmpeg", []string{"-hide_banner", "-encoders"}, false},
		{"original", "ffmpeg", []string{"-f", "chromaprint", "-fp_format", "raw", "-"}, false},
		{"original", "ffprobe", []string{"-show_format", "x"}, false},
	} {
		c, err := config.Parse([]byte("rffmpeg:\n  commands:\n    stdout_routing: "+tt.routing+"\n"), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if got := FromConfig(c).ToolJob(tt.tool, tt.args).StdoutToStderr; got != tt.toStderr {
			t.Errorf("%s %s %q: stdout to stderr %v, want %v", tt.routing, tt.tool, tt.args, got, tt.toStderr)
		}
	}
	if _, err := config.Parse([]byte("rffmpeg:\n  commands:\n    stdout_routing: stderr\n"), func(string) (string, bool) { return "", false }); err == nil {
		t.Errorf("an unknown stdout_routing was accepted")
	}
}

// rffmpeg run goes through the same flow; its log line names the command.
func TestCommandJob(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	var script string
	f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		script = spec.Argv[len(spec.Argv)-1]
		return remote.Result{Started: true, Code: 4}
	}}
	log := logging.New(logging.Options{Stderr: lockedBuf{w.logMu, w.log}})
	env := Env{Log: log, Runner: f, Self: owner.Self(), Signals: make(chan os.Signal), Environ: []string{}}
	code := Run(context.Background(), w.o, env, CommandJob([]string{"sh", "-c", "exit 4"}, false), Streams{Stderr: w.stderr})
	if code != 4 || !strings.Contains(script, "exec 3<&0; sh -c 'exit 4' <&3") {
		t.Errorf("exit %d, script %q", code, script)
	}
	if !strings.Contains(w.logText(), "Starting rffmpeg as rffmpeg run with args: sh -c exit 4") {
		t.Errorf("log:\n%s", w.logText())
	}
}

func TestNiceCarriedToRemote(t *testing.T) {
	if got, want := Nice(), 0; got != want {
		t.Errorf("Nice() = %d in a test process, want %d", got, want)
	}
	for _, tt := range []struct {
		nice int
		want string
	}{
		{0, "exec 3<&0; /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
		{7, "exec 3<&0; nice -n 7 /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
		{-5, "exec 3<&0; /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"},
	} {
		w := newWorld(t, "", "gpu1")
		var script string
		f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
			script = spec.Argv[len(spec.Argv)-1]
			return remote.Result{Started: true}
		}}
		env := Env{Log: logging.New(logging.Options{Stderr: io.Discard}), Runner: f, Self: owner.Self(), Signals: make(chan os.Signal), Nice: tt.nice, Environ: []string{}}
		Run(context.Background(), w.o, env, w.o.ToolJob("ffmpeg", []string{"-version"}), Streams{Stderr: w.stderr})
		if !strings.Contains(script, tt.want) {
			t.Errorf("nice %d: script %q lacks %q", tt.nice, script, tt.want)
		}
	}
}

// An allowlist of the caller's variables reaches the remote ffmpeg; the
// loader's never do.
func TestEnvironmentAllowlist(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  remote:\n    env: [\"JELLYFIN_*\", \"MY_VAR\"]\n", "gpu1")
	var script string
	f := &fake{remote: func(_ string, spec remote.Spec) remote.Result {
		script = spec.Argv[len(spec.Argv)-1]
		return remote.Result{Started: true}
	}}
	environ := []string{"PATH=/bin", "FFREPORT=file=/tmp/r 1.log:level=32", "TZ=Europe/Paris", "LC_ALL=C", "HOME=/x",
		"LD_PRELOAD=/evil.so", "LD_LIBRARY_PATH=/opt/emby/lib", "JELLYFIN_DATA=/d", "MY_VAR=$(id)", "MY_VARX=no", "AV_LOG_FORCE_NOCOLOR=1"}
	env := Env{Log: logging.New(logging.Options{Stderr: io.Discard}), Runner: f, Self: owner.Self(), Signals: make(chan os.Signal), Environ: environ, Nice: 3}
	Run(context.Background(), w.o, env, w.o.ToolJob("ffmpeg", []string{"-version"}), Streams{Stderr: w.stderr})
	want := "exec 3<&0; env 'FFREPORT=file=/tmp/r 1.log:level=32' TZ=Europe/Paris LC_ALL=C JELLYFIN_DATA=/d 'MY_VAR=$(id)' AV_LOG_FORCE_NOCOLOR=1 nice -n 3 /usr/lib/jellyfin-ffmpeg/ffmpeg -version <&3"
	if !strings.Contains(script, want) {
		t.Errorf("script %q\nlacks %q", script, want)
	}
}
