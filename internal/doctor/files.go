package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// need is what the service account must be able to do with one path.
type need struct {
	Path     string
	Label    string // "database", "state directory", …
	Dir      bool
	Write    bool
	Optional bool // absent is fine: it is created on first use
	// Create is the fix when it is missing ("" : mkdir or init).
	Create string
}

// perms is what an account may do with a file, from its owner, group and
// mode bits (ACLs are not consulted).
type perms struct{ r, w, x bool }

func accessOf(a account, st *syscall.Stat_t) perms {
	if a.UID == 0 {
		return perms{true, true, st.Mode&0o111 != 0}
	}
	m := st.Mode
	switch {
	case int(st.Uid) == a.UID:
		m >>= 6
	case a.inGroup(int(st.Gid)):
		m >>= 3
	}
	return perms{m&4 != 0, m&2 != 0, m&1 != 0}
}

// UserName is uid's login name, or the number when it has none.
func UserName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

// GroupName is gid's name, or the number when it has none.
func GroupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

// describeOwner is "root:root 0644".
func describeOwner(st *syscall.Stat_t) string {
	return fmt.Sprintf("%s:%s %04o", UserName(st.Uid), GroupName(st.Gid), st.Mode&0o7777)
}

// checkPath judges one path for the account; group is the configured
// directories.group, used in the suggested fix.
func checkPath(a account, n need, group string) Check {
	c := Check{Section: SectionConfig, Name: n.Label}
	mode, fixMode := "0660", "chmod 0660"
	if n.Dir {
		mode, fixMode = "0770", "chmod 0770"
	}
	if !n.Write {
		mode, fixMode = "0644", "chmod 0644"
		if n.Dir {
			mode, fixMode = "0755", "chmod 0755"
		}
	}
	chown := fmt.Sprintf("chown %s:%s %s && %s %s", a.Name, group, shellWord(n.Path), fixMode, shellWord(n.Path))
	// A directory may be a system symlink (/run/shm → /dev/shm); a file
	// in the state directory must not be one (it is opened O_NOFOLLOW).
	stat := os.Lstat
	if n.Dir {
		stat = os.Stat
	}
	fi, err := stat(n.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && n.Optional:
		c.Status, c.Message = OK, n.Path+" does not exist yet (created on first use)"
		return c
	case errors.Is(err, fs.ErrNotExist):
		c.Status, c.Message, c.Fix = Fail, n.Path+" does not exist", n.Create
		if c.Fix == "" {
			c.Fix = "mkdir -p " + shellWord(n.Path) + " && " + chown
		}
		return c
	case err != nil:
		c.Status, c.Message = Fail, fmt.Sprintf("cannot inspect %s: %v", n.Path, err)
		return c
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		c.Status = Fail
		c.Message = n.Path + " is a symbolic link: rffmpeg never follows one here (another user could point it anywhere)"
		c.Fix = "replace the link with the file itself"
		return c
	case n.Dir && !fi.IsDir(), !n.Dir && !fi.Mode().IsRegular():
		c.Status, c.Message = Fail, fmt.Sprintf("%s is a %s, not a %s", n.Path, typeName(fi), map[bool]string{true: "directory", false: "regular file"}[n.Dir])
		return c
	}
	p := accessOf(a, st)
	var cannot string
	switch {
	case !p.r:
		cannot = "read"
	case n.Write && !p.w:
		cannot = "write"
	case n.Dir && !p.x:
		cannot = "enter"
	}
	if cannot != "" {
		c.Status = Fail
		c.Message = fmt.Sprintf("%s is %s: the service account %s cannot %s it", n.Path, describeOwner(st), a.Name, cannot)
		c.Fix = chown
		return c
	}
	if st.Mode&0o002 != 0 && st.Mode&syscall.S_ISVTX == 0 {
		c.Status = Warn
		c.Message = fmt.Sprintf("%s is %s: anyone on this machine can change it", n.Path, describeOwner(st))
		c.Fix = fmt.Sprintf("chmod o-w %s (want %s)", shellWord(n.Path), mode)
		return c
	}
	c.Status, c.Message = OK, fmt.Sprintf("%s is %s", n.Path, describeOwner(st))
	return c
}

func typeName(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.Mode()&fs.ModeSocket != 0:
		return "socket"
	case fi.Mode()&fs.ModeNamedPipe != 0:
		return "named pipe"
	case fi.Mode()&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// checkTraverse finds the first directory above dir the account cannot
// enter (then nothing below it can be opened, whatever its own mode).
func checkTraverse(a account, dir string) (Check, bool) {
	c := Check{Section: SectionConfig, Name: "path to " + dir}
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			if !accessOf(a, st).x {
				c.Status = Fail
				c.Message = fmt.Sprintf("%s is %s: the service account %s cannot pass through it", d, describeOwner(st), a.Name)
				c.Fix = "chmod o+x " + shellWord(d) + " (or make " + a.Name + " a member of its group)"
				return c, true
			}
		}
		if d == "/" || d == "." {
			return c, false
		}
	}
}

// shellWord quotes a path for a fix line a person pastes into a shell.
func shellWord(s string) string { return remote.Quote(s) }
