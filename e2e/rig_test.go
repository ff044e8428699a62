// Package e2e tests the rffmpeg binary as users run it: the admin CLI on real
// SQLite files and a real PostgreSQL, and the ffmpeg/ffprobe shim against a
// real sshd on loopback addresses (127.0.0.2 and 127.0.0.3 are two "hosts"),
// a dead host (nothing listens on 127.0.0.9), a hung host (127.0.0.4 accepts
// TCP and never speaks) and the real ffmpeg. The sshd logs in a dedicated
// unprivileged user, so remote processes are told apart from local ones.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// testUser is the account the rig's sshd logs in.
const testUser = testrig.TestUser

var (
	binDir  string // rffmpeg, ffmpeg and ffprobe (symlinks)
	rigOnce sync.Once
	rigErr  error
	theRig  *rig
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rffmpeg-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	os.Chmod(dir, 0o755) // the test user runs it too
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "rffmpeg"), "../cmd/rffmpeg")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build failed:", err)
		os.Exit(1)
	}
	for _, n := range []string{"ffmpeg", "ffprobe"} {
		os.Symlink("rffmpeg", filepath.Join(dir, n))
	}
	code := m.Run()
	if theRig != nil {
		theRig.stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// rig is the test hosts (package testrig): one sshd serving 127.0.0.2 and
// 127.0.0.3 on one port, and a hung host on 127.0.0.4 at the same port.
type rig struct {
	dir     string // the keys: host, client, otherhost, authorized_keys
	port    int
	key     string // client private key
	hosts   *testrig.Loopback
	hung    *testrig.Hung
	ffmpeg  string
	ffprobe string
}

// needRig starts the rig once, or skips the test with the reason.
func needRig(t *testing.T) *rig {
	t.Helper()
	rigOnce.Do(func() { theRig, rigErr = startRig() })
	if rigErr != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_SSH") == "1" {
			t.Fatalf("ssh rig: %v", rigErr)
		}
		t.Skipf("ssh rig unavailable: %v", rigErr)
	}
	return theRig
}

func startRig() (*rig, error) {
	if err := testrig.Prerequisites(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rffmpeg-rig")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755) // sshd reads authorized_keys as the test user
	r := &rig{dir: dir, ffmpeg: "/usr/bin/ffmpeg", ffprobe: "/usr/bin/ffprobe"}
	if r.port, err = testrig.FreePort(testrig.HostA); err != nil {
		return nil, err
	}
	if r.hosts, err = testrig.StartLoopback(dir, r.port, testUser); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.key = r.hosts.Keys.Client
	if r.hung, err = testrig.ListenHung(testrig.HungAddr, r.port); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

func (r *rig) stop() {
	if r.hosts != nil {
		r.hosts.Stop()
	}
	if r.hung != nil {
		r.hung.Close()
	}
	// The sessions' leftovers: everything the rig's own account runs.
	exec.Command("pkill", "-u", testUser).Run()
	os.RemoveAll(r.dir)
}

// env is one rffmpeg installation: its config, state, log and persist dirs.
type env struct {
	t      *testing.T
	dir    string
	config string
	log    string
	extra  []string // environment additions
}

// newEnv writes a config for the rig (r nil: no remote settings) with
// sections' keys added or replaced, and initializes the database.
func newEnv(t *testing.T, r *rig, sections map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	// The remote user reads media and writes outputs here.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	e := &env{t: t, dir: dir, config: filepath.Join(dir, "rffmpeg.yml"), log: filepath.Join(dir, "rffmpeg.log")}
	base := map[string]string{
		"logging":     fmt.Sprintf("logfile: %s\ndebug: true\n", e.log),
		"directories": fmt.Sprintf("state: %s/state\npersist: %s\n", dir, dir),
		"commands":    "ffmpeg: /usr/bin/ffmpeg\nffprobe: /usr/bin/ffprobe\nfallback_ffmpeg: /usr/bin/ffmpeg\nfallback_ffprobe: /usr/bin/ffprobe\n",
	}
	if r != nil {
		base["remote"] = fmt.Sprintf("user: %s\nargs: [\"-i\", \"%s\", \"-p\", \"%d\"]\n", testUser, r.key, r.port)
	}
	var b strings.Builder
	b.WriteString("rffmpeg:\n")
	for _, sec := range []string{"logging", "directories", "remote", "commands", "database"} {
		keys := map[string]string{}
		var order []string
		for _, src := range []string{base[sec], sections[sec]} {
			for _, line := range strings.Split(strings.TrimSpace(src), "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				k, _, _ := strings.Cut(line, ":")
				if _, seen := keys[k]; !seen {
					order = append(order, k)
				}
				keys[k] = line
			}
		}
		if len(order) == 0 {
			continue
		}
		b.WriteString("  " + sec + ":\n")
		for _, k := range order {
			b.WriteString("    " + keys[k] + "\n")
		}
	}
	if err := os.WriteFile(e.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustCLI("init", "--no-root", "-y")
	t.Cleanup(func() {
		// End this installation's master connections.
		for _, m := range masters(dir) {
			exec.Command("ssh", "-o", "ControlPath="+m, "-O", "exit", "x").Run()
		}
	})
	return e
}

func (e *env) environ() []string {
	env := []string{"RFFMPEG_CONFIG=" + e.config, "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	return append(env, e.extra...)
}

// cmd prepares a call of the binary by name (rffmpeg, ffmpeg or ffprobe).
func (e *env) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(binDir, name), args...)
	c.Env = e.environ()
	c.Dir = e.dir
	return c
}

type result struct {
	stdout, stderr []byte
	code           int
	took           time.Duration
}

func (e *env) run(name string, stdin []byte, args ...string) result {
	e.t.Helper()
	c := e.cmd(name, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	err := c.Run()
	res := result{out.Bytes(), errb.Bytes(), 0, time.Since(start)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			res.code = exitStatus(ee.ProcessState)
		} else {
			e.t.Fatalf("%s %v: %v", name, args, err)
		}
	}
	return res
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (e *env) mustCLI(args ...string) string {
	e.t.Helper()
	r := e.run("rffmpeg", nil, args...)
	if r.code != 0 {
		e.t.Fatalf("rffmpeg %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return string(r.stdout)
}

func (e *env) logText() string {
	b, _ := os.ReadFile(e.log)
	return string(b)
}

type statusJSON struct {
	Hosts []struct {
		ID         int64  `json:"id"`
		Hostname   string `json:"hostname"`
		Servername string `json:"servername"`
		Weight     int    `json:"weight"`
		State      string `json:"state"`
		Bad        *struct {
			PID    int    `json:"pid"`
			Reason string `json:"reason"`
			Class  string `json:"class"`
		} `json:"bad"`
		LastError *struct {
			Reason string `json:"reason"`
			Class  string `json:"class"`
		} `json:"last_error"`
		Processes []struct {
			PID     int    `json:"pid"`
			Command string `json:"command"`
		} `json:"processes"`
	} `json:"hosts"`
	Fallback []struct {
		PID int `json:"pid"`
	} `json:"fallback_processes"`
}

func (e *env) status() statusJSON {
	e.t.Helper()
	var s statusJSON
	out := e.mustCLI("status", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json: %v: %s", err, out)
	}
	return s
}

// remotePIDs lists the test user's ffmpeg/ffprobe processes whose command
// line contains marker (not the wrapper shell around them).
func remotePIDs(marker string) []int {
	out, _ := exec.Command("pgrep", "-u", testUser, "-f", marker).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + f + "/comm")
		if c := strings.TrimSpace(string(comm)); c == "ffmpeg" || c == "ffprobe" {
			pids = append(pids, n)
		}
	}
	return pids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// media makes a small real video file (H.264 + AAC, Matroska) once per test.
func media(t *testing.T, dir string, seconds int) string {
	return mediaAs(t, dir, seconds, "mkv")
}

// mediaAs makes it in a given container (nut streams through a pipe).
func mediaAs(t *testing.T, dir string, seconds int, ext string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("media-%ds.%s", seconds, ext))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	d := strconv.Itoa(seconds)
	c := exec.Command("/usr/bin/ffmpeg", "-nostdin", "-y", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration="+d,
		"-f", "lavfi", "-i", "sine=frequency=440:duration="+d,
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", p)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("make media: %v: %s", err, out)
	}
	os.Chmod(p, 0o644)
	return p
}
