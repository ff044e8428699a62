package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/shim"
)

// startHelper runs `rffmpeg serve` for e until the test ends (or stop);
// it returns once the helper listens.
func startHelper(t *testing.T, e *env) (stop func() (int, string)) {
	t.Helper()
	c := e.cmd("rffmpeg", "serve")
	errs, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	said := make(chan string, 1)
	var rest bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(errs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving the state database") {
				said <- sc.Text()
			}
			rest.WriteString(sc.Text() + "\n")
		}
	}()
	select {
	case <-said:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-copied
		c.Wait()
		t.Fatalf("rffmpeg serve did not start: %s", rest.String())
	}
	stopped := false
	stop = func() (int, string) {
		if !stopped {
			stopped = true
			c.Process.Signal(syscall.SIGTERM)
			<-copied
			c.Wait()
		}
		return exitStatus(c.ProcessState), rest.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// The state helper on the real rig: calls select and release through it
// with every byte and exit code as without it, a SIGKILLed call leaves no
// remote job behind, and once the helper stops (or runs another
// configuration) calls work on their own.
func TestStateHelper(t *testing.T) {
	_, e := twoHosts(t, nil)
	e.run("ffmpeg", nil, "-version") // checks a host and starts its master
	if r := e.run("rffmpeg", nil, "serve", "--check"); r.code != 3 || !strings.Contains(string(r.stdout), "not running") {
		t.Errorf("serve --check without a helper: exit %d, %s", r.code, r.stdout)
	}
	stop := startHelper(t, e)
	if r := e.run("rffmpeg", nil, "serve", "--check"); r.code != 0 || !strings.Contains(string(r.stdout), "serving this account's calls") {
		t.Errorf("serve --check with a helper: exit %d, %s", r.code, r.stdout)
	}
	served := func() int { return strings.Count(e.logText(), "Selected through the state helper") }

	raw := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.3:size=64x48", "-f", "rawvideo", "-"}
	got := e.run("ffmpeg", nil, raw...)
	want, err := exec.Command("/usr/bin/ffmpeg", raw...).Output()
	if err != nil || got.code != 0 || !bytes.Equal(got.stdout, want) {
		t.Errorf("raw video through the helper: exit %d, %d bytes, want %d bytes (%v)", got.code, len(got.stdout), len(want), err)
	}
	if bad := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-i", "/nonexistent/input.mkv"); bad.code != 1 {
		t.Errorf("missing input: exit %d, want ffmpeg's 1", bad.code)
	}
	if n := served(); n != 2 {
		t.Fatalf("%d calls selected through the helper, want 2:\n%s", n, e.logText())
	}
	if h := e.history(); len(h.Jobs) != 3 || h.Jobs[0].ExitCode != 1 || h.Jobs[1].ExitCode != 0 {
		t.Errorf("history: %+v", h.Jobs)
	}

	// SIGKILL of a call mid-job: the remote job ends as without the helper,
	// and its rows are the dead call's, reaped as ever.
	marker := "testsrc=rate=5:duration=51.3"
	c, _ := remoteJob(t, e, marker)
	time.Sleep(300 * time.Millisecond)
	c.Process.Kill()
	c.Wait()
	if !waitFor(2*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg still running 2 s after the call was killed")
	}
	if n := served(); n != 3 {
		t.Errorf("%d calls selected through the helper, want 3", n)
	}
	if r := e.run("ffmpeg", nil, "-version"); r.code != 0 || len(e.status().Hosts) != 2 {
		t.Errorf("a call after the killed one: exit %d", r.code)
	}
	for _, h := range e.status().Hosts {
		if len(h.Processes) != 0 {
			t.Errorf("host %s keeps the killed call's rows: %+v", h.Hostname, h.Processes)
		}
	}

	// Stopped: the socket goes, calls work on their own.
	code, said := stop()
	sock := filepath.Join(e.dir, "rffmpeg-"+strconv.Itoa(os.Geteuid()), shim.KeeperSocket)
	if _, err := os.Lstat(sock); code != 0 || !os.IsNotExist(err) {
		t.Errorf("helper exit %d, socket %v (%s)", code, err, said)
	}
	before := served()
	if r := e.run("ffmpeg", nil, "-version"); r.code != 0 || served() != before {
		t.Errorf("a call with the helper gone: exit %d, %d selections through it", r.code, served()-before)
	}
	if !strings.Contains(e.logText(), "Stopped serving the state database") {
		t.Errorf("the helper's stop is not in the log")
	}

	// A helper of another configuration is not used (and says why).
	startHelper(t, e)
	conf, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, append(conf, []byte("# edited\n")...), 0o644)
	before = served()
	if r := e.run("ffmpeg", nil, "-version"); r.code != 0 || served() != before {
		t.Errorf("a call of another configuration: exit %d, %d selections through the helper", r.code, served()-before)
	}
	if log := e.logText(); !strings.Contains(log, "restart 'rffmpeg serve' after an upgrade or a configuration change") {
		t.Errorf("the refusal is not in the log:\n%s", log)
	}
	if r := e.run("rffmpeg", nil, "serve", "--check"); r.code != 1 || !strings.Contains(string(r.stdout), "does not serve this account's calls") {
		t.Errorf("serve --check with a helper of another configuration: exit %d, %s", r.code, r.stdout)
	}
}
