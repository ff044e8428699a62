package testrig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	s := SSHD{Name: "h1", Dir: "/d", Port: 2022, Listen: []string{"127.0.0.2", "127.0.0.3"}, HostKey: "/d/host", AuthorizedKeys: "/d/ak"}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(s.Config()), "\n") {
		got[line]++
	}
	for _, want := range []string{
		"Port 2022", "ListenAddress 127.0.0.2", "ListenAddress 127.0.0.3", "HostKey /d/host",
		"PidFile /d/h1.pid", "AuthorizedKeysFile /d/ak", "UsePAM no", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "StrictModes no", "MaxStartups 1000", "MaxSessions 1000",
	} {
		if got[want] != 1 {
			t.Errorf("config has %q %d times, want once:\n%s", want, got[want], s.Config())
		}
	}
	if got, want := s.LogFile(), "/d/h1.log"; got != want {
		t.Errorf("log file %q, want %q", got, want)
	}
	if got, want := (SSHD{Dir: "/d"}).PIDFile(), "/d/sshd.pid"; got != want {
		t.Errorf("default pid file %q, want %q", got, want)
	}
}

func TestWaitPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := WaitPort("127.0.0.1", port, time.Second); err != nil {
		t.Errorf("listening port: %v", err)
	}
	l.Close()
	start := time.Now()
	err = WaitPort("127.0.0.1", port, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "nothing listens") {
		t.Errorf("closed port: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("closed port took %v to give up, want about 300ms", took)
	}
}

func TestHungNeverSpeaks(t *testing.T) {
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ListenHung("127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); n != 0 || !ok || !ne.Timeout() {
		t.Errorf("read from the hung host: %d bytes, %v; want a timeout", n, err)
	}
	h.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Close: %v, want EOF (connection dropped)", err)
	}
}

func TestPortHolder(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs ss (iproute2) and root to name other processes")
	}
	l, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if got, want := PortHolder("127.0.0.5", port), fmt.Sprintf("pid=%d,", os.Getpid()); !strings.Contains(got, want) {
		t.Errorf("PortHolder = %q, want it to contain %q", got, want)
	}
	if got := PortHolder("127.0.0.6", port); got != "" {
		t.Errorf("PortHolder of a free address = %q, want \"\"", got)
	}
}

// needSSHD skips (or fails, with RFFMPEG_TEST_REQUIRE_SSH=1) where no rig
// can run. The rig's own tests log in as the running user (root), so they
// never race the e2e suite, which kills its test user's processes.
func needSSHD(t *testing.T) string {
	t.Helper()
	if err := Prerequisites(); err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_SSH") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func rigDir(t *testing.T) string {
	d := t.TempDir()
	os.Chmod(d, 0o755)
	return d
}

func TestLoopback(t *testing.T) {
	me := needSSHD(t)
	port, err := FreePort(HostA)
	if err != nil {
		t.Fatal(err)
	}
	l, err := StartLoopback(rigDir(t), port, me)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	pid, err := l.SSHD.PID()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(l.SSHD.ConfigFile())
	if !strings.HasPrefix(string(cfg), l.SSHD.Config()) {
		t.Errorf("config file differs from Config():\n%s", cfg)
	}

	// A remote command is a descendant of this sshd, found by Descendants.
	sleep := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-i", l.Keys.Client, "-p", strconv.Itoa(port),
		me+"@"+HostB, "exec sleep 7.25")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	var found bool
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pids, err := Descendants(pid, me)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			found = found || strings.Contains(string(cmd), "7.25")
		}
	}
	if !found {
		t.Errorf("the remote sleep is not among the sshd's descendants")
	}

	// A second rig on the same port is refused, naming the holder.
	_, err = StartLoopback(rigDir(t), port, me)
	if err == nil || !strings.Contains(err.Error(), "taken by another program") || !strings.Contains(err.Error(), fmt.Sprintf("pid=%d,", pid)) {
		t.Errorf("second rig on port %d: %v", port, err)
	}

	l.Stop()
	if _, err := l.SSHD.PID(); err == nil {
		t.Errorf("sshd still running after Stop")
	}
	if err := WaitPort(HostA, port, 200*time.Millisecond); err == nil {
		t.Errorf("port %d still open after Stop", port)
	}
}

// A port held by something that is not an sshd (here, by half of it): the
// rig says so instead of reporting a host that is not there.
func TestLoopbackPortTaken(t *testing.T) {
	me := needSSHD(t)
	port, err := FreePort(HostB)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ListenHung(HostB, port) // only 127.0.0.3: sshd binds 127.0.0.2 and runs on
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := rigDir(t)
	_, err = StartLoopback(dir, port, me)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.3 is taken by another program") {
		t.Fatalf("rig over a taken port: %v", err)
	}
	// The half-started sshd is gone, and its port free again.
	if err := WaitPort(HostA, port, 200*time.Millisecond); err == nil {
		t.Errorf("an sshd still listens on %s:%d after the failed start", HostA, port)
	}
	if _, err := os.Stat(filepath.Join(dir, "sshd.pid")); err == nil {
		t.Errorf("pid file left behind")
	}
}

func needNetns(t *testing.T) string {
	t.Helper()
	me := needSSHD(t)
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_NETNS") == "1" {
			t.Fatal("ip (iproute2) not installed")
		}
		t.Skip("ip (iproute2) not installed")
	}
	return me
}

func TestNSHost(t *testing.T) {
	me := needNetns(t)
	dir := rigDir(t)
	keys, err := MakeKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewNSHost(dir, 22, keys, me)
	if err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_NETNS") == "1" {
			t.Fatal(err)
		}
		t.Skipf("network namespaces unavailable here: %v", err)
	}
	defer a.Destroy()
	b, err := NewNSHost(dir, 22, keys, me)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	if a.NS == b.NS || a.Addr == b.Addr || a.Veth == b.Veth {
		t.Fatalf("two live hosts share a number: %s %s", a.NS, b.NS)
	}

	a.Freeze()
	pids := a.PIDs()
	if len(pids) == 0 {
		t.Fatal("no process in the namespace")
	}
	for _, p := range pids {
		if got := ProcState(p); got != 'T' {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			t.Errorf("frozen host: pid %d (%s) state %c, want T", p, bytes.TrimSpace(comm), got)
		}
	}
	a.Thaw()
	for _, p := range pids {
		if got := ProcState(p); got == 'T' {
			t.Errorf("thawed host: pid %d still stopped", p)
		}
	}

	if err := b.Link(false); err != nil {
		t.Fatal(err)
	}
	// Not a dial: with the link down, a machine whose default gateway
	// answers every SYN (some sandboxes) would still "reach" the address.
	if got := linkFlags(t, b.Veth); strings.Contains(got, ",UP") || strings.Contains(got, "<UP") {
		t.Errorf("link down: flags %s", got)
	}
	// Packets to the cut-off host stay on this machine: dropped here, as
	// by a pulled cable, never sent along the default route (where some
	// sandboxes' gateway answers every SYN).
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(b.Addr, "22"), 1500*time.Millisecond); err == nil {
		c.Close()
		t.Errorf("connected to %s with its link down", b.Addr)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("dial a cut-off host: %v, want a timeout (packets silently dropped)", err)
	}
	b.Link(true)
	if err := WaitPort(b.Addr, 22, 5*time.Second); err != nil {
		t.Errorf("link back up: %v", err)
	}

	// Destroyed, the namespace is gone (its number is free again: the
	// next host may take it, here or in another test process).
	ns := a.NS
	a.Destroy()
	a.Destroy() // twice is harmless
	if out, _ := exec.Command("ip", "netns", "list").Output(); nsListed(string(out), ns) {
		t.Errorf("%s still exists after Destroy", ns)
	}
	// The next host gets a fresh address, not the one just destroyed.
	c, err := NewNSHost(dir, 22, keys, me)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if c.NS == ns || c.NS == b.NS {
		t.Errorf("new host got %s, want neither the destroyed %s nor the live %s", c.NS, ns, b.NS)
	}
}

func linkFlags(t *testing.T, dev string) string {
	out, err := exec.Command("ip", "-o", "link", "show", "dev", dev).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("ip link show %s: %q", dev, out)
	}
	return f[2]
}

func nsListed(list, ns string) bool {
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == ns {
			return true
		}
	}
	return false
}
