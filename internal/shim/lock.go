package shim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockHost takes this machine's check lock for a host, waiting at most wait;
// it returns the unlock function. Without a usable lock file the check runs
// unserialized, which costs handshakes, never correctness. dir is this
// user's private socket directory ("" when there is none).
func lockHost(dir string, id int64, wait time.Duration) func() {
	if dir == "" {
		return func() {}
	}
	f := openLock(filepath.Join(dir, fmt.Sprintf("rffmpeg-check-%d.lock", id)))
	if f == nil {
		return func() {}
	}
	deadline := time.Now().Add(wait)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return func() { f.Close() } // closing releases the lock
}

// openLock opens a lock file in the private directory (see
// setup.SocketDir): a world-writable one let anyone hold a check lock or
// plant a symlink. Still never through a symlink and only a regular file.
// Each user has its own locks: an admin's check does not serialize with the
// media server's, which costs a handshake, never correctness.
func openLock(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err == nil {
		return f
	}
	if !errors.Is(err, os.ErrExist) {
		return nil
	}
	f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0) // flock needs no write access
	if err != nil {
		return nil
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return f
}
