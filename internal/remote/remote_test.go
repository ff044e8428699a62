package remote

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestArgv(t *testing.T) {
	base := SSH{Path: "/usr/bin/ssh", Host: "gpu1", ConnectTimeout: 1, PersistDir: "/run/shm", ControlDir: "/run/shm/rffmpeg-0", KnownHosts: "/var/lib/rffmpeg/known_hosts",
		Extra: []string{"-i", "/var/lib/jellyfin/.ssh/id_rsa"}}
	common := []string{"-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1", "-o", "ConnectionAttempts=1"}
	tests := []struct {
		name  string
		mod   func(*SSH)
		quiet Quiet
		want  []string
	}{
		{"tofu, persistent, quiet", func(s *SSH) { s.Persist = 300; s.User = "jellyfin" }, true,
			append(append([]string{"/usr/bin/ssh", "-q"}, common...), "-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=/var/lib/rffmpeg/known_hosts",
				"-o", "ControlMaster=auto", "-o", "ControlPath=/run/shm/rffmpeg-0/56d942b33f5af9ca", "-o", "ControlPersist=300",
				"-i", "/var/lib/jellyfin/.ssh/id_rsa", "--", "jellyfin@gpu1", "CMD")},
		{"original host keys, no persistence, check", func(s *SSH) { s.HostKeys = HostKeysIgnore }, false,
			append(append([]string{"/usr/bin/ssh", "-o", "LogLevel=ERROR"}, common...), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
				"-i", "/var/lib/jellyfin/.ssh/id_rsa", "--", "gpu1", "CMD")},
		{"ssh decides host keys", func(s *SSH) { s.HostKeys = HostKeysSSH; s.Extra = nil }, true,
			append(append([]string{"/usr/bin/ssh", "-q"}, common...), "--", "gpu1", "CMD")},
		{"keepalives", func(s *SSH) { s.HostKeys = HostKeysSSH; s.Extra = nil; s.KeepaliveEvery = 2; s.KeepaliveCount = 3 }, true,
			append(append([]string{"/usr/bin/ssh", "-q"}, common...), "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3", "--", "gpu1", "CMD")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mod(&s)
			if got := s.Argv("CMD", tt.quiet); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

var hostile = []string{"", "plain", "with space", `'`, `''`, `"`, `$HOME`, `$(id)`, "`id`", `a;b|c&d`, "*", "?", "[a]", "~",
	"tab\tx", "new\nline", `back\slash`, `\'`, "ünï ✓", "-n", "--", "#comment", "a=b", "%s", "!", "{a,b}"}

// echoWords runs a shell command line and returns what printf saw, one
// NUL-terminated word each.
func echoWords(t *testing.T, line string) []string {
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func TestQuoteIsExact(t *testing.T) {
	got := echoWords(t, Join(hostile))
	if !reflect.DeepEqual(got, hostile) {
		t.Errorf("got  %q\nwant %q", got, hostile)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("an argument cannot hold NUL")
		}
		got := echoWords(t, Quote(s)+" end")
		if len(got) != 2 || got[0] != s {
			t.Fatalf("Quote(%q) = %s; the shell saw %q", s, Quote(s), got)
		}
	})
}

// runScript runs Script with a local dash, as the remote login shell would.
func runScript(t *testing.T, dir string, stdin []byte, cmd ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	c := exec.Command("sh", "-c", Script(dir, testToken, cmd))
	var o, e bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &o, &e, bytes.NewReader(stdin)
	c.Run()
	return o.Bytes(), e.Bytes(), ExitCode(c.ProcessState)
}

func TestScript(t *testing.T) {
	dir := t.TempDir()
	out, errb, code := runScript(t, dir, []byte("from stdin"), "sh", "-c", `pwd; cat; echo oops >&2; exit 3`, "x")
	if string(out) != dir+"\nfrom stdin" || code != 3 {
		t.Errorf("stdout %q code %d", out, code)
	}
	var got bytes.Buffer
	f := newFilter(&got, testToken, make(chan struct{}), make(chan int, 1))
	f.write(errb)
	if got := got.String(); got != "oops\n" {
		t.Errorf("filtered stderr %q (raw %q)", got, errb)
	}
	select {
	case pid := <-f.pids:
		if pid <= 1 {
			t.Errorf("pid frame %d", pid)
		}
	default:
		t.Errorf("no pid frame in %q", errb)
	}
	// Killed by a signal: 128+N, as a shell shows it.
	if _, _, code := runScript(t, "", nil, "sh", "-c", "kill -9 $$"); code != 137 {
		t.Errorf("killed by 9: code %d", code)
	}
}

// The watcher stops the job when its stderr (the SSH session) goes away.
func TestScriptStopsJobWhenSessionGoes(t *testing.T) {
	c := exec.Command("sh", "-c", Script("", testToken, []string{"sleep", "30"}))
	r, w, _ := os.Pipe()
	c.Stderr = w
	c.Start()
	w.Close()
	go func() { // the session reads its stderr for a while
		buf := make([]byte, 64)
		deadline := time.Now().Add(700 * time.Millisecond)
		for time.Now().Before(deadline) {
			r.Read(buf)
		}
		r.Close() // then goes away
	}()
	time.Sleep(700 * time.Millisecond)
	if c.ProcessState != nil || c.Process.Signal(syscall.Signal(0)) != nil {
		t.Fatal("the job did not keep running while its session lived")
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("job stopped after %v", d)
		}
	case <-time.After(5 * time.Second):
		c.Process.Kill()
		t.Fatal("job still running 5 s after its session went away")
	}
}

// testToken frames the wrapper's messages in these tests.
const testToken = "0123456789abcdef"

func TestFilterSplitFrames(t *testing.T) {
	fr := func(letter byte, payload string) string { return string(Frame(testToken, letter, payload)) }
	// The job's own bytes include NULs, a frame with another token, a
	// frame-like run without the token and a NUL at the very end: all of
	// them are the job's and pass through unchanged (binary data on
	// pipe:2 used to lose them).
	job := "bc\x00d\x00\x00H\x00\x00P1\x00" + string(Frame("fedcba9876543210", 'P', "7")) + "\x00rff0123\x00e\r"
	stream := []byte("a" + fr('S', "") + job[:9] + fr('H', "") + job[9:] + fr('P', "4242") + "f\x00" + fr('H', "") + "\x00")
	want := job + "f\x00\x00"
	for chunk := 1; chunk <= len(stream); chunk++ {
		var out bytes.Buffer
		f := newFilter(&out, testToken, make(chan struct{}), make(chan int, 1))
		for i := 0; i < len(stream); i += chunk {
			f.write(stream[i:min(i+chunk, len(stream))])
		}
		f.flush()
		if out.String() != want || string(f.pre.Bytes()) != "a" {
			t.Errorf("chunk %d: out %q, want %q; pre %q", chunk, out.String(), want, f.pre.Bytes())
		}
		select {
		case pid := <-f.pids:
			if pid != 4242 {
				t.Errorf("chunk %d: pid %d", chunk, pid)
			}
		default:
			t.Errorf("chunk %d: no pid", chunk)
		}
	}
}

func TestSplitFrames(t *testing.T) {
	b := append([]byte("ssh: warning\n"), Frame(testToken, 'S', "")...)
	b = append(b, "job\x00out"...)
	b = append(b, Frame(testToken, 'H', "")...)
	started, diag, job := SplitFrames(testToken, b)
	if !started || diag != "ssh: warning" || string(job) != "job\x00out" {
		t.Errorf("started %v diag %q job %q", started, diag, job)
	}
	if started, diag, _ := SplitFrames(testToken, []byte("Permission denied")); started || diag != "Permission denied" {
		t.Errorf("no start: started %v diag %q", started, diag)
	}
}

func TestControlArgv(t *testing.T) {
	s := SSH{Path: "ssh", User: "jf", Host: "gpu1", PersistDir: "/run/shm/", ControlDir: "/run/shm/rffmpeg-0/", Extra: []string{"-p", "2222"}}
	want := []string{"ssh", "-o", "ControlPath=" + s.ControlPath(), "-O", "exit", "-p", "2222", "--", "jf@gpu1"}
	if got := s.ControlArgv("exit"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		code       int
		diag, want string
	}{
		{255, "ssh: connect to host 127.0.0.9 port 22: Connection refused", "connection refused"},
		{255, "ssh: connect to host 10.0.0.1 port 22: Connection timed out", "timed out"},
		{255, "Connection timed out during banner exchange", "timed out"},
		{255, "@@@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@@@\nHost key verification failed.", "host key changed"},
		{255, "jellyfin@gpu1: Permission denied (publickey).", "authentication failed"},
		{127, "sh: 1: /usr/lib/jellyfin-ffmpeg/ffmpeg: not found", "remote program not found"},
		{3, "", "failed with exit code 3"},
	} {
		if got := Classify(tt.code, tt.diag); !strings.Contains(got, tt.want) {
			t.Errorf("Classify(%d, %q) = %q, want %q", tt.code, tt.diag, got, tt.want)
		}
	}
}

func TestValidHost(t *testing.T) {
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"gpu1", true}, {"10.0.0.7", true}, {"::1", true}, {"gpu-1.example.org", true}, {"fe80::1%eth0", true},
		{"", false}, {"-oProxyCommand=touch /tmp/x", false}, {"-F/tmp/cfg", false}, {"-E/tmp/log", false},
		{"gpu1 -oProxyCommand=x", false}, {"gpu\n1", false}, {"gpu\t1", false}, {"gpu\x1b1", false},
		{"gpu\x001", false}, {"gpu\xff", false}, {strings.Repeat("a", 256), false},
	} {
		if got := ValidHost(tt.host) == ""; got != tt.ok {
			t.Errorf("ValidHost(%q) ok = %v, want %v (%s)", tt.host, got, tt.ok, ValidHost(tt.host))
		}
	}
}

// However the hostname starts, ssh sees it after "--": an operand, never an option.
func TestDestinationAfterDoubleDash(t *testing.T) {
	s := SSH{Path: "ssh", Host: "-oProxyCommand=x", ConnectTimeout: 1, HostKeys: HostKeysSSH, Extra: []string{"-p", "22"}}
	for _, argv := range [][]string{s.Argv("CMD", true), s.ControlArgv("exit")} {
		i := len(argv) - 2
		if argv[len(argv)-1] != "CMD" {
			i = len(argv) - 1
		}
		if argv[i-1] != "--" || argv[i] != "-oProxyCommand=x" {
			t.Errorf("argv %q: destination not right after --", argv)
		}
	}
}

func TestSSHEnvDropsLoaderVariables(t *testing.T) {
	got := SSHEnv([]string{"PATH=/bin", "LD_LIBRARY_PATH=/opt/emby/lib", "LD_PRELOAD=x.so", "HOME=/h", "OLD_LD=1"})
	if want := []string{"PATH=/bin", "HOME=/h", "OLD_LD=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestClassOf(t *testing.T) {
	for _, tt := range []struct {
		res  Result
		want Class
		host bool
	}{
		{Result{Started: true}, ClassOK, false},
		{Result{Started: true, Code: 1}, ClassExit, false},
		{Result{Started: true, Code: 8}, ClassExit, false},
		{Result{Started: true, Code: 137}, ClassSignal, false},
		{Result{Started: true, Code: 127}, ClassMissing, false},
		{Result{Started: true, Code: 126}, ClassNotExec, false},
		{Result{Started: true, Code: 255, Lost: true}, ClassLost, true},
		{Result{Code: 137, TimedOut: true}, ClassTimeout, true},
		{Result{Code: 255, Diag: "ssh: connect to host 10.0.0.1 port 22: Connection refused"}, ClassConnect, true},
		{Result{Code: 255, Diag: "Connection timed out during banner exchange"}, ClassConnect, true},
		{Result{Code: 255}, ClassConnect, true},
		{Result{Code: 255, Diag: "jf@gpu1: Permission denied (publickey)."}, ClassAuth, true},
		{Result{Code: 255, Diag: "Host key verification failed."}, ClassHostKey, true},
		{Result{Code: 2, Diag: "sh: 1: Syntax error: Unterminated quoted string"}, ClassShell, true},
	} {
		got := ClassOf(tt.res)
		if got != tt.want || got.HostFault() != tt.host {
			t.Errorf("ClassOf(%+v) = %q (host fault %v), want %q (%v)", tt.res, got, got.HostFault(), tt.want, tt.host)
		}
	}
	if got, want := ClassSignal.Describe(137), "killed by signal 9"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

// The socket name is rffmpeg's own (the mux client dials it): 16 hex digits
// in the private directory, different for everything that makes a
// connection different, and without a private directory there is no master.
func TestControlPath(t *testing.T) {
	base := SSH{Path: "ssh", User: "jf", Host: "gpu1", Persist: 300, ControlDir: "/run/shm/rffmpeg-0", HostKeys: HostKeysTOFU, KnownHosts: "/k", Extra: []string{"-p", "22"}}
	p := base.ControlPath()
	if !strings.HasPrefix(p, "/run/shm/rffmpeg-0/") || len(p) != len("/run/shm/rffmpeg-0/")+16 {
		t.Errorf("ControlPath %q: want the private directory and 16 hex digits", p)
	}
	seen := map[string]string{p: "base"}
	for name, mod := range map[string]func(*SSH){
		"host":      func(s *SSH) { s.Host = "gpu2" },
		"user":      func(s *SSH) { s.User = "other" },
		"port":      func(s *SSH) { s.Extra = []string{"-p", "2222"} },
		"host keys": func(s *SSH) { s.HostKeys = HostKeysIgnore },
		"client":    func(s *SSH) { s.Path = "/opt/ssh" },
	} {
		s := base
		mod(&s)
		q := s.ControlPath()
		if other, dup := seen[q]; dup {
			t.Errorf("%s: same socket as %s (%s)", name, other, q)
		}
		seen[q] = name
	}
	for _, tt := range []struct {
		dir     string
		persist int
		want    bool
	}{{"/d", 300, true}, {"", 300, false}, {"/d", 0, false}} {
		s := base
		s.ControlDir, s.Persist = tt.dir, tt.persist
		if got := s.Shared(); got != tt.want {
			t.Errorf("Shared() with dir %q persist %d = %v, want %v", tt.dir, tt.persist, got, tt.want)
		}
		if got := strings.Contains(strings.Join(s.Argv("x", true), " "), "ControlMaster"); got != tt.want {
			t.Errorf("argv with dir %q persist %d has a master: %v, want %v", tt.dir, tt.persist, got, tt.want)
		}
	}
}

// A session that ended without an exit status (the master or the host went
// away) reads as ssh's own 255, which tells a lost host from a job's code.
func TestMuxCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{{nil, 0}, {io.EOF, 255}, {errors.New("ssh: session closed"), 255}} {
		if got := muxCode(tt.err); got != tt.want {
			t.Errorf("muxCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// A caller that closed its stdout must not block the channel (the remote
// job would stall): writes after the first failure are swallowed.
func TestDiscardOnError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &discardOnError{w: w}
	if n, err := d.Write([]byte("one")); n != 3 || err != nil {
		t.Fatalf("write to an open pipe: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, _ := r.Read(buf); string(buf[:n]) != "one" {
		t.Errorf("got %q, want %q", buf[:n], "one")
	}
	w.Close()
	for i := 0; i < 2; i++ {
		if n, err := d.Write([]byte("lost")); n != 4 || err != nil {
			t.Errorf("write %d after the failure: %d, %v; want 4, nil", i, n, err)
		}
	}
	if !d.failed {
		t.Error("the failure was not noticed")
	}
}

// A host's own port comes after remote.args (ssh takes the last -p) and
// gives it a master of its own.
func TestArgvPort(t *testing.T) {
	s := SSH{Path: "ssh", Host: "gpu1", Extra: []string{"-p", "2222"}, ControlDir: "/run/shm/rffmpeg-0", Persist: 60}
	p := s
	p.Port = 2200
	argv := p.Argv("CMD", true)
	if n := len(argv); argv[n-5] != "-p" || argv[n-4] != "2200" || argv[n-7] != "-p" || argv[n-6] != "2222" {
		t.Errorf("argv %q: want remote.args' -p 2222, then the host's -p 2200, before --", argv)
	}
	if s.ControlPath() == p.ControlPath() {
		t.Errorf("a host on another port shares the master socket %s", s.ControlPath())
	}
	if c := p.ControlArgv("check"); c[len(c)-3] != "2200" {
		t.Errorf("control argv %q lacks the port", c)
	}
}
