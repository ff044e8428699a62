// Command rig gives shell scripts (make demo, make bench) the test rig of
// package testrig, so they start the same sshd, with the same config and
// the same readiness proof, as the end-to-end tests:
//
//	rig host up DIR PORT USER   start the loopback hosts (one sshd on 127.0.0.2
//	                            and 127.0.0.3:PORT) logging USER in with keys
//	                            made in DIR; prints shell assignments
//	rig host down DIR           stop them
//	rig host procs DIR USER     ps of USER's processes under that sshd;
//	                            exit 1 if there are none
//
// Errors are one line on stderr and exit status 1.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

const usage = "usage: rig host up DIR PORT USER | rig host down DIR | rig host procs DIR USER"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rig:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 || args[0] != "host" {
		return fmt.Errorf("%s", usage)
	}
	dir := args[2]
	switch {
	case args[1] == "up" && len(args) == 5:
		port, err := strconv.Atoi(args[3])
		if err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("bad port %q", args[3])
		}
		return up(dir, port, args[4])
	case args[1] == "down" && len(args) == 3:
		testrig.LoopbackIn(dir, 0, "").Stop()
		return nil
	case args[1] == "procs" && len(args) == 4:
		return procs(dir, args[3])
	}
	return fmt.Errorf("%s", usage)
}

func up(dir string, port int, user string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	l, err := testrig.StartLoopback(dir, port, user)
	if err != nil {
		return err
	}
	pid, err := l.SSHD.PID()
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"RIG_CLIENT_KEY", l.Keys.Client},
		{"RIG_HOST_KEY", l.Keys.Host},
		{"RIG_AUTHORIZED_KEYS", l.Keys.AuthorizedKeys},
		{"RIG_SSHD_PID", strconv.Itoa(pid)},
		{"RIG_SSHD_LOG", l.SSHD.LogFile()},
	} {
		fmt.Printf("%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return nil
}

func procs(dir, user string) error {
	l := testrig.LoopbackIn(dir, 0, user)
	pid, err := l.SSHD.PID()
	if err != nil {
		return fmt.Errorf("the sshd of %s: %w", dir, err)
	}
	pids, err := testrig.Descendants(pid, user)
	if err != nil {
		return err
	}
	if len(pids) == 0 {
		return fmt.Errorf("no process of %s runs under the sshd of %s (pid %d)", user, dir, pid)
	}
	list := make([]string, len(pids))
	for i, p := range pids {
		list[i] = strconv.Itoa(p)
	}
	ps := exec.Command("ps", "-o", "pid,ppid,user:16,etime,args", "-p", strings.Join(list, ","))
	ps.Stdout, ps.Stderr = os.Stdout, os.Stderr
	return ps.Run()
}

// shellQuote quotes s for POSIX sh (the output is eval'd).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
