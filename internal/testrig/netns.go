package testrig

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// NSHost is a test transcode host in a network namespace: a veth pair to
// this machine and an sshd inside, so the host can be frozen (every process
// in it stopped), cut off (its link down) or made lossy (nftables inside)
// without touching anything else. Needs root and iproute2.
type NSHost struct {
	NS, Veth string
	Addr     string // the host's address (10.77.N.2); this machine is 10.77.N.1
	SSHD     SSHD
	claim    *os.File // holds the number N while the host lives
	frozen   []int
}

// nsLockDir holds one lock file per namespace number. A number is taken by
// flock, which the kernel drops when its process dies: two test processes
// never share a number, and a crashed run's namespace is reclaimed by the
// next process that claims its number.
const nsLockDir = "/run/rffmpeg-testrig"

// nsNext is where this process looks for a free number next: a host made
// after another was destroyed gets a fresh address, so nothing left of the
// old one (a master's connection, a kernel still tearing the old namespace
// down) can meet the new one.
var nsNext atomic.Int64

// claimNumber takes a free namespace number (1..250).
func claimNumber() (int, *os.File, error) {
	if err := os.MkdirAll(nsLockDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("namespace numbers: %w", err)
	}
	start := int(nsNext.Add(1))
	for i := 0; i < 250; i++ {
		n := (start+i-1)%250 + 1
		f, err := os.OpenFile(filepath.Join(nsLockDir, fmt.Sprintf("ns%d.lock", n)), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return 0, nil, fmt.Errorf("namespace numbers: %w", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			nsNext.Store(int64(n))
			return n, f, nil
		}
		f.Close()
	}
	return 0, nil, fmt.Errorf("namespace numbers: all 250 in use")
}

// NewNSHost makes a namespace host whose sshd listens on port with the
// host key and authorized keys of keys, and returns once it logged user in.
// Its sshd's files go to dir. The error says which step failed (where the
// kernel refuses namespaces, the first one).
func NewNSHost(dir string, port int, keys Keys, user string) (*NSHost, error) {
	n, claim, err := claimNumber()
	if err != nil {
		return nil, err
	}
	h := &NSHost{NS: fmt.Sprintf("rffns%d", n), Veth: fmt.Sprintf("rffv%d", n), Addr: fmt.Sprintf("10.77.%d.2", n), claim: claim}
	h.SSHD = SSHD{Name: h.NS, Dir: dir, Port: port, Listen: []string{h.Addr}, HostKey: keys.Host, AuthorizedKeys: keys.AuthorizedKeys}
	h.teardown() // a crashed run's leftovers: the number is ours now
	if err := containNSRange(); err != nil {
		h.Destroy()
		return nil, err
	}
	for _, step := range [][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "link", "add", h.Veth, "type", "veth", "peer", "name", h.Veth + "p"},
		{"ip", "link", "set", h.Veth + "p", "netns", h.NS},
		{"ip", "addr", "add", fmt.Sprintf("10.77.%d.1/24", n), "dev", h.Veth},
		{"ip", "link", "set", h.Veth, "up"},
		{"ip", "netns", "exec", h.NS, "ip", "addr", "add", h.Addr + "/24", "dev", h.Veth + "p"},
		{"ip", "netns", "exec", h.NS, "ip", "link", "set", h.Veth + "p", "up"},
		{"ip", "netns", "exec", h.NS, "ip", "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			h.Destroy()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(step, " "), err, bytes.TrimSpace(out))
		}
	}
	// sshd detaches inside the namespace; Destroy kills everything there.
	if err := h.SSHD.Start("ip", "netns", "exec", h.NS); err != nil {
		h.Destroy()
		return nil, fmt.Errorf("namespace host %s: %w", h.NS, err)
	}
	if err := h.SSHD.Ready(user, keys.Client, ReadyTimeout); err != nil {
		h.Destroy()
		return nil, fmt.Errorf("namespace host %s: %w", h.NS, err)
	}
	return h, nil
}

// nsRange is the addresses of namespace hosts.
const nsRange = "10.77.0.0/16"

// containNSRange keeps test traffic on this machine. While a host's link is
// up its /24 routes packets into its namespace; when a test cuts the link
// (a partition) that route goes, and the packets would follow the default
// route off the machine. An nftables rule drops every packet to the range
// that is not leaving through one of the rig's veth devices: silently, as
// a pulled cable does, so a connect waits for its timeout.
func containNSRange() error {
	for _, step := range [][]string{
		{"nft", "add", "table", "inet", "rffmpeg_testrig"},
		{"nft", "add", "chain", "inet", "rffmpeg_testrig", "out", "{ type filter hook output priority 0 ; }"},
		{"nft", "flush", "chain", "inet", "rffmpeg_testrig", "out"},
		{"nft", "add", "rule", "inet", "rffmpeg_testrig", "out", "ip", "daddr", nsRange, "oifname", "!=", "rffv*", "drop"},
	} {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("contain %s: %s: %v: %s", nsRange, strings.Join(step, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// PIDs lists every process in the namespace (its sshd, sessions and jobs).
func (h *NSHost) PIDs() []int {
	out, _ := exec.Command("ip", "netns", "pids", h.NS).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// Freeze stops every process of the host, as a hung machine, and returns
// once they are all stopped (SIGSTOP takes effect asynchronously). A
// process forked while the list was read is caught by reading it again.
func (h *NSHost) Freeze() {
	seen := map[int]bool{}
	for _, p := range h.frozen {
		seen[p] = true
	}
	for round := 0; round < 10; round++ {
		added := false
		for _, p := range h.PIDs() {
			if !seen[p] {
				seen[p], added = true, true
				syscall.Kill(p, syscall.SIGSTOP)
				h.frozen = append(h.frozen, p)
			}
		}
		if !added {
			break
		}
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		running := false
		for _, p := range h.frozen {
			st := ProcState(p)
			running = running || (st != 0 && st != 'T' && st != 't' && st != 'Z' && st != 'X')
		}
		if !running {
			return
		}
	}
}

// ProcState is a process's state letter from /proc (R, S, T...), 0 if it
// is gone.
func ProcState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2]
	}
	return 0
}

// Thaw resumes what Freeze stopped.
func (h *NSHost) Thaw() {
	for _, p := range h.frozen {
		syscall.Kill(p, syscall.SIGCONT)
	}
	h.frozen = nil
}

// Link brings the host's cable up or down.
func (h *NSHost) Link(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "link", "set", h.Veth, state)
}

// Exec runs a command inside the namespace (e.g. nft).
func (h *NSHost) Exec(args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...).CombinedOutput()
}

// Destroy kills everything in the namespace, removes it and gives its
// number back. Calling it again does nothing.
func (h *NSHost) Destroy() {
	if h.claim == nil {
		return
	}
	h.teardown()
	h.claim.Close()
	h.claim = nil
}

func (h *NSHost) teardown() {
	h.Thaw()
	for _, p := range h.PIDs() {
		syscall.Kill(p, syscall.SIGCONT)
		syscall.Kill(p, syscall.SIGKILL)
	}
	exec.Command("ip", "netns", "del", h.NS).Run()
	exec.Command("ip", "link", "del", h.Veth).Run()
}
