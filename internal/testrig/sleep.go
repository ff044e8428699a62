package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BuildWoLWait builds the wolwait command (cmd/wolwait: a sleeping host's
// network card) into dir and returns its path. Run from inside the module.
func BuildWoLWait(dir string) (string, error) {
	out := filepath.Join(dir, "wolwait")
	b, err := exec.Command("go", "build", "-o", out, "github.com/rffmpeg/rffmpeg/internal/testrig/cmd/wolwait").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build wolwait: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// Sleep puts the host to sleep: its sshd stops, and wolwait (built by
// BuildWoLWait) listens inside the namespace on port for a magic packet
// for mac, then starts the same sshd again. Its notes go to LogFile
// ("<ns>.wol.log" in the sshd's directory). Returns once it listens.
func (h *NSHost) Sleep(wolwait, mac string, port int) error {
	h.SSHD.Stop()
	log := h.WoLLog()
	f, err := os.Create(log)
	if err != nil {
		return fmt.Errorf("sleep %s: %w", h.NS, err)
	}
	defer f.Close()
	cmd := exec.Command("ip", "netns", "exec", h.NS, wolwait, "-listen", "0.0.0.0:"+strconv.Itoa(port), "-mac", mac,
		"--", SSHDPath, "-f", h.SSHD.ConfigFile(), "-E", h.SSHD.LogFile())
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sleep %s: %w", h.NS, err)
	}
	go cmd.Wait() // it exits once woken; Destroy kills it otherwise
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "listening on") {
			return nil
		}
	}
	b, _ := os.ReadFile(log)
	return fmt.Errorf("sleep %s: wolwait did not listen: %s", h.NS, b)
}

// WoLLog is where the sleeping host's wolwait notes what it received.
func (h *NSHost) WoLLog() string { return filepath.Join(h.SSHD.Dir, h.NS+".wol.log") }
