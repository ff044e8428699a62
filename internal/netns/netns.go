// Package netns makes test transcode hosts in network namespaces: a veth
// pair to this machine and an sshd inside, so a host can be frozen (every
// process in it stopped), cut off (its link down) or made lossy (nftables
// inside) without touching anything else. Used by the end-to-end tests and
// the benchmark; needs root and iproute2.
package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Host is one namespace with its sshd.
type Host struct {
	NS, Veth string
	Addr     string // the host's address (10.77.N.2); this machine is 10.77.N.1
	frozen   []int
}

// SSHD says how the host's sshd is set up (keys shared with the caller's rig).
type SSHD struct {
	Port           int
	HostKey        string // private host key file
	AuthorizedKeys string
	Dir            string // for its config, pid file and log
}

// New makes namespace number n (1..250) and starts its sshd. The error says
// which step failed (where the kernel refuses namespaces, the first one).
func New(n int, s SSHD) (*Host, error) {
	h := &Host{NS: fmt.Sprintf("rffns%d", n), Veth: fmt.Sprintf("rffv%d", n), Addr: fmt.Sprintf("10.77.%d.2", n)}
	h.Destroy() // leftovers of an earlier run
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
	cfg := filepath.Join(s.Dir, h.NS+"_sshd_config")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("Port %d\nListenAddress %s\nHostKey %s\nPidFile %s\n"+
		"AuthorizedKeysFile %s\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"+
		"StrictModes no\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n",
		s.Port, h.Addr, s.HostKey, filepath.Join(s.Dir, h.NS+".pid"), s.AuthorizedKeys)), 0o644); err != nil {
		h.Destroy()
		return nil, err
	}
	// sshd daemonizes inside the namespace; Destroy kills everything there.
	if out, err := exec.Command("ip", "netns", "exec", h.NS, "/usr/sbin/sshd", "-f", cfg, "-E", filepath.Join(s.Dir, h.NS+".log")).CombinedOutput(); err != nil {
		h.Destroy()
		return nil, fmt.Errorf("sshd in %s: %v: %s", h.NS, err, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", h.Addr, s.Port)).Run() == nil {
			return h, nil
		}
		if time.Now().After(deadline) {
			h.Destroy()
			return nil, fmt.Errorf("sshd in %s did not start", h.NS)
		}
	}
}

// PIDs lists every process in the namespace (its sshd, sessions and jobs).
func (h *Host) PIDs() []int {
	out, _ := exec.Command("ip", "netns", "pids", h.NS).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// Freeze stops every process of the host, as a hung machine.
func (h *Host) Freeze() {
	h.frozen = h.PIDs()
	for _, p := range h.frozen {
		syscall.Kill(p, syscall.SIGSTOP)
	}
}

// Thaw resumes what Freeze stopped.
func (h *Host) Thaw() {
	for _, p := range h.frozen {
		syscall.Kill(p, syscall.SIGCONT)
	}
	h.frozen = nil
}

// Link brings the host's cable up or down.
func (h *Host) Link(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return exec.Command("ip", "link", "set", h.Veth, state).Run()
}

// Exec runs a command inside the namespace (e.g. nft).
func (h *Host) Exec(args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...).CombinedOutput()
}

// Destroy kills everything in the namespace and removes it.
func (h *Host) Destroy() {
	h.Thaw()
	for _, p := range h.PIDs() {
		syscall.Kill(p, syscall.SIGCONT)
		syscall.Kill(p, syscall.SIGKILL)
	}
	exec.Command("ip", "netns", "del", h.NS).Run()
	exec.Command("ip", "link", "del", h.Veth).Run()
}
