package shim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/safefs"
)

// KnownHostsMode is the mode of a known_hosts file rffmpeg creates: the
// service account and the group's admins both record host keys in it.
const KnownHostsMode = 0o660

// knownHosts prepares trust on first use for this call. The file lives in
// the state directory, which the service account (and the group) can write,
// so it is opened without following a symlink, and only a file created here
// and now is given the database's owner and group and mode 0660: a
// known_hosts that `sudo rffmpeg …` created first as root:root 0644 made
// TOFU silently off for the service account (ssh's "Failed to add the
// host" is hidden by -q, and accept-new connects anyway).
//
// When this user cannot write the file, TOFU fails closed: ssh is told
// StrictHostKeyChecking=yes, so hosts already in the file still work and a
// host not yet in it (or with a changed key) is refused. The returned
// reason says why, for the log and the bad mark; "" when TOFU works.
func knownHosts(s *remote.SSH, ownerOf string) (reason string) {
	if s.HostKeys != remote.HostKeysTOFU || s.KnownHosts == "" {
		return ""
	}
	f, created, err := safefs.Open(s.KnownHosts, os.O_WRONLY|os.O_APPEND, KnownHostsMode, true)
	if err == nil {
		if created {
			adoptFile(f, KnownHostsMode, ownerOf, filepath.Dir(s.KnownHosts))
		}
		f.Close()
		return ""
	}
	file := s.KnownHosts
	switch {
	case errors.Is(err, safefs.ErrUnsafe):
		// ssh would follow the symlink: trust nothing in it.
		file = os.DevNull
		reason = fmt.Sprintf("%v: every host key is refused until it is removed", err)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		reason = fmt.Sprintf("cannot write %s (%v): hosts not yet in it are refused (give it the database's owner and group and mode 0660)",
			s.KnownHosts, unwrapPath(err))
	default:
		file = os.DevNull
		reason = fmt.Sprintf("cannot open %s: %v: every host key is refused until it is fixed", s.KnownHosts, unwrapPath(err))
	}
	// The first value of an option wins in ssh: these come before every
	// option Argv adds after HostKeysSSH (which adds none) and before
	// remote.args.
	s.HostKeys = remote.HostKeysSSH
	s.Extra = append([]string{"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + file}, s.Extra...)
	return reason
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// adoptFile gives a file this process just created (through its
// descriptor, never by path) mode perm past the umask and the owner and
// group of the first of refs that exists: as root both, otherwise the
// group when this user belongs to it (the kernel refuses it otherwise).
func adoptFile(f *os.File, perm os.FileMode, refs ...string) {
	f.Chmod(perm)
	for _, r := range refs {
		if r == "" {
			continue
		}
		fi, err := os.Stat(r)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return
		}
		if os.Geteuid() == 0 {
			f.Chown(int(st.Uid), int(st.Gid))
		} else {
			f.Chown(-1, int(st.Gid))
		}
		return
	}
}
