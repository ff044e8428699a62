package shim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// fill sets every exported field reachable from v to a value that is not
// its zero value (slices get two elements, pointers a value), so a field
// the wire format drops shows in a round trip.
func fill(v reflect.Value, n *int64) {
	*n++
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-*n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.String:
		v.SetString("s\x00\n" + string(rune('a'+*n%26)))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), n)
		fill(s.Index(1), n)
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+*n, *n)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	default:
		panic("fill: " + v.Type().String())
	}
}

// Every field of both messages survives the wire, nil and empty slices
// stay apart, and a truncated or padded message is refused.
func TestWireRoundTrip(t *testing.T) {
	var n int64
	var req keepRequest
	var rep keepReply
	fill(reflect.ValueOf(&req).Elem(), &n)
	fill(reflect.ValueOf(&rep).Elem(), &n)
	rep.Decision.ReapMarks = []int64{} // empty, not nil
	for _, m := range []any{&req, &rep, &keepReply{Refused: "no"}} {
		body := appendWire(nil, reflect.ValueOf(m).Elem())
		got := reflect.New(reflect.TypeOf(m).Elem())
		r := wireReader{b: body}
		r.decode(got.Elem())
		if r.err != nil || len(r.b) != 0 {
			t.Fatalf("%T: decode: %v, %d bytes left", m, r.err, len(r.b))
		}
		if !reflect.DeepEqual(got.Interface(), m) {
			t.Errorf("%T changed on the wire:\n got %+v\nwant %+v", m, got.Elem(), reflect.ValueOf(m).Elem())
		}
		for _, bad := range [][]byte{body[:len(body)/2], append(append([]byte{}, body...), 0)} {
			var pr, pw = net.Pipe()
			go func() { writeMsgRaw(pw, bad); pw.Close() }()
			if err := readMsg(bufio.NewReader(pr), reflect.New(reflect.TypeOf(m).Elem()).Interface()); err == nil {
				t.Errorf("%T: a message of %d of %d bytes was taken", m, len(bad), len(body))
			}
			pr.Close()
		}
	}
}

// writeMsgRaw frames body as writeMsg does.
func writeMsgRaw(w net.Conn, body []byte) {
	b := append(appendWire(nil, reflect.ValueOf(uint64(len(body)))), body...)
	w.Write(b)
}

// syncBuf is a log written by one goroutine and read by another.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveWorld runs a state helper for w until the test ends.
func serveWorld(t *testing.T, w *world, o Options) (log *syncBuf, stop func()) {
	t.Helper()
	buf := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, o, logging.New(logging.Options{Stderr: buf, Debug: true}), func(p string) { ready <- p })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the state helper did not start")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return buf, stop
}

// With a helper, a call selects and releases through it: the same host,
// exit code, rows and history as without, and the call never opens the
// database itself.
func TestKeeperServesCalls(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	serveWorld(t, w, w.o)
	f := &fake{remote: func(string, remote.Spec) remote.Result { return remote.Result{Started: true, Code: 3} }}
	if got := w.call(f, "-i", "in.mkv"); got != 3 {
		t.Errorf("exit %d, want ffmpeg's 3", got)
	}
	if got := w.call(f, "-version"); got != 3 {
		t.Errorf("second call: exit %d, want 3", got)
	}
	if got, want := f.Calls(), []string{"check gpu1", "remote gpu1", "remote gpu1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got, want := w.hosts(), map[string]string{"gpu1": "idle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
	h := w.history()
	if len(h) != 2 || h[0].ExitCode != 3 || h[0].Hostname != "gpu1" || h[0].PID != os.Getpid() {
		t.Errorf("history %+v, want two jobs on gpu1 exiting 3", h)
	}
	log := w.logText()
	if n := strings.Count(log, "Selected through the state helper"); n != 2 {
		t.Errorf("%d selections through the helper, want 2:\n%s", n, log)
	}
	if strings.Contains(log, "without it") {
		t.Errorf("a call worked without the helper:\n%s", log)
	}
}

// A helper that is not of this call's build and configuration is not
// used (and says so once in its log); the call works on its own.
func TestKeeperRefusesAnotherConfiguration(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	other := w.o
	other.KeeperKey = func() string { return "another configuration" }
	hlog, _ := serveWorld(t, w, other)
	f := &fake{}
	for range 2 {
		if got := w.call(f); got != 0 {
			t.Errorf("exit %d", got)
		}
	}
	if log := w.logText(); !strings.Contains(log, "refused: the call runs another build of rffmpeg or another configuration") ||
		strings.Contains(log, "Selected through the state helper") {
		t.Errorf("log:\n%s", log)
	}
	if n := strings.Count(hlog.String(), "not answering"); n != 1 {
		t.Errorf("the helper warned %d times, want once:\n%s", n, hlog.String())
	}
	if h := w.history(); len(h) != 2 {
		t.Errorf("history has %d jobs, want 2", len(h))
	}
}

// A helper that stops while a job runs leaves the call to release its
// job itself: no rows left, the history row written.
func TestKeeperGoneMidJob(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	_, stop := serveWorld(t, w, w.o)
	f := &fake{remote: func(string, remote.Spec) remote.Result { stop(); return remote.Result{Started: true} }}
	if got := w.call(f); got != 0 {
		t.Errorf("exit %d", got)
	}
	log := w.logText()
	if !strings.Contains(log, "Selected through the state helper") || !strings.Contains(log, "releasing without it") {
		t.Errorf("log:\n%s", log)
	}
	if got, want := w.hosts(), map[string]string{"gpu1": "idle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
	if h := w.history(); len(h) != 1 {
		t.Errorf("history has %d jobs, want 1", len(h))
	}
	if _, err := os.Lstat(KeeperPath(w.o)); !os.IsNotExist(err) {
		t.Errorf("the stopped helper left its socket: %v", err)
	}
}

// A database held by another process bounds a call through the helper as
// it bounds one without: a job runs on the fallback after database.wait.
func TestKeeperBusyDatabaseBounded(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  database:\n    wait: 1\n", "gpu1")
	serveWorld(t, w, w.o)
	holdWriteLock(t, w)
	f := &fake{}
	t0 := time.Now()
	code := w.call(f, "-i", "x")
	if took := time.Since(t0); code != 0 || took > 3*time.Second {
		t.Errorf("exit %d after %v; want 0 within 3s", code, took)
	}
	if log := w.logText(); !strings.Contains(log, "stayed busy for 1s, running on the fallback") {
		t.Errorf("log:\n%s", log)
	}
	if got := f.Calls(); len(got) != 1 || !strings.HasPrefix(got[0], "local") {
		t.Errorf("calls %q, want one local run", got)
	}
}

// The helper answers only a caller whose PID is the one it claims (a
// process of another PID namespace, or one claiming another's rows).
func TestKeeperChecksCaller(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	serveWorld(t, w, w.o)
	k := dialKeeper(w.o)
	if k == nil {
		t.Fatal("no helper to dial")
	}
	defer k.close()
	self := owner.Self()
	self.PID++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := k.ask(ctx, keepRequest{Op: "acquire", Key: w.o.KeeperKey(), Self: self,
		Req: state.AcquireRequest{Claim: state.Claim{PID: self.PID, Owner: self.String(), Cmd: "x", Now: time.Now()}}}, 0)
	if err == nil || !strings.Contains(err.Error(), "claims PID") || !keeperFailed(err) {
		t.Errorf("a caller claiming another PID: %v", err)
	}
	if got := w.hosts(); len(got) != 1 {
		t.Errorf("rows written for a refused caller: %v", got)
	}
}

// The socket: a second helper refuses to start; a file that is not a
// socket of this account is left alone; a dead helper's socket is
// replaced.
func TestServeSocket(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	path := KeeperPath(w.o)
	_, stop := serveWorld(t, w, w.o)
	log := logging.New(logging.Options{Stderr: &strings.Builder{}})
	if err := Serve(context.Background(), w.o, log, func(string) {}); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("a second helper: %v", err)
	}
	stop()
	// The lock file is opened without following a link.
	target := filepath.Join(t.TempDir(), "target")
	os.Remove(path + ".lock")
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	if err := Serve(context.Background(), w.o, log, func(string) {}); err == nil {
		t.Error("a helper started through a symlinked lock file")
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created: %v", err)
	}
	os.Remove(path + ".lock")
	if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Serve(context.Background(), w.o, log, func(string) {}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a file at the socket's path: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Errorf("the file was changed: %q", b)
	}
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a socket nobody listens on
	serveWorld(t, w, w.o)
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %v, %v; want mode 0600", fi.Mode(), err)
	}
	if filepath.Dir(path) != w.o.LockDir {
		t.Errorf("socket %s outside the private directory %s", path, w.o.LockDir)
	}
}

// The key changes with the configuration file and the environment that
// decides the database or the frontend, not with what only a call reads.
func TestKeeperKey(t *testing.T) {
	parse := func(yaml string) *config.Config {
		c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := KeeperKey(parse("rffmpeg:\n  logging:\n    debug: true\n"))
	if KeeperKey(parse("rffmpeg:\n  logging:\n    debug: true\n")) != base {
		t.Error("the same configuration gave another key")
	}
	if KeeperKey(parse("rffmpeg:\n  logging:\n    debug: false\n")) == base {
		t.Error("another configuration file gave the same key")
	}
	t.Setenv("RFFMPEG_SSH_MUX", "0")
	if KeeperKey(parse("rffmpeg:\n  logging:\n    debug: true\n")) != base {
		t.Error("RFFMPEG_SSH_MUX (the call's own) changed the key")
	}
	for _, kv := range [][2]string{{"PGHOST", "db2"}, {"RFFMPEG_POSTGRES_HOST", "db2"}, {"RFFMPEG_FRONTEND_ID", "jf2"}} {
		t.Run(kv[0], func(t *testing.T) {
			t.Setenv(kv[0], kv[1])
			if KeeperKey(parse("rffmpeg:\n  logging:\n    debug: true\n")) == base {
				t.Errorf("%s did not change the key", kv[0])
			}
		})
	}
}

// A database file replaced under a running helper (a restored backup) is
// opened anew: the helper's answers go to the file calls read.
func TestKeeperFollowsReplacedDatabase(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	hlog, _ := serveWorld(t, w, w.o)
	if got := w.call(&fake{}); got != 0 {
		t.Fatalf("exit %d", got)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Rename(w.o.Store.Path+suffix, w.o.Store.Path+".old"+suffix)
	}
	fresh, err := state.Init(context.Background(), w.o.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.AddHost(context.Background(), "gpu2", "", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	if got := w.call(f); got != 0 {
		t.Errorf("exit %d", got)
	}
	if calls := f.Calls(); len(calls) == 0 || calls[len(calls)-1] != "remote gpu2" {
		t.Errorf("calls %q, want the new file's host gpu2", calls)
	}
	if !strings.Contains(hlog.String(), "was replaced; opened the new one") || !strings.Contains(w.logText(), "Selected through the state helper") {
		t.Errorf("helper log:\n%s\ncall log:\n%s", hlog.String(), w.logText())
	}
	h, err := fresh.History(context.Background(), state.HistoryQuery{})
	if err != nil || len(h) != 1 || h[0].Hostname != "gpu2" {
		t.Errorf("the new file's history: %+v, %v", h, err)
	}
}

// A helper stopped while calls go on, at moments spread over their steps:
// every call's job is released exactly once (no row left, one history row
// each), whether its requests were answered before the stop or not. One
// call at a time: calls of one process share their identity, so concurrent
// ones here would take each other's rows for their own (selector.Policy.Leftover).
func TestKeeperStopMidCall(t *testing.T) {
	for iter := range 8 {
		w := newWorld(t, "", "gpu1")
		_, stop := serveWorld(t, w, w.o)
		f := &fake{remote: func(string, remote.Spec) remote.Result { return remote.Result{Started: true} }}
		done := make(chan int)
		stopped := make(chan struct{})
		go func() {
			n := 0
			for after := 0; after < 3; n++ {
				w.call(f, "-i", "x")
				select {
				case <-stopped:
					after++
				default:
				}
			}
			done <- n
		}()
		time.Sleep(time.Duration(5+iter*7) * time.Millisecond)
		stop()
		close(stopped)
		n := <-done
		snap, err := w.store.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if h := w.history(); len(snap.Processes) != 0 || len(h) != n {
			t.Errorf("stop after %d ms: %d process rows left, %d history rows, want 0 and %d",
				5+iter*7, len(snap.Processes), len(h), n)
		}
	}
}

// A helper that accepts and never answers (stopped, swapped out: the
// kernel still accepts for it) costs a call its acknowledgement wait, not
// its database wait: the job runs on its host.
func TestKeeperFrozen(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	ln, err := net.Listen("unix", KeeperPath(w.o))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never read, never answered
		}
	}()
	f := &fake{}
	t0 := time.Now()
	if code := w.call(f, "-i", "x"); code != 0 {
		t.Errorf("exit %d", code)
	}
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("the call took %v past a frozen helper", took)
	}
	if got, want := f.Calls(), []string{"check gpu1", "remote gpu1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if log := w.logText(); !strings.Contains(log, "no answer") {
		t.Errorf("log:\n%s", log)
	}
	if h := w.history(); len(h) != 1 {
		t.Errorf("history has %d jobs, want 1", len(h))
	}
}

// A helper that records a call's job and dies before it answers: the
// call selects again on its own, and that selection reaps the row the
// helper wrote for it (selector.Policy.Leftover) instead of counting it as
// a job running on its host.
func TestLostAnswerRowReaped(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	ln, err := net.Listen("unix", KeeperPath(w.o))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var r keepRequest
		if readMsg(bufio.NewReader(c), &r) != nil {
			return
		}
		c.Write([]byte{0}) // taken
		w.store.Acquire(context.Background(), r.Req, func(state.Snapshot) state.Decision { return state.Decision{HostID: 1} })
	}()
	running := -1
	f := &fake{remote: func(string, remote.Spec) remote.Result {
		snap, _ := w.store.Snapshot(context.Background())
		running = len(snap.Processes)
		return remote.Result{Started: true}
	}}
	if code := w.call(f, "-i", "x"); code != 0 {
		t.Errorf("exit %d", code)
	}
	if running != 1 {
		t.Errorf("%d rows while the job ran, want its own only", running)
	}
	if got, want := w.hosts(), map[string]string{"gpu1": "idle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
	if h := w.history(); len(h) != 1 {
		t.Errorf("history has %d jobs, want 1", len(h))
	}
	if log := w.logText(); !strings.Contains(log, "no answer") {
		t.Errorf("log:\n%s", log)
	}
}

// Ping says whether the helper would answer this account's calls.
func TestPing(t *testing.T) {
	w := newWorld(t, "", "gpu1")
	if _, err := Ping(w.o); !errors.Is(err, ErrNoHelper) {
		t.Errorf("no helper: %v", err)
	}
	_, stop := serveWorld(t, w, w.o)
	if path, err := Ping(w.o); err != nil || path != KeeperPath(w.o) {
		t.Errorf("serving: %s, %v", path, err)
	}
	stop()
	other := w.o
	other.KeeperKey = func() string { return "another build" }
	serveWorld(t, w, other)
	if _, err := Ping(w.o); err == nil || !strings.Contains(err.Error(), "another build of rffmpeg") {
		t.Errorf("a helper of another configuration: %v", err)
	}
	if got := w.history(); len(got) != 0 {
		t.Errorf("a ping wrote %d history rows", len(got))
	}
}
