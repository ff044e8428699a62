package e2e

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// fakeMaster binds a unix socket at path owned by another user (the rig's
// account), as a local attacker would, and counts who connects.
func fakeMaster(t *testing.T, path string) *atomic.Int32 {
	t.Helper()
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o777)
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return &n
}

// Issue 10 §2: a master socket bound by another user at the old predictable
// name in the persist directory is never used; the real master lives in a
// private directory of the calling user.
func TestFakeMasterAtOldPath(t *testing.T) {
	r, e := twoHosts(t, nil)
	old := fakeMaster(t, filepath.Join(e.dir, fmt.Sprintf("ssh-%s@127.0.0.2:%d", testUser, r.port)))
	for i := 0; i < 2; i++ {
		res := e.run("ffmpeg", nil, "-version")
		if res.code != 0 || !strings.Contains(string(res.stdout), "ffmpeg version") {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
	}
	if n := old.Load(); n != 0 {
		t.Errorf("the fake master at the old path got %d connections", n)
	}
	if !strings.Contains(e.logText(), "Running command on host '127.0.0.2'") {
		t.Errorf("did not run remotely:\n%s", e.logText())
	}
	priv := filepath.Join(e.dir, "rffmpeg-"+strconv.Itoa(os.Geteuid()))
	fi, err := os.Lstat(priv)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("private directory %s: %v %v", priv, fi, err)
	}
	socks := masters(e.dir)
	if len(socks) == 0 {
		t.Fatalf("no master socket in %s", priv)
	}
	for _, s := range socks {
		if len(s) > 90 {
			t.Errorf("socket path %s is %d bytes: too close to the 108-byte limit", s, len(s))
		}
	}
}

// masters are an installation's master sockets.
func masters(dir string) []string {
	var out []string
	m, _ := filepath.Glob(filepath.Join(dir, "rffmpeg-*", "*"))
	for _, p := range m {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			out = append(out, p)
		}
	}
	return out
}

// A private directory squatted by another user (made before the first
// call, with a fake master inside) is refused: the call runs without a
// master, never through it, and says why in the log.
func TestSquattedSocketDir(t *testing.T) {
	_, e := twoHosts(t, nil)
	priv := filepath.Join(e.dir, "rffmpeg-"+strconv.Itoa(os.Geteuid()))
	if err := os.Mkdir(priv, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(priv, 0o777)
	u, _ := user.Lookup(testUser)
	uid, _ := strconv.Atoi(u.Uid)
	os.Lchown(priv, uid, uid)
	var fakes []*atomic.Int32
	for _, n := range []string{"master", "0123456789abcdef", "rffmpeg-check-1.lock"} {
		fakes = append(fakes, fakeMaster(t, filepath.Join(priv, n)))
	}
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || !strings.Contains(string(res.stdout), "ffmpeg version") {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for i, f := range fakes {
		if n := f.Load(); n != 0 {
			t.Errorf("fake %d in the squatted directory got %d connections", i, n)
		}
	}
	log := e.logText()
	if !strings.Contains(log, "Running command on host '127.0.0.2'") {
		t.Errorf("did not run remotely:\n%s", log)
	}
	if !strings.Contains(log, "ssh socket directory") || !strings.Contains(log, "refusing") {
		t.Errorf("the log does not say why there is no master:\n%s", log)
	}
	var st syscall.Stat_t
	m, _ := filepath.Glob(filepath.Join(priv, "*"))
	for _, p := range m {
		if syscall.Lstat(p, &st) == nil && int(st.Uid) == os.Geteuid() {
			t.Errorf("rffmpeg created %s in a directory it refused", p)
		}
	}
}

// Issue 12: with a master up, a call runs over its socket without an ssh
// client, and the job's streams and exit code are the same.
func TestMuxPath(t *testing.T) {
	_, e := twoHosts(t, nil)
	// The default (remote.MuxDefault).
	e.run("ffmpeg", nil, "-version") // the check makes the master
	res := e.run("rffmpeg", []byte("hello\x00world"), "run", "sh", "-c", "cat; echo err >&2; exit 3")
	if res.code != 3 || string(res.stdout) != "hello\x00world" || string(res.stderr) != "err\n" {
		t.Errorf("got exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(e.logText(), "Ran over the master connection's socket") {
		t.Errorf("the mux path was not used:\n%s", e.logText())
	}
	res = e.run("rffmpeg", nil, "run", "sh", "-c", "kill -TERM $$")
	if res.code != 143 {
		t.Errorf("a job killed by SIGTERM: exit %d, want 143", res.code)
	}
}
