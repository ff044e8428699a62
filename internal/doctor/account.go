package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// account is who the checks act as. The media server runs the shim as the
// service account (directories.owner), so that is whose permissions, SSH
// key and HOME matter: a check passing for root proves nothing for it.
type account struct {
	Name   string
	UID    int
	GID    int
	Groups []int
	Home   string
	// Switch: we are root and the service account is someone else, so
	// every child process runs with its credentials.
	Switch bool
}

// lookupAccount resolves the service account and decides whether children
// must switch to it.
func lookupAccount(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, err
	}
	a := account{Name: name, Home: u.HomeDir}
	a.UID, _ = strconv.Atoi(u.Uid)
	a.GID, _ = strconv.Atoi(u.Gid)
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			a.Groups = append(a.Groups, n)
		}
	}
	a.Switch = os.Geteuid() == 0 && a.UID != 0
	return a, nil
}

// currentAccount is the calling user, used when the service account does
// not exist or we cannot become it.
func currentAccount() account {
	a := account{UID: os.Geteuid(), GID: os.Getegid(), Home: os.Getenv("HOME")}
	if u, err := user.LookupId(strconv.Itoa(a.UID)); err == nil {
		a.Name, a.Home = u.Username, u.HomeDir
	} else {
		a.Name = strconv.Itoa(a.UID)
	}
	gids, _ := os.Getgroups()
	a.Groups = append([]int{a.GID}, gids...)
	return a
}

func (a account) inGroup(gid int) bool {
	if gid == a.GID {
		return true
	}
	for _, g := range a.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// environ is the environment of a child: ours, with the account's HOME,
// USER and LOGNAME when switching, and never an SSH agent (the media server
// has none, and an agent's key would hide a wrong configured key). A child
// running as the service account gets only a short allowlist: it can read
// its own /proc/PID/environ, and an admin's environment is not its to see.
func (a account) environ(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "SSH_AUTH_SOCK" || (a.Switch && !passedToAccount(k)) {
			continue
		}
		env = append(env, kv)
	}
	if a.Switch {
		env = append(env, "HOME="+a.Home, "USER="+a.Name, "LOGNAME="+a.Name)
	}
	return append(env, extra...)
}

// output is how a child ended.
type output struct {
	Stdout, Stderr []byte
	Code           int // exit code as a shell shows it; -1 when it never started
	Err            error
	Took           time.Duration
	TimedOut       bool
}

// run runs argv as the account with stdin, bounded by limit.
func (a account) run(ctx context.Context, argv []string, stdin []byte, limit time.Duration, extraEnv ...string) output {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = a.environ(extraEnv)
	if a.Switch {
		groups := make([]uint32, len(a.Groups))
		for i, g := range a.Groups {
			groups[i] = uint32(g)
		}
		// Setsid: a child of the service account must not share root's
		// terminal (its ~/.ssh/config could run a ProxyCommand that pushes
		// input into root's shell with TIOCSTI).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{
			Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: groups}}
		cmd.Dir = "/" // our working directory may be closed to the account
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	// An ssh that started a master connection leaves it holding our pipes:
	// never wait on them past the command's own end.
	cmd.WaitDelay = 300 * time.Millisecond
	start := time.Now()
	err := cmd.Run()
	o := output{Stdout: out.Bytes(), Stderr: errb.Bytes(), Took: time.Since(start), Err: err}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		o.TimedOut, o.Code = true, -1
		o.Err = fmt.Errorf("no answer within %s", limit)
	case cmd.ProcessState != nil:
		o.Code = exitCode(cmd.ProcessState)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			o.Err = nil // a non-zero exit is a result, not an error
		}
	default:
		o.Code = -1
	}
	return o
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// firstLine is the first non-empty line of b, trimmed.
func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// passedToAccount says which of root's variables a child running as the
// service account inherits.
func passedToAccount(k string) bool {
	switch k {
	case "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "RFFMPEG_CONFIG":
		return true
	}
	return strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "RFFMPEG_POSTGRES_")
}
