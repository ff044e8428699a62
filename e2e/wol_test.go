package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// A host that sleeps (issue 13 §5): a namespace host whose sshd is down
// and starts only when a real magic packet reaches a UDP listener in its
// namespace (testrig's wolwait). A job finds it down, wakes it, waits for
// its SSH to answer and runs there.
func TestWakeOnLAN(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	bin, err := testrig.BuildWoLWait(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const port = 40009 // a unicast address and port, as for a host behind NAT
	mac := "02:00:00:00:77:01"
	if err := h.Sleep(bin, mac, port); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, r, map[string]string{"commands": "fallback: false\n"})
	withScheduling(t, e, "queue_timeout: 30")
	e.mustCLI("add", "--no-check", "-n", "sleeper", h.Addr)
	e.mustCLI("set", "sleeper", "wol="+mac, fmt.Sprintf("wol_addr=%s:%d", h.Addr, port))
	in := media(t, e.dir, 1)
	out := filepath.Join(e.dir, "woken.mkv")

	res := runBounded(t, e, 60*time.Second, "-nostdin", "-y", "-loglevel", "error", "-i", in, "-t", "0.5", "-c:v", "mpeg4", "-an", out)
	log := e.logText()
	wol, _ := os.ReadFile(h.WoLLog())
	if res.code != 0 {
		t.Fatalf("exit %d: %s\nlog:\n%s\nwolwait:\n%s", res.code, res.stderr, log, wol)
	}
	for _, want := range []string{
		"Marking host " + h.Addr + " (sleeper) as bad", // found asleep by its check
		"Waking host '" + h.Addr + "' (sleeper, id 1): Wake-on-LAN to " + h.Addr + ":40009",
		"Woke host '" + h.Addr + "' (sleeper, id 1): it answered after",
		"Running command on host '" + h.Addr + "' (sleeper)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if !strings.Contains(string(wol), "magic packet from 10.") || !strings.Contains(string(wol), "woke") {
		t.Errorf("wolwait:\n%s", wol)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no output from the woken host: %v", err)
	}
	if res.took > 30*time.Second {
		t.Errorf("took %v: the wait is bounded by queue_timeout (30s)", res.took)
	}
	if s := e.status(); len(s.Hosts) != 1 || s.Hosts[0].State != "idle" {
		t.Errorf("after the job the woken host is %+v, want idle", s.Hosts)
	}
}

// A sleeping host that never wakes (its listener wants another MAC): the
// job waits at most queue_timeout, the host is marked "did not wake", and
// the job falls back; the on_demand hook (a real script) hears of it.
func TestWakeFailsFallsBack(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	bin, err := testrig.BuildWoLWait(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const port = 40009
	if err := h.Sleep(bin, "02:00:00:00:77:99", port); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, r, nil)
	need := filepath.Join(e.dir, "need.json")
	hook := filepath.Join(e.dir, "on-demand")
	os.WriteFile(hook, []byte("#!/bin/sh\ncat > "+need+"\necho asked the cloud\n"), 0o755)
	withScheduling(t, e, "queue_timeout: 3\non_demand: "+hook)
	e.mustCLI("add", "--no-check", "-n", "sleeper", h.Addr)
	e.mustCLI("set", "sleeper", "wol=02:00:00:00:77:01", fmt.Sprintf("wol_addr=%s:%d", h.Addr, port))

	res := runBounded(t, e, 60*time.Second, "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc=d=0.2", "-c:v", "mpeg4", filepath.Join(e.dir, "fb.mkv"))
	log := e.logText()
	if res.code != 0 || !strings.Contains(log, "as bad: did not wake: no SSH answer within 3s") ||
		!strings.Contains(log, "Running command on host 'localhost' (localhost)") {
		t.Fatalf("exit %d %s\n%s", res.code, res.stderr, log)
	}
	if res.took > 20*time.Second {
		t.Errorf("took %v with queue_timeout 3s", res.took)
	}
	if wol, _ := os.ReadFile(h.WoLLog()); !strings.Contains(string(wol), "ignored 102 bytes") {
		t.Errorf("the listener saw no packet for another MAC:\n%s", wol)
	}
	b, err := os.ReadFile(need)
	if err != nil {
		t.Fatalf("on_demand hook did not run: %v\n%s", err, log)
	}
	var got struct {
		Reason string `json:"reason"`
		Class  string `json:"class"`
		Pool   struct {
			Hosts, Bad int
		} `json:"pool"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Class != "transcode" || got.Pool.Hosts != 1 || got.Pool.Bad != 1 {
		t.Errorf("hook got %s (%v)", b, err)
	}
	if !strings.Contains(log, "asked the cloud") {
		t.Errorf("the hook's output is not in the log:\n%s", log)
	}
}

// runBounded runs the ffmpeg shim, failing the test (with the log) rather
// than hanging past limit.
func runBounded(t *testing.T, e *env, limit time.Duration, args ...string) result {
	t.Helper()
	done := make(chan result, 1)
	c := e.cmd("ffmpeg", args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.WaitDelay = limit
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Wait()
		done <- result{out.Bytes(), errb.Bytes(), exitStatus(c.ProcessState), time.Since(start)}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		c.Process.Kill()
		ps, _ := exec.Command("ps", "-eo", "pid,ppid,cmd").Output()
		t.Fatalf("the call did not end within %v\nlog:\n%s\nprocesses:\n%s", limit, e.logText(), ps)
	}
	return result{}
}
