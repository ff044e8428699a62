package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// newNSHost makes a namespace host sharing the rig's keys and port, or skips
// the test (with the reason) where the kernel refuses namespaces.
func newNSHost(t *testing.T, r *rig) *testrig.NSHost {
	t.Helper()
	h, err := testrig.NewNSHost(r.dir, r.port, r.hosts.Keys, testUser)
	if err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_NETNS") == "1" {
			t.Fatal(err)
		}
		t.Skipf("network namespaces unavailable here (%v): skipping the partition and freeze tests", err)
	}
	t.Cleanup(h.Destroy)
	return h
}

// resilienceEnv is an installation whose only host is h (so a call must
// deal with it), with short bad marks.
func resilienceEnv(t *testing.T, r *rig, h *testrig.NSHost) *env {
	e := newEnv(t, r, map[string]string{"remote": "bad_mark_ttl: 4\n"})
	e.mustCLI("add", "-n", "nshost", h.Addr)
	if res := e.run("ffmpeg", nil, "-version"); res.code != 0 || !strings.Contains(e.logText(), "Running command on host '"+h.Addr+"'") {
		t.Fatalf("warm-up did not run on the namespace host: exit %d\n%s", res.code, e.logText())
	}
	return e
}

// startJob starts a long real-time job and waits for its remote ffmpeg.
func startJob(t *testing.T, e *env, marker string) *exec.Cmd {
	t.Helper()
	c := e.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
	c.StdinPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) == 1 }) {
		t.Fatalf("remote job never started")
	}
	return c
}

// waitExit waits for a started command and reports its exit and when.
func waitExit(c *exec.Cmd, limit time.Duration) (code int, after time.Duration, ok bool) {
	start := time.Now()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
		return exitStatus(c.ProcessState), time.Since(start), true
	case <-time.After(limit):
		return 0, limit, false
	}
}

// The host freezes with its master connection up and a job running.
func TestFrozenHost(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	e := resilienceEnv(t, r, h)
	marker := "testsrc=rate=5:duration=61.7"
	job := startJob(t, e, marker)
	h.Freeze()
	frozenAt := time.Now()

	// 1. A new call is not held hostage: it gives up on the host within 3 s
	// and answers from the fallback. What the frozen host costs is the time
	// from the call's start to its fallback starting (read from its own log
	// lines); the local ffmpeg's own start-up, which a loaded machine can
	// stretch past a second, is not the host's doing and is bounded apart.
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) {
		t.Errorf("new call: exit %d, stdout %.30q", res.code, res.stdout)
	}
	cost, err := fallbackDelay(e.logText())
	if err != nil || cost > 3*time.Second || res.took > 6*time.Second {
		t.Errorf("new call with a frozen host: fallback started after %v (%v), whole call %v", cost, err, res.took)
	}
	t.Logf("new call with the host frozen: fallback after %v, whole call %v", cost.Round(time.Millisecond), res.took.Round(time.Millisecond))
	if s := e.status(); s.Hosts[0].State != "bad" || !strings.Contains(s.Hosts[0].Bad.Reason, "host frozen or unreachable") || (s.Hosts[0].Bad.Class != "timeout" && s.Hosts[0].Bad.Class != "lost") {
		t.Errorf("frozen host status: %+v %+v", s.Hosts[0], s.Hosts[0].Bad)
	}

	// 2. The running job ends within 10 s of the freeze, non-zero.
	code, _, ok := waitExit(job, 12*time.Second)
	if !ok {
		t.Fatalf("running job still waiting 12 s after the freeze")
	}
	ended := time.Since(frozenAt)
	if code == 0 || ended > 10*time.Second {
		t.Errorf("running job ended %v after the freeze with exit %d", ended, code)
	}
	t.Logf("running job ended %v after the freeze (exit %d)", ended.Round(time.Millisecond), code)
	if s := e.status(); len(s.Hosts[0].Processes) != 0 {
		t.Errorf("rows left: %+v", s.Hosts[0].Processes)
	}

	// 3. Thawed, the host stops the orphaned ffmpeg by itself.
	h.Thaw()
	if !waitFor(8*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("orphaned remote ffmpeg still running 8 s after the thaw")
	}

	// 4. After the mark expires the host is used again over a fresh
	// connection, without waiting on the old one.
	time.Sleep(4 * time.Second)
	before := strings.Count(e.logText(), "Running command on host '"+h.Addr+"'")
	res = e.run("ffmpeg", nil, "-version")
	after := strings.Count(e.logText(), "Running command on host '"+h.Addr+"'")
	if res.code != 0 || after != before+1 || res.took > 2*time.Second {
		t.Errorf("after thaw and expiry: exit %d, used=%v, took %v\n%s", res.code, after == before+1, res.took, e.logText())
	}
}

// With no other call to notice, the master's keepalives alone end a job on
// a frozen host within 10 s, and the host is marked bad.
func TestFrozenHostKeepalive(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	e := resilienceEnv(t, r, h)
	job := startJob(t, e, "testsrc=rate=5:duration=63.7")
	h.Freeze()
	defer h.Thaw()
	code, after, ok := waitExit(job, 12*time.Second)
	if !ok || code == 0 || after > 10*time.Second {
		t.Errorf("job on a frozen host: ended=%v exit %d after %v", ok, code, after)
	}
	t.Logf("keepalive ended the job %v after the freeze (exit %d)", after.Round(time.Millisecond), code)
	if s := e.status(); s.Hosts[0].State != "bad" || !strings.Contains(s.Hosts[0].Bad.Reason, "connection lost") || s.Hosts[0].Bad.Class != "lost" {
		t.Errorf("host after a lost job: %+v %+v", s.Hosts[0], s.Hosts[0].Bad)
	}
}

// The network to the host is cut (the host itself runs on).
func TestPartitionedHost(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	e := resilienceEnv(t, r, h)
	marker := "testsrc=rate=5:duration=62.7"
	job := startJob(t, e, marker)
	h.Link(false)
	cutAt := time.Now()
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || res.took > 3500*time.Millisecond {
		t.Errorf("new call with the host cut off: exit %d, took %v", res.code, res.took)
	}
	code, _, ok := waitExit(job, 12*time.Second)
	if !ok || code == 0 || time.Since(cutAt) > 10*time.Second {
		t.Errorf("running job: ended=%v exit %d after %v", ok, code, time.Since(cutAt))
	}
	t.Logf("partition: new call %v, running job ended after %v", res.took.Round(time.Millisecond), time.Since(cutAt).Round(time.Millisecond))
	h.Link(true)
	// The host notices its session is gone once it can talk again.
	if !waitFor(20*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg still running 20 s after the link came back")
	}
}

// Heavy but partial loss: jobs still complete, slower.
func TestLossyLink(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	e := resilienceEnv(t, r, h)
	for _, rule := range [][]string{
		{"add", "table", "inet", "loss"},
		{"add", "chain", "inet", "loss", "in", "{", "type", "filter", "hook", "input", "priority", "0", ";", "}"},
		{"add", "rule", "inet", "loss", "in", "numgen", "random", "mod", "100", "<", "20", "drop"},
	} {
		if out, err := h.Exec(append([]string{"nft"}, rule...)...); err != nil {
			t.Skipf("nftables unavailable: %v %s", err, out)
		}
	}
	// A real-time job: 3 s of progress lines and heartbeats over the link.
	res := e.run("ffmpeg", nil, "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=duration=3", "-f", "null", "-")
	if res.code != 0 || !bytes.Contains(res.stderr, []byte("time=00:00:0")) {
		t.Errorf("job over a 20%% lossy link: exit %d %s\n%s", res.code, res.stderr, e.logText())
	}
	if !strings.Contains(e.logText(), "Running command on host '"+h.Addr+"'") {
		t.Errorf("did not run on the lossy host")
	}
	t.Logf("3 s real-time job over a 20%% lossy link took %v", res.took.Round(time.Millisecond))
}

// A master killed outright leaves its socket behind; the next call is not
// slowed by it.
func TestStaleMasterSocket(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	e.mustCLI("add", "127.0.0.2")
	e.run("ffmpeg", nil, "-version")
	socks := masters(e.dir)
	if len(socks) != 1 {
		t.Fatalf("master sockets: %v", socks)
	}
	exec.Command("pkill", "-KILL", "-f", "ssh: "+socks[0]).Run()
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || res.took > 1500*time.Millisecond || strings.Contains(e.logText(), "Marking host") {
		t.Errorf("after the master was killed: exit %d, took %v\n%s", res.code, res.took, e.logText())
	}
}

// fallbackDelay reads, from the last call in an rffmpeg log that ran on the
// local fallback, how long after its start the fallback began: the time
// the call spent on hosts that failed it.
func fallbackDelay(log string) (time.Duration, error) {
	stamp := func(line string) (time.Time, string, bool) {
		ts, rest, ok := strings.Cut(line, " - ")
		if !ok {
			return time.Time{}, "", false
		}
		t, err := time.ParseInLocation("2006-01-02 15:04:05,000", ts, time.Local)
		pid, _, _ := strings.Cut(rest, " - ")
		return t, pid, err == nil
	}
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], "Running command on host 'localhost'") {
			continue
		}
		end, pid, ok := stamp(lines[i])
		for j := i - 1; ok && j >= 0; j-- {
			if start, p, ok := stamp(lines[j]); ok && p == pid && strings.Contains(lines[j], "Starting rffmpeg as") {
				return end.Sub(start), nil
			}
		}
		return 0, fmt.Errorf("no start line for the fallback line %q", lines[i])
	}
	return 0, fmt.Errorf("no call ran on the fallback")
}
