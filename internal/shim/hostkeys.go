package shim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
// done ends what knownHosts began (see privateCopy); call it at the end.
func knownHosts(s *remote.SSH, ownerOf string) (reason string, done func()) {
	done = func() {}
	if s.HostKeys != remote.HostKeysTOFU || s.KnownHosts == "" {
		return "", done
	}
	f, created, err := safefs.Open(s.KnownHosts, os.O_RDWR|os.O_APPEND, KnownHostsMode, true)
	if err == nil {
		if created {
			safefs.Adopt(f, KnownHostsMode, ownerOf, filepath.Dir(s.KnownHosts))
		}
		if os.Geteuid() == 0 && othersWrite(filepath.Dir(s.KnownHosts)) {
			if done, ok := privateCopy(s, f); ok {
				return "", done
			}
		}
		f.Close()
		return "", done
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
	return reason, done
}

// othersWrite says whether someone other than root may write in dir (the
// state directory belongs to the service account).
func othersWrite(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0
}

// maxKnownHosts bounds what privateCopy reads (a known_hosts of thousands
// of hosts is a few hundred kilobytes).
const maxKnownHosts = 4 << 20

// privateCopy keeps root's ssh away from a known_hosts path another user
// can replace: ssh opens UserKnownHostsFile by path and appends a new key
// following symlinks, so between our check and its write the service
// account could swap in a symlink to a root file. Root's ssh gets a copy in
// a private temporary directory instead; done appends the keys it recorded
// to the real file through the descriptor opened (and checked) here, never
// by path, and removes the copy.
func privateCopy(s *remote.SSH, f *os.File) (done func(), ok bool) {
	orig, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxKnownHosts+1), maxKnownHosts+1))
	if err != nil || len(orig) > maxKnownHosts {
		return nil, false
	}
	dir, err := os.MkdirTemp("", "rffmpeg-known-hosts-")
	if err != nil {
		return nil, false
	}
	copyPath := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(copyPath, orig, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, false
	}
	s.KnownHosts = copyPath
	// No master for this call: one would outlive the copy (and its socket
	// name, derived from the known_hosts path, would be this call's only).
	s.Persist = 0
	return func() {
		defer os.RemoveAll(dir)
		defer f.Close()
		now, err := os.ReadFile(copyPath)
		if err != nil || !bytes.HasPrefix(now, orig) || len(now) == len(orig) {
			return // nothing new (ssh only appends)
		}
		added := now[len(orig):]
		if len(orig) > 0 && orig[len(orig)-1] != '\n' {
			added = append([]byte("\n"), added...)
		}
		f.Write(added)
	}, true
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
