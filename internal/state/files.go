package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"

	"github.com/ncruces/go-sqlite3/vfs"
)

// The files beside an SQLite database (the write lock rffmpeg.db.lock and
// SQLite's rffmpeg.db-wal and rffmpeg.db-shm) sit in the state directory,
// which the service account (and, through the group, admins) can write. So
// they are opened without following symlinks and checked after opening;
// only a file created here and now is chowned or chmodded. Whoever creates
// one (root included, when an admin runs `sudo rffmpeg status`), it takes
// the database's owner, group and mode, as C SQLite does for its side
// files: a side file that the service account cannot write takes the whole
// pool down (every call fails to open the database).

// dbFile is who owns the database file, and its mode.
type dbFile struct {
	uid, gid uint32
	perm     os.FileMode
}

func statDB(path string) (dbFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return dbFile{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return dbFile{}, fmt.Errorf("%s: no owner information", path)
	}
	return dbFile{uid: st.Uid, gid: st.Gid, perm: fi.Mode().Perm() & 0o666}, nil
}

// trusted says whether a file beside the database may be used: owned by
// the database's owner, by the caller or by root, or by the database's
// group when that group may write the database anyway (an admin of the
// group made it); none of them needs to plant a file to attack the others.
func (d dbFile) trusted(st *syscall.Stat_t) bool {
	return st.Uid == d.uid || st.Uid == uint32(os.Geteuid()) || st.Uid == 0 || st.Gid == d.gid && d.perm&0o020 != 0
}

// openBeside opens (creating it when missing) a file beside the database.
// flag is os.O_RDONLY or os.O_RDWR.
func openBeside(path string, flag int, d dbFile) (f *os.File, created bool, err error) {
	return openBesideMaybe(path, flag, d, true)
}

// openBesideMaybe is openBeside; with create false a missing file is an
// fs.ErrNotExist error.
func openBesideMaybe(path string, flag int, d dbFile, create bool) (f *os.File, created bool, err error) {
	// O_NONBLOCK: a FIFO planted at the path must not hang the open.
	const safe = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	for try := 0; try < 2; try++ {
		f, err = os.OpenFile(path, flag|safe, 0)
		if !create || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		f, err = os.OpenFile(path, flag|safe|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			created = true
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		// Someone created it between the two opens: open theirs.
	}
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, false, fmt.Errorf("%s is a symbolic link; refusing to follow it (remove it)", path)
		}
		return nil, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, false, fmt.Errorf("%s is not a regular file (%s); remove it", path, fi.Mode().Type())
	case st == nil || !d.trusted(st):
		f.Close()
		return nil, false, fmt.Errorf("%s is owned by %s, not by the database's owner %s; remove it", path, userName(st), userName(&syscall.Stat_t{Uid: d.uid}))
	}
	if created {
		adopt(f, st, d)
	}
	return f, created, nil
}

// adopt gives a file we just created the database's mode, owner and group
// (the owner only as root; the group when we belong to it).
func adopt(f *os.File, st *syscall.Stat_t, d dbFile) {
	f.Chmod(d.perm)
	switch {
	case os.Geteuid() == 0:
		f.Chown(int(d.uid), int(d.gid))
	case st.Gid != d.gid:
		f.Chown(-1, int(d.gid)) // allowed when we are in the group; harmless otherwise
	}
}

func userName(st *syscall.Stat_t) string {
	if st == nil {
		return "unknown"
	}
	id := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}

// openWriteLock opens the lock file beside an SQLite database (see
// writeLock). Read-only is enough for flock, so a lock file made by another
// account still queues us. Nil, with the reason, when it cannot be used:
// the busy handler alone then keeps writers correct, only less frugal.
func openWriteLock(dbPath string, d dbFile) (*os.File, error) {
	f, _, err := openBeside(dbPath+".lock", os.O_RDONLY, d)
	if err != nil {
		return nil, fmt.Errorf("writer queue off: %w", err)
	}
	return f, nil
}

// prepareSideFiles makes sure SQLite's -wal and -shm files can be used by
// the database's owner: missing ones are created now with its owner and
// mode (SQLite would create them as the caller with the umask's mode); a
// symlinked or foreign one is an error that names the file. One this
// account can read but not write (left root:root 0644 by an older run)
// makes the open read-only, and roReason names the file and the fix.
// Warnings say when a file works for us but not for the owner. A reader
// (readOnly) only checks the ones that exist. (Opening and closing them here
// is safe beside open connections: the driver's locks are
// open-file-description locks, which another descriptor's close does not
// release.)
func prepareSideFiles(dbPath string, d dbFile, readOnly bool) (warnings []string, roReason string, err error) {
	for _, suffix := range []string{"-wal", "-shm"} {
		path := dbPath + suffix
		flag := os.O_RDWR
		if readOnly {
			flag = os.O_RDONLY
		}
		f, _, err := openBesideMaybe(path, flag, d, !readOnly)
		if readOnly && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if !readOnly && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			roReason = fmt.Sprintf("cannot write %s (%v); give it the database's owner and mode: chown --reference=%s %s; chmod --reference=%s %s",
				path, err, dbPath, path, dbPath, path)
			readOnly = true
			f, _, err = openBesideMaybe(path, os.O_RDONLY, d, false)
		}
		if err != nil {
			return warnings, roReason, fmt.Errorf("database side file: %w", err)
		}
		fi, serr := f.Stat()
		f.Close()
		if serr != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !d.usableByOwner(st, fi.Mode().Perm()) {
			warnings = append(warnings, fmt.Sprintf("%s (owner %s, mode %#o) differs from %s (owner %s, mode %#o): its owner may not be able to open the database; fix: chown --reference=%s %s; chmod --reference=%s %s",
				path, userName(st), fi.Mode().Perm(), dbPath, userName(&syscall.Stat_t{Uid: d.uid}), d.perm, dbPath, path, dbPath, path))
		}
	}
	return warnings, roReason, nil
}

// usableByOwner says whether the database's owner can read and write a
// file with this owner and mode.
func (d dbFile) usableByOwner(st *syscall.Stat_t, perm os.FileMode) bool {
	switch {
	case d.uid == 0, perm&0o006 == 0o006:
		return true
	case st.Uid == d.uid:
		return perm&0o600 == 0o600
	case perm&0o060 != 0o060:
		return false
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(d.uid), 10))
	if err != nil {
		return false
	}
	gids, _ := u.GroupIds()
	for _, g := range append(gids, u.Gid) {
		if g == strconv.FormatUint(uint64(st.Gid), 10) {
			return true
		}
	}
	return false
}

// sideFiles prepares the -wal and -shm files of the database at path.
func sideFiles(path string, readOnly bool) (warnings []string, roReason string, err error) {
	d, err := statDB(path)
	if err != nil {
		return nil, "", fmt.Errorf("database %s: %w", path, err)
	}
	w, ro, err := prepareSideFiles(path, d, readOnly)
	if err != nil {
		return w, ro, fmt.Errorf("database %s: %w", path, err)
	}
	return w, ro, nil
}

// isWAL reads the database header: bytes 18 and 19 are 2 in WAL mode.
func isWAL(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [20]byte
	n, _ := f.ReadAt(h[:], 0)
	return n == len(h) && h[18] == 2 && h[19] == 2
}

// writable says whether this account may write the database file.
func writable(path string) bool {
	err := syscall.Access(path, 2 /* W_OK */)
	return !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EPERM)
}

// readerVFS is SQLite's own file layer, except that a reader without write
// access may open the -wal file read-only (C SQLite's unix layer falls back
// so; the embedded driver's does not, and so could not read a database in
// WAL mode that it cannot write). SQLite then reads the WAL without
// changing it.
type readerVFS struct{ vfs.VFSFilename }

// readerVFSName is the name readerVFS is registered under (see readerVFSOnce).
const readerVFSName = "rffmpeg-reader"

var readerVFSOnce sync.Once

func registerReaderVFS() {
	readerVFSOnce.Do(func() {
		vfs.Register(readerVFSName, readerVFS{vfs.Find("os").(vfs.VFSFilename)})
	})
}

func (r readerVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, out, err := r.VFSFilename.OpenFilename(name, flags)
	if err != nil && flags&vfs.OPEN_WAL != 0 && flags&vfs.OPEN_READWRITE != 0 && errors.Is(err, fs.ErrPermission) {
		return r.VFSFilename.OpenFilename(name, flags&^(vfs.OPEN_READWRITE|vfs.OPEN_CREATE)|vfs.OPEN_READONLY)
	}
	return f, out, err
}
