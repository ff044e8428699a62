package remote

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestArgv(t *testing.T) {
	base := SSH{Path: "/usr/bin/ssh", Host: "gpu1", ConnectTimeout: 1, PersistDir: "/run/shm", KnownHosts: "/var/lib/rffmpeg/known_hosts",
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
				"-o", "ControlMaster=auto", "-o", "ControlPath=/run/shm/ssh-%r@%h:%p", "-o", "ControlPersist=300",
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
	c := exec.Command("sh", "-c", Script(dir, cmd))
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
	var f filter
	f.out = &bytes.Buffer{}
	f.started = make(chan struct{})
	f.pids = make(chan int, 1)
	f.write(errb)
	if got := f.out.(*bytes.Buffer).String(); got != "oops\n" {
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
	c := exec.Command("sh", "-c", Script("", []string{"sleep", "30"}))
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

func TestFilterSplitFrames(t *testing.T) {
	stream := []byte("a\x00S\x00bc\x00H\x00d\x00P4242\x00e\r\x00H\x00f")
	for chunk := 1; chunk <= len(stream); chunk++ {
		var out bytes.Buffer
		f := filter{out: &out, started: make(chan struct{}), pids: make(chan int, 1)}
		for i := 0; i < len(stream); i += chunk {
			f.write(stream[i:min(i+chunk, len(stream))])
		}
		if out.String() != "bcde\rf" || string(f.pre.Bytes()) != "a" {
			t.Errorf("chunk %d: out %q pre %q", chunk, out.String(), f.pre.Bytes())
		}
		if pid := <-f.pids; pid != 4242 {
			t.Errorf("chunk %d: pid %d", chunk, pid)
		}
	}
}

func TestControlArgv(t *testing.T) {
	s := SSH{Path: "ssh", User: "jf", Host: "gpu1", PersistDir: "/run/shm/", Extra: []string{"-p", "2222"}}
	want := []string{"ssh", "-o", "ControlPath=/run/shm/ssh-%r@%h:%p", "-O", "exit", "-p", "2222", "--", "jf@gpu1"}
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
