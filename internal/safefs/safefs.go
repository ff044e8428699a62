// Package safefs opens and creates files in directories that someone else
// may write to (/run/shm, the log directory, the state directory shared with
// the service account) without being tricked: the last path component is
// never followed if it is a symbolic link, a file is created only if it did
// not exist (so "we created it" is known, not guessed), and what was opened
// is checked with fstat after opening. Callers never chmod or chown a file
// they did not just create.
package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafe is matched (errors.Is) by every refusal of this package.
var ErrUnsafe = errors.New("unsafe path")

func unsafef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsafe}, args...)...)
}

// Open opens path with flag (os.O_RDWR, os.O_WRONLY|os.O_APPEND, …) without
// following a symlink at its last component. With create it makes the file
// with perm (before the umask) when it is missing, and reports whether this
// call created it. What is opened must be a regular file.
func Open(path string, flag int, perm os.FileMode, create bool) (f *os.File, created bool, err error) {
	flag &^= os.O_CREATE | os.O_EXCL | os.O_TRUNC
	for try := 0; try < 3; try++ {
		if create {
			f, err = os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
			if err == nil {
				return f, true, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return nil, false, refusal(path, err)
			}
		}
		f, err = os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if errors.Is(err, fs.ErrNotExist) && create {
			continue // removed between the two opens: create it again
		}
		if err != nil {
			return nil, false, refusal(path, err)
		}
		if err := regular(f); err != nil {
			f.Close()
			return nil, false, err
		}
		// O_NONBLOCK only kept a planted FIFO from blocking the open.
		if err := clearNonblock(f); err != nil {
			f.Close()
			return nil, false, err
		}
		return f, false, nil
	}
	return nil, false, fmt.Errorf("open %s: %w", path, err)
}

func refusal(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return unsafef("%s is a symbolic link: refusing to follow it", path)
	}
	if errors.Is(err, syscall.ENXIO) { // a FIFO or socket nobody reads
		return unsafef("%s is not a regular file", path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return err // already "open PATH: reason"
	}
	return fmt.Errorf("open %s: %w", path, err)
}

func regular(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if !fi.Mode().IsRegular() {
		return unsafef("%s is not a regular file (%s)", f.Name(), fi.Mode().Type())
	}
	return nil
}

func clearNonblock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// Owner is the uid and gid of an open file.
func Owner(f *os.File) (uid, gid int, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, errors.New("no owner information")
	}
	return int(st.Uid), int(st.Gid), nil
}

// PrivateDir returns parent/name as a directory only the calling user can
// use: created mode 0700 when missing; when it exists it must be a real
// directory (not a symlink), owned by the effective uid, with no group or
// other permission bits. Anything else is refused, never repaired: a
// directory in a world-writable parent that someone else made is theirs.
func PrivateDir(parent, name string) (string, error) {
	dir := filepath.Join(parent, name)
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create private directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("private directory %s: %w", dir, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return "", unsafef("%s should be a private directory but is %s", dir, describeType(fi))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("no owner information")
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return "", unsafef("%s belongs to uid %d, not to uid %d: refusing to use it", dir, st.Uid, uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", unsafef("%s has mode %#o: others can reach it (it must be 0700)", dir, fi.Mode().Perm())
	}
	return dir, nil
}

func describeType(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "a symbolic link"
	case fi.IsDir():
		return "a directory"
	case fi.Mode().IsRegular():
		return "a regular file"
	}
	return "a " + fi.Mode().Type().String() + " file"
}

// OpenRegular opens path for reading, following symlinks (reading what a
// link points at gives the reader nothing it could not read anyway), but
// only if it is a regular file: a FIFO or device planted where a log or
// configuration file belongs must not block or feed the reader forever.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := regular(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Adopt gives a file this process just created (through its descriptor,
// never by path: the path may have been replaced since) mode perm past the
// umask, and the owner and group of the first of refs that exists: as root
// both, otherwise the group when this user belongs to it (the kernel
// refuses it otherwise, harmlessly). Never call it on a file that was
// already there.
func Adopt(f *os.File, perm os.FileMode, refs ...string) {
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
