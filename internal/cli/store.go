package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// withStore opens the configured database for fn and closes it after.
func (x *verb) withStore(fn func(s *state.Store) error) error {
	s, err := setup.OpenStore(x.ctx, x.cfg)
	if err != nil {
		return permissionHint(setup.Store(x.cfg), err)
	}
	defer s.Close()
	return fn(s)
}

// permissionHint adds to an SQLite open error that is about access who may
// open the database: the group to join or the owner to run as, read from
// the files themselves (the configuration may say otherwise).
func permissionHint(o state.Options, err error) error {
	if o.Backend != state.SQLite || !deniedSQLite(o.Path, err) {
		return err
	}
	dir := filepath.Dir(o.Path)
	target := o.Path
	if _, serr := os.Stat(o.Path); serr != nil {
		target = dir // the directory itself keeps us out
	}
	fi, serr := os.Stat(target)
	if serr != nil {
		fi, serr = os.Stat(dir)
	}
	if serr != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return err
	}
	owner, group := doctor.UserName(st.Uid), doctor.GroupName(st.Gid)
	return fmt.Errorf("%w (permission denied: %s belongs to %s:%s; join the group with 'sudo usermod -aG %s $USER' and log in again, or run as 'sudo -u %s rffmpeg …')",
		err, target, owner, group, group, owner)
}

// deniedSQLite tells an access problem from other open failures: SQLite
// reports a file it may not open as "unable to open", so ask the kernel.
func deniedSQLite(path string, err error) bool {
	if errors.Is(err, fs.ErrPermission) {
		return true
	}
	if errors.Is(err, state.ErrNotInitialized) {
		return false
	}
	if aerr := syscall.Access(path, 0x2|0x4); aerr != nil { // W_OK|R_OK
		return errors.Is(aerr, syscall.EACCES)
	}
	return syscall.Access(filepath.Dir(path), 0x2|0x1) == syscall.EACCES // W_OK|X_OK: the side files
}
