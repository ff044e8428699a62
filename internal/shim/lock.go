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
// unserialized, which costs handshakes, never correctness.
func lockHost(dir string, id int64, wait time.Duration) func() {
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

// openLock opens a lock file in a directory other users may write (the
// persist directory is /run/shm by default): never through a symlink, only
// a regular file, and only a file this call created is made shared (the
// media server's user and admins take the same lock).
func openLock(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o666)
	if err == nil {
		f.Chmod(0o666) // past the umask: it is ours, just created
		return f
	}
	if !errors.Is(err, os.ErrExist) {
		return nil
	}
	f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0) // flock needs no write access
	if err != nil {
		return nil
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return f
}
