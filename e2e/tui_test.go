package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tmuxSession runs the console in a real terminal (a private tmux server).
type tmuxSession struct {
	t      *testing.T
	socket string
}

func startTUI(t *testing.T, e *env, w, h int, env ...string) *tmuxSession {
	t.Helper()
	return startTUIWith(t, e, w, h, nil, env...)
}

// startTUIWith runs `rffmpeg tui ARGS…` with env added to its environment.
func startTUIWith(t *testing.T, e *env, w, h int, args []string, env ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_SSH") == "1" {
			t.Fatal("tmux not installed")
		}
		t.Skip("tmux not installed")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("rffmpeg-e2e-%d", time.Now().UnixNano())}
	cmd := fmt.Sprintf("env RFFMPEG_CONFIG=%s TERM=xterm-256color %s %s tui %s", e.config, strings.Join(env, " "), filepath.Join(binDir, "rffmpeg"), strings.Join(args, " "))
	if out, err := exec.Command("tmux", "-L", s.socket, "-f", "/dev/null", "new-session", "-d",
		"-x", strconv.Itoa(w), "-y", strconv.Itoa(h), cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) screen() string {
	out, _ := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p").Output()
	return string(out)
}

// styled is the screen with its attributes as escape sequences.
func (s *tmuxSession) styled() string {
	out, _ := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p", "-e").Output()
	return string(out)
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	args := append([]string{"-L", s.socket, "send-keys"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys: %v %s", err, out)
	}
}

// waitScreen polls the screen until it contains want; it returns how long that took.
func (s *tmuxSession) waitScreen(want string, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	ok := waitFor(limit, func() bool { return strings.Contains(s.screen(), want) })
	return time.Since(start), ok
}

func TestConsoleInRealTerminal(t *testing.T) {
	e := newEnv(t, nil, nil)
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("Hosts (0)", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	// A change made from outside appears within 500 ms, no key pressed.
	e.mustCLI("add", "--no-check", "-n", "outside", "outside.lan")
	if took, ok := s.waitScreen("outside.lan", 2*time.Second); !ok || took > 500*time.Millisecond {
		t.Errorf("outside change shown after %v (ok=%v):\n%s", took, ok, s.screen())
	}
	// Add a host by keys.
	s.keys("a")
	s.waitScreen("Add a transcode host", 2*time.Second)
	s.keys("-l", "keys.lan")
	// No ssh host here: tick "add without checking" (rffmpeg add --no-check).
	s.keys("Tab", "Tab", "BSpace", "2", "Tab", "Space", "Enter")
	// The row, not the form's input: the form is closed and the change feed
	// has shown the new host.
	if _, ok := s.waitScreen("2   keys.lan", 2*time.Second); !ok {
		t.Fatalf("host added by keys not shown:\n%s", s.screen())
	}
	st := e.status()
	if len(st.Hosts) != 2 || st.Hosts[1].Hostname != "keys.lan" || st.Hosts[1].Weight != 2 {
		t.Fatalf("database after the form: %+v", st.Hosts)
	}
	// Reweight it: select it and press + twice.
	s.keys("j", "+")
	time.Sleep(300 * time.Millisecond)
	s.keys("+")
	if !waitFor(2*time.Second, func() bool { return e.status().Hosts[1].Weight == 4 }) {
		t.Errorf("weight after ++: %+v\n%s", e.status().Hosts[1], s.screen())
	}
	// Quit restores the terminal: the shell's screen is back, the program gone.
	s.keys("q")
	if !waitFor(3*time.Second, func() bool {
		out, _ := exec.Command("tmux", "-L", s.socket, "list-panes", "-F", "#{pane_dead}#{pane_current_command}").Output()
		return len(out) == 0 || !strings.Contains(string(out), "rffmpeg")
	}) {
		t.Errorf("console still running after q")
	}
}

// A missing database is a message and a retry, not a crash; once it exists
// the console shows it.
func TestConsoleWaitsForDatabase(t *testing.T) {
	e := newEnv(t, nil, nil)
	db := filepath.Join(e.dir, "state", "rffmpeg.db")
	os.Rename(db, db+".away")
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("cannot read the state database", 5*time.Second); !ok {
		t.Fatalf("no database message:\n%s", s.screen())
	}
	os.Rename(db+".away", db)
	e.mustCLI("add", "--no-check", "back.lan")
	if _, ok := s.waitScreen("back.lan", 5*time.Second); !ok {
		t.Errorf("console did not recover:\n%s", s.screen())
	}
}

// SIGTERM ends the console cleanly: the alternate screen is left and the
// shell's next command runs.
func TestConsoleSIGTERM(t *testing.T) {
	e := newEnv(t, nil, nil)
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("Hosts (0)", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	out, _ := exec.Command("pgrep", "-f", "^"+filepath.Join(binDir, "rffmpeg")+" tui").Output()
	pids := strings.Fields(string(out))
	if len(pids) != 1 {
		t.Fatalf("console pids %q", pids)
	}
	exec.Command("kill", "-TERM", pids[0]).Run()
	if !waitFor(3*time.Second, func() bool { return exec.Command("kill", "-0", pids[0]).Run() != nil }) {
		t.Fatal("console still running after SIGTERM")
	}
	// The pane is gone with its only program (tmux closes it), or shows no
	// leftover of the console's screen.
	if scr := s.screen(); strings.Contains(scr, "Hosts (0)") {
		t.Errorf("console screen left behind:\n%s", scr)
	}
}

// With NO_COLOR the selected row is still visible (reverse video), and a
// removal asked with [y/N] is not confirmed by enter, only by y.
func TestConsoleNoColorAndConfirm(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.mustCLI("add", "--no-check", "-n", "first", "first.lan")
	e.mustCLI("add", "--no-check", "-n", "second", "second.lan")
	s := startTUI(t, e, 80, 24, "NO_COLOR=1")
	if _, ok := s.waitScreen("second.lan", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	s.keys("j")
	if !waitFor(2*time.Second, func() bool {
		for _, l := range strings.Split(s.styled(), "\n") {
			if strings.Contains(l, "second.lan") {
				return strings.Contains(l, "\x1b[7m")
			}
		}
		return false
	}) {
		t.Errorf("selected row not in reverse video with NO_COLOR:\n%q", s.styled())
	}
	if strings.Contains(s.styled(), "\x1b[38;") || strings.Contains(s.styled(), "\x1b[48;") {
		t.Errorf("colours despite NO_COLOR:\n%q", s.styled())
	}
	s.keys("d")
	if _, ok := s.waitScreen("remove host second (id 2): no jobs running? [y/N]", 2*time.Second); !ok {
		t.Fatalf("no question:\n%s", s.screen())
	}
	s.keys("Enter")
	if _, ok := s.waitScreen("cancelled", 2*time.Second); !ok || len(e.status().Hosts) != 2 {
		t.Fatalf("enter did not cancel (%d hosts):\n%s", len(e.status().Hosts), s.screen())
	}
	s.keys("d")
	s.waitScreen("[y/N]", 2*time.Second)
	s.keys("y")
	if !waitFor(2*time.Second, func() bool { return len(e.status().Hosts) == 1 }) {
		t.Errorf("y did not remove: %+v\n%s", e.status().Hosts, s.screen())
	}
	if _, ok := s.waitScreen("removed host second (id 2)", 2*time.Second); !ok {
		t.Errorf("no result line:\n%s", s.screen())
	}
}

// Enter on a host opens its detail in a real terminal: capacity and tags
// as added, and the jobs the shim really ran there (a success and an
// ffprobe error) with their outcomes and the last hour's load; esc goes
// back. h opens the history, f keeps the failed job.
func TestConsoleHostDetail(t *testing.T) {
	e := newEnv(t, nil, nil)
	// localhost runs jobs here, without SSH: real shim calls, real history rows.
	e.mustCLI("add", "-n", "solo", "--max-jobs", "3", "--tag", "hdr", "--tag", "night", "localhost")
	if r := e.run("ffprobe", nil, "-version"); r.code != 0 {
		t.Fatalf("ffprobe -version through the shim: %d %s", r.code, r.stderr)
	}
	if r := e.run("ffprobe", nil, filepath.Join(e.dir, "missing.mkv")); r.code == 0 {
		t.Fatal("ffprobe of a missing file succeeded")
	}
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("solo", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	if !strings.Contains(s.screen(), "0/3   hdr,night") {
		t.Errorf("hosts pane lacks capacity and tags:\n%s", s.screen())
	}
	s.keys("Enter")
	if _, ok := s.waitScreen("Host solo (id 1)", 2*time.Second); !ok {
		t.Fatalf("no detail:\n%s", s.screen())
	}
	if _, ok := s.waitScreen("peak 1 at", 2*time.Second); !ok {
		t.Errorf("no load sparkline:\n%s", s.screen())
	}
	for _, want := range []string{"hostname    localhost", "jobs        0/3 running", "tags        hdr, night", "no running jobs", "esc/enter back"} {
		if !strings.Contains(s.screen(), want) {
			t.Errorf("detail lacks %q:\n%s", want, s.screen())
		}
	}
	// The recent jobs are below the fold: scroll to them.
	s.keys("PageDown", "PageDown")
	if _, ok := s.waitScreen("Recent failures (last 1)", 2*time.Second); !ok {
		t.Fatalf("no recent failures after scrolling:\n%s", s.screen())
	}
	for _, want := range []string{"Recent jobs (last 2,", "capability", "ok", "probe", "ffmpeg", "exit 1"} {
		if !strings.Contains(s.screen(), want) {
			t.Errorf("detail lacks %q:\n%s", want, s.screen())
		}
	}
	s.keys("Escape")
	if _, ok := s.waitScreen("Processes (0)", 2*time.Second); !ok {
		t.Errorf("esc did not go back:\n%s", s.screen())
	}
	s.keys("h")
	if _, ok := s.waitScreen("History (2 jobs", 2*time.Second); !ok {
		t.Fatalf("no history:\n%s", s.screen())
	}
	s.keys("f")
	if _, ok := s.waitScreen("failed jobs only (1,", 2*time.Second); !ok || !strings.Contains(s.screen(), "missing.mkv") {
		t.Errorf("failed only:\n%s", s.screen())
	}
}

// --readonly: a shared screen where no key writes. The header says so,
// the footer and help offer no writing key, and pressing them all (with y
// after each, in case one asked) changes nothing in the database.
func TestConsoleReadOnly(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.mustCLI("add", "--no-check", "-n", "first", "--max-jobs", "2", "first.lan")
	e.mustCLI("add", "--no-check", "-n", "second", "second.lan")
	// The state as JSON, without the time it was generated.
	stateNow := func() string {
		return regexp.MustCompile(`"generated": "[^"]*"`).ReplaceAllString(e.mustCLI("status", "--json"), "")
	}
	before := stateNow()
	s := startTUIWith(t, e, 80, 24, []string{"--readonly"})
	if _, ok := s.waitScreen("second.lan", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	if scr := s.screen(); !strings.Contains(scr, "read-only") || strings.Contains(scr, "remove host") || strings.Contains(scr, "add host") {
		t.Errorf("header or footer wrong for a read-only screen:\n%s", scr)
	}
	// (No enter among them: on a host it opens the detail, which read-only
	// screens keep.)
	for _, k := range []string{"a", "d", "y", "+", "y", "-", "w", "x", "y", "b", "c", "y", "C", "y", "m", "1", "y", "t", "z", "y"} {
		s.keys(k)
	}
	s.keys("j")
	for _, k := range []string{"d", "y", "+", "x", "m", "t", "y"} {
		s.keys(k)
	}
	if _, ok := s.waitScreen("Processes (0)", 2*time.Second); !ok {
		t.Errorf("a key left the main view:\n%s", s.screen())
	}
	s.keys("?")
	if _, ok := s.waitScreen("Read-only screen: the keys that write are off.", 2*time.Second); !ok {
		t.Errorf("help does not say read-only:\n%s", s.screen())
	}
	// Let any write that slipped through land before comparing.
	time.Sleep(500 * time.Millisecond)
	if after := stateNow(); after != before {
		t.Errorf("a read-only console changed the state:\nbefore %s\nafter %s", before, after)
	}
}
