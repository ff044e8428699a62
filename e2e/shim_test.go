package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
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

	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// twoHosts: an installation with the two sshd hosts registered.
func twoHosts(t *testing.T, sections map[string]string) (*rig, *env) {
	r := needRig(t)
	e := newEnv(t, r, sections)
	e.mustCLI("add", "127.0.0.2")
	e.mustCLI("add", "127.0.0.3")
	return r, e
}

// 1. Every argument reaches the remote program byte for byte.
func TestExactArguments(t *testing.T) {
	_, e := twoHosts(t, nil)
	args := []string{"plain", "with space", `single'quote`, `double"quote`, "$HOME", "$(id)", "`id`",
		"a;b|c&d", "*.mkv", "tab\there", "new\nline", `back\slash`, "ünïcødé ✓", "-leading-dash", "", "'", `\`, "end"}
	r := e.run("rffmpeg", nil, append([]string{"run", "/usr/bin/printf", `%s\0`}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := strings.Split(strings.TrimSuffix(string(r.stdout), "\x00"), "\x00")
	if len(got) != len(args) {
		t.Fatalf("got %d args %q, want %d", len(got), got, len(args))
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("arg %d: got %q, want %q", i, got[i], args[i])
		}
	}
	if !strings.Contains(e.logText(), "Running command on host '127.0.0.2'") {
		t.Errorf("did not run remotely:\n%s", e.logText())
	}
	// And through the ffmpeg shim: an output name full of shell syntax.
	name := filepath.Join(e.dir, `out 'x' "$(touch pwned)" `+"`id`"+` ;&.nut`)
	r = e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.2", "-f", "nut", name)
	if r.code != 0 {
		t.Fatalf("ffmpeg exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("output with exact name missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "pwned")); err == nil {
		t.Errorf("an argument was executed by the remote shell")
	}
}

// 2. Streams: binary stdin intact, ffprobe and ffmpeg stdout identical to a
// local run (and the original's routing as an opt-in), live stderr.
func TestExactStreams(t *testing.T) {
	r, e := twoHosts(t, nil)
	blob := make([]byte, 3<<20)
	rand.Read(blob)
	res := e.run("rffmpeg", blob, "run", "cat")
	if res.code != 0 || !bytes.Equal(res.stdout, blob) {
		t.Errorf("binary through run cat: exit %d, %d bytes back of %d, equal=%v", res.code, len(res.stdout), len(blob), bytes.Equal(res.stdout, blob))
	}
	m := media(t, e.dir, 2)
	local, _ := exec.Command(r.ffprobe, "-v", "warning", "-print_format", "json", "-show_streams", "-show_chapters", "-show_format", m).Output()
	res = e.run("ffprobe", nil, "-v", "warning", "-print_format", "json", "-show_streams", "-show_chapters", "-show_format", m)
	if res.code != 0 || !bytes.Equal(res.stdout, local) || len(local) < 100 {
		t.Errorf("ffprobe JSON differs from local (exit %d):\n%s\nvs\n%s", res.code, res.stdout, local)
	}
	// ffmpeg reading the file from stdin (-i pipe:0): its md5 of the
	// decoded frames equals a local run's, on stdout (exact by default).
	nut := mediaAs(t, e.dir, 2, "nut")
	data, _ := os.ReadFile(nut)
	localMD5, _ := exec.Command("sh", "-c", r.ffmpeg+` -loglevel error -i pipe:0 -map 0:v -f md5 - <"$1"`, "x", nut).Output()
	md5Args := []string{"-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-map", "0:v", "-f", "md5", "-"}
	res = e.run("ffmpeg", data, md5Args...)
	if res.code != 0 || !bytes.Equal(res.stdout, localMD5) || len(res.stderr) != 0 || len(localMD5) < 10 {
		t.Errorf("md5 via stdin: exit %d stdout %q stderr %q want %q on stdout", res.code, res.stdout, res.stderr, localMD5)
	}
	// The original's routing, opted into: without a special flag ffmpeg's
	// stdout goes to stderr; with one, to stdout.
	orig := newEnv(t, r, map[string]string{"commands": "stdout_routing: original"})
	orig.mustCLI("add", "127.0.0.2")
	res = orig.run("ffmpeg", data, md5Args...)
	if res.code != 0 || len(res.stdout) != 0 || !bytes.Contains(res.stderr, bytes.TrimSpace(localMD5)) {
		t.Errorf("original routing, md5 via stdin: exit %d stdout %q stderr %q want %q on stderr", res.code, res.stdout, res.stderr, localMD5)
	}
	if res = orig.run("ffmpeg", nil, "-version"); !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) || res.code != 0 {
		t.Errorf("original routing, -version: exit %d stdout %.30q", res.code, res.stdout)
	}
	res = e.run("ffmpeg", nil, "-version")
	if !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) || res.code != 0 {
		t.Errorf("-version: exit %d stdout %q", res.code, res.stdout)
	}
	res = e.run("ffmpeg", nil, "-hide_banner", "-encoders")
	if !bytes.Contains(res.stdout, []byte("libx264")) {
		t.Errorf("-encoders did not list libx264 on stdout")
	}
	// Progress lines arrive while the job runs, not at its end.
	c := e.cmd("ffmpeg", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=rate=10:duration=4", "-f", "null", "-")
	stderr, _ := c.StderrPipe()
	start := time.Now()
	c.Start()
	first := make(chan time.Duration, 1)
	go func() {
		rd := bufio.NewReader(stderr)
		sent := false
		for {
			line, err := rd.ReadString('\r')
			if !sent && strings.Contains(line, "time=") {
				first <- time.Since(start)
				sent = true
			}
			if err != nil {
				if !sent {
					first <- -1
				}
				return
			}
		}
	}()
	got := <-first
	c.Wait()
	total := time.Since(start)
	if got < 0 || got > total-time.Second {
		t.Errorf("first progress line after %v of a %v job: not live", got, total)
	}
}

// 3. Exit codes, SSH failures told apart, the caller's working directory.
func TestExitCodesAndWorkingDirectory(t *testing.T) {
	r, e := twoHosts(t, nil)
	for _, args := range [][]string{
		{"-hide_banner", "-i", "/nonexistent/input.mkv"},
		{"-hide_banner", "-no-such-option"},
		{"-hide_banner", "-f", "lavfi", "-i", "testsrc=duration=0.1", "-c:v", "nonexistent-codec", "-f", "null", "-"},
	} {
		local := exec.Command(r.ffmpeg, append([]string{"-nostdin"}, args...)...)
		local.Run()
		want := local.ProcessState.ExitCode()
		got := e.run("ffmpeg", nil, append([]string{"-nostdin"}, args...)...)
		if got.code != want || want == 0 {
			t.Errorf("%v: exit %d, local ffmpeg %d", args, got.code, want)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSEGV, syscall.SIGTERM} {
		got := e.run("rffmpeg", nil, "run", "sh", "-c", fmt.Sprintf("kill -%d $$", sig))
		if want := 128 + int(sig); got.code != want {
			t.Errorf("remote command killed by %v: exit %d, want %d", sig, got.code, want)
		}
	}
	// Attachment extraction writes relative to the working directory.
	wd := filepath.Join(e.dir, "attachments")
	os.Mkdir(wd, 0o777)
	os.Chmod(wd, 0o777)
	c := e.cmd("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.2", "-f", "nut", "relative.nut")
	c.Dir = wd
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(wd, "relative.nut")); err != nil || fi.Sys().(*syscall.Stat_t).Uid == 0 {
		t.Errorf("relative output not written by the remote user in the caller's directory: %v", err)
	}
}

// An SSH failure is not ffmpeg's: the host is marked bad with the reason,
// the job runs elsewhere, status shows why.
func TestSSHFailureIsToldApart(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	e.mustCLI("add", "--no-check", "-n", "dead", "127.0.0.9")
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) {
		t.Fatalf("exit %d %q", res.code, res.stderr)
	}
	if len(res.stderr) != 0 {
		t.Errorf("shim wrote on stderr: %q", res.stderr)
	}
	s := e.status()
	h := s.Hosts[0]
	if h.State != "bad" || h.Bad == nil || !strings.Contains(h.Bad.Reason, "refused") || h.Bad.Class != "connect" || h.LastError == nil || h.LastError.Class != "connect" {
		t.Errorf("dead host status: %+v", h)
	}
	if !strings.Contains(e.logText(), "Marking host 127.0.0.9 (dead) as bad due to retcode 255: connection refused") {
		t.Errorf("log lacks the bad mark:\n%s", e.logText())
	}
}

// 4. "q" on stdin stops a remote job as it would a local one.
func TestStdinQuitKey(t *testing.T) {
	_, e := twoHosts(t, nil)
	marker := "testsrc=rate=5:duration=31.7"
	c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
	in, _ := c.StdinPipe()
	c.Start()
	if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) > 0 }) {
		t.Fatal("remote ffmpeg never started")
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	in.Write([]byte("q"))
	err := c.Wait()
	if err != nil || time.Since(start) > 3*time.Second {
		t.Errorf("after q: %v, took %v", err, time.Since(start))
	}
	if !waitFor(2*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg still running after q")
	}
}

// 5. No orphans: forwarded signals, SIGKILL of the shim, a dropped connection.
func TestNoOrphans(t *testing.T) {
	_, e := twoHosts(t, nil)
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			marker := fmt.Sprintf("testsrc=rate=5:duration=%d.%d", 40+i, 3)
			c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
			in, _ := c.StdinPipe() // open, like Jellyfin's
			defer in.Close()
			c.Start()
			if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) > 0 }) {
				t.Fatal("remote ffmpeg never started")
			}
			time.Sleep(300 * time.Millisecond) // the guardian and the PID are in place
			sent := time.Now()
			c.Process.Signal(sig)
			c.Wait()
			if !waitFor(2*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
				t.Errorf("remote ffmpeg still running 2 s after %v to the shim", sig)
			}
			if sig != syscall.SIGKILL {
				// The shim exits as a local ffmpeg given the same signal does.
				local := exec.Command("/usr/bin/ffmpeg", "-re", "-f", "lavfi", "-i", marker+"1", "-f", "null", "-")
				local.StdinPipe()
				local.Start()
				time.Sleep(500 * time.Millisecond)
				local.Process.Signal(sig)
				local.Wait()
				if got, want := exitStatus(c.ProcessState), exitStatus(local.ProcessState); got != want {
					t.Errorf("shim exit %d after %v, local ffmpeg %d", got, sig, want)
				}
			}
			t.Logf("%v: remote gone %v after the signal", sig, time.Since(sent).Round(10*time.Millisecond))
		})
	}
	t.Run("SIGHUP ignored by the caller", func(t *testing.T) {
		// nohup: a local ffmpeg inherits the ignored SIGHUP and runs on;
		// the shim must neither die nor forward it.
		marker := "testsrc=rate=5:duration=3.7"
		c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
		c.Args = append([]string{"sh", "-c", `trap "" HUP; exec "$0" "$@"`}, c.Args...)
		c.Args[3] = c.Path
		c.Path = "/bin/sh"
		in, _ := c.StdinPipe()
		defer in.Close()
		c.Start()
		if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) > 0 }) {
			t.Fatal("remote ffmpeg never started")
		}
		time.Sleep(300 * time.Millisecond)
		c.Process.Signal(syscall.SIGHUP)
		time.Sleep(500 * time.Millisecond)
		if len(remotePIDs(marker)) == 0 {
			t.Errorf("the remote job ended on a SIGHUP its caller ignores")
		}
		c.Wait()
		if code := exitStatus(c.ProcessState); code != 0 {
			t.Errorf("shim exit %d, want 0 (the job ran to its end)", code)
		}
	})
	t.Run("connection dropped", func(t *testing.T) {
		marker := "testsrc=rate=5:duration=47.3"
		c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
		in, _ := c.StdinPipe()
		defer in.Close()
		c.Start()
		if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) > 0 }) {
			t.Fatal("remote ffmpeg never started")
		}
		// Kill the master connection: the SSH session ends under the job.
		for _, m := range masters(e.dir) {
			exec.Command("pkill", "-KILL", "-f", "ssh: "+m).Run()
		}
		if !waitFor(2*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
			t.Errorf("remote ffmpeg still running 2 s after its connection dropped")
		}
		c.Wait()
		if exitStatus(c.ProcessState) == 0 {
			t.Errorf("shim exited 0 after losing its connection")
		}
	})
	t.Run("local fallback SIGKILL", func(t *testing.T) {
		le := newEnv(t, nil, nil)
		marker := "testsrc=rate=5:duration=48.3"
		c := le.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
		in, _ := c.StdinPipe()
		defer in.Close()
		c.Start()
		local := func() bool {
			return exec.Command("pgrep", "-f", "/usr/bin/ffmpeg -re -f lavfi -i "+marker).Run() == nil
		}
		if !waitFor(5*time.Second, local) {
			t.Fatal("local ffmpeg never started")
		}
		c.Process.Kill()
		c.Wait()
		if !waitFor(2*time.Second, func() bool { return !local() }) {
			t.Errorf("local ffmpeg still running 2 s after the shim was killed")
		}
	})
}

// 6. Rows of a killed shim vanish by themselves; bad marks expire.
func TestSelfHealingState(t *testing.T) {
	_, e := twoHosts(t, map[string]string{"remote": "    bad_mark_ttl: 2\n"})
	marker := "testsrc=rate=5:duration=49.3"
	c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
	in, _ := c.StdinPipe()
	defer in.Close()
	c.Start()
	waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) > 0 })
	if n := len(e.status().Hosts[0].Processes); n != 1 {
		t.Fatalf("running job not in status: %d processes", n)
	}
	c.Process.Kill()
	c.Wait()
	if s := e.status(); len(s.Hosts[0].Processes) != 0 || s.Hosts[0].State != "idle" {
		t.Errorf("killed shim's row still shown: %+v", s.Hosts[0])
	}
	// A host whose check fails is marked bad; the mark expires on its own
	// and the recovered host is used again.
	broken := newEnv(t, needRig(t), map[string]string{"remote": "    bad_mark_ttl: 2\n", "commands": "    ffmpeg: /nonexistent/ffmpeg\n"})
	broken.mustCLI("add", "--no-check", "127.0.0.2")
	broken.run("ffmpeg", nil, "-version")
	if s := broken.status(); s.Hosts[0].State != "bad" || !strings.Contains(s.Hosts[0].Bad.Reason, "not found") || s.Hosts[0].Bad.Class != "remote-missing" {
		t.Fatalf("broken host: %+v", s.Hosts[0])
	}
	// Repair the configuration (as an admin would), wait out the mark.
	cfg, _ := os.ReadFile(broken.config)
	os.WriteFile(broken.config, bytes.Replace(cfg, []byte("/nonexistent/ffmpeg"), []byte("/usr/bin/ffmpeg"), 1), 0o644)
	time.Sleep(2100 * time.Millisecond)
	before := strings.Count(broken.logText(), "Running command on host '127.0.0.2'")
	broken.run("ffmpeg", nil, "-version")
	if after := strings.Count(broken.logText(), "Running command on host '127.0.0.2'"); after != before+1 {
		t.Errorf("recovered host not used again after its mark expired:\n%s", broken.logText())
	}
}

// holdJobs starts n long jobs at the same instant and returns them running.
func holdJobs(t *testing.T, e *env, n int, marker string) []*exec.Cmd {
	var cmds []*exec.Cmd
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := 0; i < n; i++ {
		c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
		c.StdinPipe()
		cmds = append(cmds, c)
		wg.Add(1)
		go func() { defer wg.Done(); <-startGate; c.Start() }()
	}
	close(startGate)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
	})
	if !waitFor(10*time.Second, func() bool { return len(remotePIDs(marker)) == n }) {
		t.Fatalf("%d of %d jobs started", len(remotePIDs(marker)), n)
	}
	return cmds
}

// 7. Selection is atomic: 8 jobs at once on 2 equal hosts → 4 and 4; with
// weights 1 and 3 → 2 and 6.
func TestAtomicSpread(t *testing.T) {
	_, e := twoHosts(t, nil)
	e.run("ffmpeg", nil, "-version") // warm both masters' checks are per host; warm one
	holdJobs(t, e, 8, "testsrc=rate=5:duration=51.3")
	s := e.status()
	if a, b := len(s.Hosts[0].Processes), len(s.Hosts[1].Processes); a != 4 || b != 4 {
		t.Errorf("spread %d/%d, want 4/4", a, b)
	}
	_, w := twoHosts(t, nil)
	w.mustCLI("weight", "127.0.0.3", "3")
	holdJobs(t, w, 8, "testsrc=rate=5:duration=52.3")
	s = w.status()
	if a, b := len(s.Hosts[0].Processes), len(s.Hosts[1].Processes); a != 2 || b != 6 {
		t.Errorf("weighted spread %d/%d, want 2/6", a, b)
	}
}

// 8. Health checks: a warm host is not re-checked on every call; a dead or
// hung host costs one connect timeout once, then nothing while marked.
func TestCheapHealthChecks(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	e.mustCLI("add", "127.0.0.2")
	for i := 0; i < 3; i++ {
		e.run("ffmpeg", nil, "-version")
	}
	if n := strings.Count(e.logText(), "Check passed for"); n != 1 {
		t.Errorf("%d checks for 3 warm calls, want 1", n)
	}
	for _, host := range []string{"127.0.0.9", "127.0.0.4"} {
		t.Run(host, func(t *testing.T) {
			e := newEnv(t, r, nil)
			e.mustCLI("add", "--no-check", host)
			e.mustCLI("add", "127.0.0.2")
			first := e.run("ffprobe", nil, "-version")
			second := e.run("ffprobe", nil, "-version")
			if first.code != 0 || second.code != 0 {
				t.Fatalf("exit %d/%d", first.code, second.code)
			}
			// The first call pays at most ConnectTimeout=1 (plus a real run).
			if first.took > 1700*time.Millisecond {
				t.Errorf("first call with a bad host took %v", first.took)
			}
			if second.took > 700*time.Millisecond || strings.Count(e.logText(), "Marking host "+host) != 1 {
				t.Errorf("second call took %v; log:\n%s", second.took, e.logText())
			}
			t.Logf("%s: first call %v, second %v", host, first.took.Round(time.Millisecond), second.took.Round(time.Millisecond))
		})
	}
}

// 9. Fallback: no host → local, recorded as host 0; an explicit localhost
// host records its own id; fallback off refuses; a broken database still plays.
func TestFallback(t *testing.T) {
	e := newEnv(t, nil, nil)
	marker := "testsrc=rate=5:duration=53.3"
	c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
	c.StdinPipe()
	c.Start()
	waitFor(5*time.Second, func() bool { return len(e.status().Fallback) == 1 })
	if s := e.status(); len(s.Fallback) != 1 {
		t.Errorf("fallback job not recorded as host 0: %+v\n%s", s, e.logText())
	}
	text := e.mustCLI("status")
	if !strings.Contains(text, "localhost (fallback)") {
		t.Errorf("status lacks the fallback row:\n%s", text)
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()

	l := newEnv(t, nil, nil)
	l.mustCLI("add", "localhost")
	c = l.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc=rate=5:duration=54.3", "-f", "null", "-")
	c.StdinPipe()
	c.Start()
	waitFor(5*time.Second, func() bool { return len(l.status().Hosts[0].Processes) == 1 })
	if s := l.status(); len(s.Hosts[0].Processes) != 1 || len(s.Fallback) != 0 {
		t.Errorf("localhost job not recorded under its host: %+v", s)
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()

	off := newEnv(t, needRig(t), map[string]string{"commands": "    fallback: false\n"})
	off.mustCLI("add", "--no-check", "127.0.0.9")
	res := off.run("ffmpeg", nil, "-version")
	if res.code == 0 || !strings.Contains(string(res.stderr), "fallback is off") || len(res.stdout) != 0 {
		t.Errorf("fallback off: exit %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}

	broken := newEnv(t, nil, nil)
	os.WriteFile(filepath.Join(broken.dir, "state", "rffmpeg.db"), []byte("garbage garbage garbage"), 0o644)
	res = broken.run("ffmpeg", nil, "-version")
	if res.code != 0 || !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) || len(res.stderr) != 0 {
		t.Errorf("broken database: exit %d stdout %.40q stderr %q", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(broken.logText(), "ERROR - Cannot open the state database, running locally") {
		t.Errorf("broken database not logged loudly:\n%s", broken.logText())
	}
}

// 10. Host keys are recorded on first use and a changed key is refused.
func TestHostKeyTOFU(t *testing.T) {
	r, e := twoHosts(t, nil)
	e.run("ffmpeg", nil, "-version")
	kh := filepath.Join(e.dir, "state", "known_hosts")
	if out, err := exec.Command("ssh-keygen", "-F", fmt.Sprintf("[127.0.0.2]:%d", r.port), "-f", kh).Output(); err != nil || len(out) == 0 {
		t.Fatalf("known_hosts lacks the host: %v %q", err, out)
	}
	// Replace the recorded key with another: the host now looks changed.
	other, _ := os.ReadFile(filepath.Join(r.dir, "otherhost.pub"))
	fields := strings.Fields(string(other))
	os.WriteFile(filepath.Join(e.dir, "state", "known_hosts"), []byte(fmt.Sprintf("[127.0.0.2]:%d %s %s\n[127.0.0.3]:%d %s %s\n", r.port, fields[0], fields[1], r.port, fields[0], fields[1])), 0o644)
	// A changed key shows on a new connection: end the master (as a
	// reinstalled host's reboot would) and force a check.
	for _, m := range masters(e.dir) {
		exec.Command("ssh", "-o", "ControlPath="+m, "-O", "exit", "x").Run()
	}
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, bytes.Replace(cfg, []byte("  remote:\n"), []byte("  remote:\n    check_interval: 0\n"), 1), 0o644)
	out := e.run("ffmpeg", nil, "-version")
	if out.code != 0 {
		t.Fatalf("exit %d", out.code)
	}
	s := e.status()
	for _, h := range s.Hosts {
		if h.State != "bad" || !strings.Contains(h.Bad.Reason, "host key") || h.Bad.Class != "hostkey" {
			t.Errorf("host with a changed key: %+v", h)
		}
	}
}

// HLS: a real segmented transcode through the shim completes.
func TestHLSTranscode(t *testing.T) {
	_, e := twoHosts(t, nil)
	m := media(t, e.dir, 6)
	out := filepath.Join(e.dir, "hls")
	os.Mkdir(out, 0o777)
	os.Chmod(out, 0o777)
	res := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", m, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(out, "seg%03d.ts"), filepath.Join(out, "index.m3u8"))
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	pl, err := os.ReadFile(filepath.Join(out, "index.m3u8"))
	segs, _ := filepath.Glob(filepath.Join(out, "seg*.ts"))
	if err != nil || !bytes.Contains(pl, []byte("#EXT-X-ENDLIST")) || len(segs) < 3 {
		t.Errorf("playlist %q, %d segments", pl, len(segs))
	}
}

// warmBoth makes both hosts pass their check, as on a running system.
func warmBoth(t *testing.T, e *env) {
	t.Helper()
	hold := e.cmd("rffmpeg", "run", "sleep", "2")
	hold.Start()
	waitFor(5*time.Second, func() bool { return len(e.status().Hosts[0].Processes) == 1 })
	e.run("ffprobe", nil, "-version")
	hold.Wait()
	if n := strings.Count(e.logText(), "Check passed for"); n != 2 {
		t.Fatalf("%d hosts warmed, want 2:\n%s", n, e.logText())
	}
}

// A library scan: 200 ffprobe calls at once, none may fail.
func TestLibraryScan200(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	r, e := twoHosts(t, nil)
	m := media(t, e.dir, 1)
	want, _ := exec.Command(r.ffprobe, "-v", "warning", "-print_format", "json", "-show_format", "-show_streams", m).Output()
	warmBoth(t, e)
	const n = 200
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.run("ffprobe", nil, "-v", "warning", "-print_format", "json", "-show_format", "-show_streams", m)
			var js map[string]any
			if res.code != 0 || !bytes.Equal(res.stdout, want) || json.Unmarshal(res.stdout, &js) != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("exit %d stderr %q", res.code, res.stderr))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d failed; first: %s", len(failures), n, failures[0])
	}
	if s := e.status(); len(s.Hosts[0].Processes)+len(s.Hosts[1].Processes)+len(s.Fallback) != 0 {
		t.Errorf("rows left after the scan")
	}
	if !strings.Contains(e.logText(), "Running command on host '127.0.0.3'") {
		t.Errorf("the scan never used the second host")
	}
	if n := strings.Count(e.logText(), "Marking host"); n != 0 {
		var lines []string
		for _, l := range strings.Split(e.logText(), "\n") {
			if strings.Contains(l, "Marking host") && len(lines) < 5 {
				lines = append(lines, l)
			}
		}
		t.Errorf("%d hosts marked bad during the scan:\n%s", n, strings.Join(lines, "\n"))
	}
	t.Logf("200 ffprobe calls in %v", time.Since(start).Round(time.Millisecond))
}

// Log lines keep the original's wording.
func TestOriginalLogLines(t *testing.T) {
	_, e := twoHosts(t, nil)
	e.run("ffmpeg", nil, "-version")
	for _, want := range []string{
		" - INFO - Starting rffmpeg as ffmpeg with args: -version",
		" - INFO - Running command on host '127.0.0.2' (127.0.0.2)",
		" - INFO - Finished rffmpeg with return code 0",
		" - DEBUG - Chose host '127.0.0.2' (127.0.0.2, id 1): idle",
	} {
		if !strings.Contains(e.logText(), want) {
			t.Errorf("log lacks %q:\n%s", want, e.logText())
		}
	}
}

// A real call through the shim leaves its history row, which the admin's
// `rffmpeg history --json` shows.
func TestHistoryOfRealCalls(t *testing.T) {
	_, e := twoHosts(t, nil)
	e.run("ffmpeg", nil, "-version")
	e.run("ffprobe", nil, "-v", "error", "-i", filepath.Join(e.dir, "missing.mkv"))
	var h struct {
		Jobs []struct {
			Hostname, Class, Outcome string
			ExitCode                 int `json:"exit_code"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(e.mustCLI("history", "--json")), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Jobs) != 2 || h.Jobs[0].Class != "probe" || h.Jobs[0].Outcome != "ffmpeg" || h.Jobs[0].ExitCode != 1 ||
		h.Jobs[1].Class != "capability" || h.Jobs[1].Outcome != "ok" || h.Jobs[1].Hostname != "127.0.0.2" {
		t.Errorf("history %+v, want the probe's failure, then -version's success on 127.0.0.2", h.Jobs)
	}
}

// The shim on PostgreSQL (the original's environment variables): a burst of
// ffprobe calls all succeed, spread over the hosts, and leave no rows.
func TestShimOnPostgres(t *testing.T) {
	admin, ok := statetest.PostgresAdmin()
	if !ok {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_PG") == "1" {
			t.Fatal("no PostgreSQL configured")
		}
		t.Skip("PostgreSQL not configured (RFFMPEG_TEST_PG_HOST)")
	}
	r := needRig(t)
	o := statetest.NewPostgres(t)
	e := newEnv(t, r, nil)
	e.extra = []string{"RFFMPEG_POSTGRES_USER=" + admin.User, "RFFMPEG_POSTGRES_PASS=" + admin.Password,
		"RFFMPEG_POSTGRES_HOST=" + admin.Host, "RFFMPEG_POSTGRES_PORT=" + strconv.Itoa(admin.Port), "RFFMPEG_POSTGRES_DB=" + o.Name}
	e.mustCLI("init", "--no-root", "-y")
	e.mustCLI("add", "127.0.0.2")
	e.mustCLI("add", "127.0.0.3")
	if out := e.mustCLI("status", "--json"); !strings.Contains(out, `"database": "postgresql `) {
		t.Fatalf("not on PostgreSQL: %s", out[:min(len(out), 200)])
	}
	warmBoth(t, e)
	m := media(t, e.dir, 1)
	const n = 40
	probeBurst(t, e, m, n)
	for _, h := range []string{"127.0.0.2", "127.0.0.3"} {
		if !strings.Contains(e.logText(), "Running command on host '"+h+"'") {
			t.Errorf("host %s never used", h)
		}
	}
	// The same through the state helper, which keeps its connection.
	startHelper(t, e)
	served := strings.Count(e.logText(), "Selected through the state helper")
	probeBurst(t, e, m, n)
	if got := strings.Count(e.logText(), "Selected through the state helper") - served; got != n {
		t.Errorf("%d of %d calls selected through the state helper on PostgreSQL", got, n)
	}
}

// probeBurst runs n ffprobe calls at once; each must succeed, and no row
// may be left.
func probeBurst(t *testing.T, e *env, media string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.run("ffprobe", nil, "-v", "warning", "-print_format", "json", "-show_format", media)
			if res.code != 0 || !bytes.Contains(res.stdout, []byte(`"format_name"`)) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of %d ffprobe calls failed on PostgreSQL\n%s", failed, n, e.logText())
	}
	s := e.status()
	if len(s.Hosts[0].Processes)+len(s.Hosts[1].Processes) != 0 {
		t.Errorf("rows left on PostgreSQL")
	}
}

// A call that cannot write its log runs on, and says so where the admin
// looks: status warns, for this user and for the call's user.
func TestUnusableLogWarnsInStatus(t *testing.T) {
	r := needRig(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notadir"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, r, map[string]string{"logging": "logfile: " + filepath.Join(dir, "notadir", "rffmpeg.log")})
	e.mustCLI("add", "127.0.0.2")
	if res := e.run("ffmpeg", nil, "-version"); res.code != 0 || len(res.stderr) != 0 {
		t.Fatalf("exit %d stderr %q: a broken log must not break the call", res.code, res.stderr)
	}
	var s struct{ Warnings []string }
	if err := json.Unmarshal([]byte(e.mustCLI("status", "--json")), &s); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(s.Warnings, "\n")
	for _, want := range []string{"this user's log lines are lost", fmt.Sprintf("a call worked around a problem with its log file (uid %d)", os.Geteuid())} {
		if !strings.Contains(all, want) {
			t.Errorf("status warnings lack %q:\n%s", want, all)
		}
	}
	if res := e.run("rffmpeg", nil, "status"); !strings.Contains(string(res.stderr), "rffmpeg: warning: a call worked around") {
		t.Errorf("text status stderr lacks the warning: %q", res.stderr)
	}
}

// Issue 15 §2: a host added as USER@HOST:PORT is reached with its own user
// and port, whatever remote.user and remote.args say.
func TestHostOwnPortAndUser(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, map[string]string{"remote": fmt.Sprintf("user: nobody\nargs: [\"-i\", \"%s\"]\n", r.key)})
	e.mustCLI("add", fmt.Sprintf("%s@127.0.0.3:%d", testUser, r.port))
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) {
		t.Fatalf("exit %d stderr %q", res.code, res.stderr)
	}
	if !strings.Contains(e.logText(), "Running command on host '127.0.0.3'") || strings.Contains(e.logText(), "Marking host") {
		t.Errorf("the job did not run on the host through its own user and port:\n%s", e.logText())
	}
	if out := e.mustCLI("status"); !strings.Contains(out, fmt.Sprintf("%s@127.0.0.3:%d", testUser, r.port)) {
		t.Errorf("status does not show the destination:\n%s", out)
	}
}

// Issue 15 §2: add checks the host first and refuses one that does not
// answer (a dead address, a host whose ffmpeg is missing), with the reason
// in one line and exit 1, and adds nothing; --no-check adds it anyway.
// (A host whose key is forced to the agent is accepted: TestShimUsesAgent.)
func TestAddRefusesUnreachableHost(t *testing.T) {
	r := needRig(t)
	for _, c := range []struct {
		name, host, commands, reason string
	}{
		{"dead", "127.0.0.9", "", "connection refused"},
		{"no ffmpeg", "127.0.0.2", "    ffmpeg: /nonexistent/ffmpeg\n", "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, r, map[string]string{"commands": c.commands})
			out := e.expect(1, c.reason, "add", c.host)
			if !strings.Contains(out, "not added") || !strings.Contains(out, "--no-check") {
				t.Errorf("refusal does not say the host was not added and how to add it anyway: %q", out)
			}
			if s := e.status(); len(s.Hosts) != 0 {
				t.Fatalf("refused host is in the pool: %+v", s.Hosts)
			}
			if out := e.mustCLI("add", "--no-check", c.host); !strings.Contains(out, "Added host '"+c.host+"'") || strings.Contains(out, "Checked") {
				t.Errorf("--no-check: %q", out)
			}
		})
	}
	e := newEnv(t, r, nil)
	if out := e.mustCLI("add", "127.0.0.2"); !strings.Contains(out, "Checked host '127.0.0.2' (127.0.0.2): ffmpeg version") {
		t.Errorf("a healthy host: %q", out)
	}
}
