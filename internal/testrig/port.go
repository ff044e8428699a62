package testrig

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// FreePort asks the kernel for a TCP port free on addr.
func FreePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitPort waits until something accepts TCP connections on addr:port.
func WaitPort(addr string, port int, timeout time.Duration) error {
	target := net.JoinHostPort(addr, strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", target, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PortHolder names the process listening on addr:port, as ss(8) shows it
// (e.g. `users:(("python3",pid=812,fd=3))`), or "" if it cannot tell.
func PortHolder(addr string, port int) string {
	out, err := exec.Command("ss", "-Hltnp", "sport = :"+strconv.Itoa(port)).Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		host, _, _ := strings.Cut(f[3], ":"+strconv.Itoa(port))
		if host == addr || host == "0.0.0.0" || host == "*" || host == "[::]" {
			return f[5]
		}
	}
	return ""
}
