package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsHost is a transcode host in its own network namespace: a veth pair to
// this machine (10.77.N.1 here, 10.77.N.2 there) and its own sshd, so it can
// be frozen (every process stopped), cut off (link down) or made lossy
// (an nftables rule inside) without touching anything else.
type nsHost struct {
	t          *testing.T
	ns, veth   string
	addr       string
	sshd       *exec.Cmd
	frozenPIDs []int
}

var nsSeq int

func newNSHost(t *testing.T, r *rig) *nsHost {
	t.Helper()
	nsSeq++
	n := nsSeq + 10*(os.Getpid()%20)
	h := &nsHost{t: t, ns: fmt.Sprintf("rffns%d", n), veth: fmt.Sprintf("rffv%d", n), addr: fmt.Sprintf("10.77.%d.2", n)}
	steps := [][]string{
		{"ip", "netns", "add", h.ns},
		{"ip", "link", "add", h.veth, "type", "veth", "peer", "name", h.veth + "p"},
		{"ip", "link", "set", h.veth + "p", "netns", h.ns},
		{"ip", "addr", "add", fmt.Sprintf("10.77.%d.1/24", n), "dev", h.veth},
		{"ip", "link", "set", h.veth, "up"},
		{"ip", "netns", "exec", h.ns, "ip", "addr", "add", h.addr + "/24", "dev", h.veth + "p"},
		{"ip", "netns", "exec", h.ns, "ip", "link", "set", h.veth + "p", "up"},
		{"ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up"},
	}
	t.Cleanup(h.destroy)
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			if os.Getenv("RFFMPEG_TEST_REQUIRE_NETNS") == "1" {
				t.Fatalf("%v: %v %s", s, err, out)
			}
			t.Skipf("network namespaces unavailable here (%v: %s): skipping the partition and freeze tests", s, bytes.TrimSpace(out))
		}
	}
	cfg := filepath.Join(r.dir, h.ns+"_sshd_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s/host
PidFile %s/%s.pid
AuthorizedKeysFile %s/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
MaxStartups 100
MaxSessions 100
LogLevel ERROR
`, r.port, h.addr, r.dir, r.dir, h.ns, r.dir)), 0o644)
	h.sshd = exec.Command("ip", "netns", "exec", h.ns, "/usr/sbin/sshd", "-D", "-f", cfg, "-E", filepath.Join(r.dir, h.ns+".log"))
	if err := h.sshd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool {
		return exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", h.addr, r.port)).Run() == nil
	}) {
		t.Fatal("namespace sshd did not start")
	}
	return h
}

// pids lists every process in the namespace (its sshd, sessions and jobs).
func (h *nsHost) pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", h.ns).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// freeze stops the whole host, as a hung machine.
func (h *nsHost) freeze() {
	h.frozenPIDs = h.pids()
	for _, p := range h.frozenPIDs {
		syscall.Kill(p, syscall.SIGSTOP)
	}
}

func (h *nsHost) thaw() {
	for _, p := range h.frozenPIDs {
		syscall.Kill(p, syscall.SIGCONT)
	}
	h.frozenPIDs = nil
}

func (h *nsHost) link(up bool) {
	state := "down"
	if up {
		state = "up"
	}
	exec.Command("ip", "link", "set", h.veth, state).Run()
}

func (h *nsHost) destroy() {
	h.thaw()
	for _, p := range h.pids() {
		syscall.Kill(p, syscall.SIGKILL)
	}
	if h.sshd != nil && h.sshd.Process != nil {
		h.sshd.Process.Kill()
		h.sshd.Wait()
	}
	exec.Command("ip", "netns", "del", h.ns).Run()
	exec.Command("ip", "link", "del", h.veth).Run()
}

// resilienceEnv is an installation whose only host is h (so a call must
// deal with it), with short bad marks.
func resilienceEnv(t *testing.T, r *rig, h *nsHost) *env {
	e := newEnv(t, r, map[string]string{"remote": "bad_mark_ttl: 4\n"})
	e.mustCLI("add", "-n", "nshost", h.addr)
	if res := e.run("ffmpeg", nil, "-version"); res.code != 0 || !strings.Contains(e.logText(), "Running command on host '"+h.addr+"'") {
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
	h.freeze()
	frozenAt := time.Now()

	// 1. A new call is not held hostage: it gives up on the host within 3 s
	// and answers from the fallback.
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || !bytes.HasPrefix(res.stdout, []byte("ffmpeg version")) {
		t.Errorf("new call: exit %d, stdout %.30q", res.code, res.stdout)
	}
	if res.took > 3500*time.Millisecond {
		t.Errorf("new call took %v with a frozen host", res.took)
	}
	t.Logf("new call with the host frozen: %v", res.took.Round(time.Millisecond))
	if s := e.status(); s.Hosts[0].State != "bad" || !strings.Contains(s.Hosts[0].Bad.Reason, "host frozen or unreachable") {
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
	h.thaw()
	if !waitFor(8*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("orphaned remote ffmpeg still running 8 s after the thaw")
	}

	// 4. After the mark expires the host is used again over a fresh
	// connection, without waiting on the old one.
	time.Sleep(4 * time.Second)
	before := strings.Count(e.logText(), "Running command on host '"+h.addr+"'")
	res = e.run("ffmpeg", nil, "-version")
	after := strings.Count(e.logText(), "Running command on host '"+h.addr+"'")
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
	h.freeze()
	defer h.thaw()
	code, after, ok := waitExit(job, 12*time.Second)
	if !ok || code == 0 || after > 10*time.Second {
		t.Errorf("job on a frozen host: ended=%v exit %d after %v", ok, code, after)
	}
	t.Logf("keepalive ended the job %v after the freeze (exit %d)", after.Round(time.Millisecond), code)
	if s := e.status(); s.Hosts[0].State != "bad" || !strings.Contains(s.Hosts[0].Bad.Reason, "connection lost") {
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
	h.link(false)
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
	h.link(true)
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
		if out, err := exec.Command("ip", append([]string{"netns", "exec", h.ns, "nft"}, rule...)...).CombinedOutput(); err != nil {
			t.Skipf("nftables unavailable: %v %s", err, out)
		}
	}
	// A real-time job: 3 s of progress lines and heartbeats over the link.
	res := e.run("ffmpeg", nil, "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=duration=3", "-f", "null", "-")
	if res.code != 0 || !bytes.Contains(res.stderr, []byte("time=00:00:0")) {
		t.Errorf("job over a 20%% lossy link: exit %d %s\n%s", res.code, res.stderr, e.logText())
	}
	if !strings.Contains(e.logText(), "Running command on host '"+h.addr+"'") {
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
	socks, _ := filepath.Glob(filepath.Join(e.dir, "ssh-*"))
	if len(socks) != 1 {
		t.Fatalf("master sockets: %v", socks)
	}
	exec.Command("pkill", "-KILL", "-f", "ssh: "+socks[0]).Run()
	res := e.run("ffmpeg", nil, "-version")
	if res.code != 0 || res.took > 1500*time.Millisecond || strings.Contains(e.logText(), "Marking host") {
		t.Errorf("after the master was killed: exit %d, took %v\n%s", res.code, res.took, e.logText())
	}
}
