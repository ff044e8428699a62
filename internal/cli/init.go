package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

func (x *verb) init(o InitOptions) error {
	root := !o.NoRoot
	if root && x.env.Geteuid() != 0 {
		return errors.New("init must run as root to set ownership (use sudo), or pass --no-root")
	}
	var uid, gid int
	if root {
		var err error
		if uid, gid, err = x.ownerIDs(); err != nil {
			return err
		}
	}
	opts := setup.Store(x.cfg)
	if err := x.confirmInit(opts, o.Yes); err != nil {
		return err
	}
	if opts.Backend == state.SQLite {
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o770); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
	}
	s, err := state.Init(x.ctx, opts)
	if err != nil {
		return permissionHint(opts, fmt.Errorf("initialize %s: %w", opts.Describe(), err))
	}
	s.Close()
	if opts.Backend == state.SQLite && root {
		if err := chownState(opts.Path, uid, gid); err != nil {
			return err
		}
	}
	fmt.Fprintf(x.env.Stdout, "Initialized %s\n", escape.Line(opts.Describe()))
	x.audit("initialized %s", opts.Describe())
	return nil
}

func (x *verb) ownerIDs() (uid, gid int, err error) {
	c := x.cfg
	u, err := user.Lookup(c.Directories.Owner)
	if err != nil {
		return 0, 0, fmt.Errorf("directories.owner %q: no such user; set it in the configuration or use --no-root", c.Directories.Owner)
	}
	g, err := user.LookupGroup(c.Directories.Group)
	if err != nil {
		return 0, 0, fmt.Errorf("directories.group %q: no such group; set it in the configuration or use --no-root", c.Directories.Group)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid, nil
}

// confirmInit says what would be lost before losing it: without -y it asks
// on a terminal (and refuses elsewhere); with -y it goes ahead but warns
// about the hosts and the live jobs it deletes.
func (x *verb) confirmInit(opts state.Options, yes bool) error {
	s, err := state.Open(x.ctx, opts)
	if err != nil {
		if errors.Is(err, state.ErrNotInitialized) || yes {
			return nil
		}
		if !x.confirm(fmt.Sprintf("%v\nRe-initialize it anyway? [y/N] ", err)) {
			return errors.New("init cancelled: nothing was changed")
		}
		return nil
	}
	defer s.Close()
	v, err := selector.Load(x.ctx, s, x.policy())
	if err != nil || len(v.Hosts) == 0 && !hasJobs(v) {
		return nil
	}
	if !yes {
		if !x.confirm(fmt.Sprintf("%s holds %d hosts; re-initializing deletes them. Continue? [y/N] ", opts.Describe(), len(v.Hosts))) {
			return errors.New("init cancelled: nothing was changed (pass -y to confirm without a prompt)")
		}
		return nil
	}
	jobs := append(append([]state.Process{}, v.Fallback...), v.Orphans...)
	for _, h := range v.Hosts {
		jobs = append(jobs, h.Processes...)
	}
	fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: re-initializing %s deletes %s and the rows of %s\n",
		escape.Line(opts.Describe()), plural(len(v.Hosts), "host"), plural(len(jobs), "running job"))
	for _, p := range jobs {
		fmt.Fprintf(x.env.Stderr, "  PID %d: %s\n", p.PID, escape.Line(p.Cmd))
	}
	return nil
}

func hasJobs(v selector.View) bool {
	if len(v.Fallback) > 0 || len(v.Orphans) > 0 {
		return true
	}
	for _, h := range v.Hosts {
		if len(h.Processes) > 0 {
			return true
		}
	}
	return false
}

// chownState gives the state directory and the database files to the
// configured owner and group, as the original's init does. Root does this
// inside a directory the service account may write, so nothing is done by
// path: each file is opened without following a symlink, checked (a real
// directory or a regular file with one link, owned by root or by the
// configured owner), and changed through its descriptor.
func chownState(db string, uid, gid int) error {
	dir := filepath.Dir(db)
	for _, p := range []struct {
		path string
		mode os.FileMode
		dir  bool
	}{{dir, 0o770, true}, {db, 0o660, false}, {db + "-wal", 0o660, false}, {db + "-shm", 0o660, false}} {
		if err := chownOne(p.path, p.mode, p.dir, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func chownOne(path string, mode os.FileMode, dir bool, uid, gid int) error {
	flag := syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if dir {
		flag |= syscall.O_DIRECTORY
	}
	f, err := os.OpenFile(path, flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no side file yet: nothing to give away
	}
	if err != nil {
		return fmt.Errorf("%s: %w (refusing to change its owner)", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return fmt.Errorf("%s: no owner information", path)
	case !dir && (!fi.Mode().IsRegular() || st.Nlink != 1):
		return fmt.Errorf("%s is not a regular file with one link: refusing to change its owner", path)
	case st.Uid != 0 && int(st.Uid) != uid:
		return fmt.Errorf("%s belongs to uid %d, neither root nor the configured owner: refusing to change it", path, st.Uid)
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// confirm asks on the terminal; without one (a script) the answer is no.
func (x *verb) confirm(question string) bool {
	if !x.env.StdinTTY {
		return false
	}
	fmt.Fprint(x.env.Stderr, question)
	line, _ := bufio.NewReader(x.env.Stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}
