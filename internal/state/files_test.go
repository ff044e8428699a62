package state_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

func owner(t *testing.T, path string) (uint32, uint32, os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

// TestLockSymlinkNotFollowed: a symlink planted at the lock path (the state
// directory is the service account's) is neither followed nor chowned, and
// the store still works and says why its writer queue is off.
func TestLockSymlinkNotFollowed(t *testing.T) {
	o := statetest.NewSQLite(t)
	s := initStore(t, o)
	s.Close()
	os.Remove(o.Path + ".lock")
	target := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(target, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(target, 1, 1) // as root: a file of another account
	uid, gid, mode := owner(t, target)
	if err := os.Symlink(target, o.Path+".lock"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(o.Path, 4242, 4242); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	s, err := state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddHost(ctx, "a.lan", "", 1, now); err != nil {
		t.Fatal(err)
	}
	if u, g, m := owner(t, target); u != uid || g != gid || m != mode {
		t.Errorf("target of the symlink changed: %d:%d %v, was %d:%d %v", u, g, m, uid, gid, mode)
	}
	if data, _ := os.ReadFile(target); string(data) != "secret\n" {
		t.Errorf("target written: %q", data)
	}
	if w := strings.Join(s.Warnings(), "\n"); !strings.Contains(w, "symbolic link") || !strings.Contains(w, ".lock") {
		t.Errorf("warnings = %q, want the symlinked lock named", w)
	}
}

// TestSideFileSymlinkRefused: SQLite's -wal and -shm are never opened
// through a symlink either; the error names the file.
func TestSideFileSymlinkRefused(t *testing.T) {
	for _, suffix := range []string{"-wal", "-shm"} {
		t.Run(suffix, func(t *testing.T) {
			o := statetest.NewSQLite(t)
			initStore(t, o).Close()
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, nil, 0o600)
			os.Remove(o.Path + suffix)
			os.Symlink(target, o.Path+suffix)
			_, err := state.Open(ctx, o)
			if err == nil || !strings.Contains(err.Error(), o.Path+suffix) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("open with a symlinked %s: %v", suffix, err)
			}
		})
	}
}

// testUser creates an unprivileged account for the test and removes it after.
func testUser(t *testing.T) (uid, gid uint32, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a test user")
	}
	name = fmt.Sprintf("rfst%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "-M", "-r", "-U", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(u.Uid)
	b, _ := strconv.Atoi(u.Gid)
	return uint32(a), uint32(b), name
}

// asUser runs a churn worker (open, acquire, release) as uid:gid from a copy
// of the test binary that account can execute.
func asUser(t *testing.T, bin string, uid, gid uint32, o state.Options) (string, error) {
	return asUserMode(t, bin, uid, gid, o, "churn")
}

func asUserMode(t *testing.T, bin string, uid, gid uint32, o state.Options, mode string) (string, error) {
	job, _ := json.Marshal(workerJob{Opts: o, Mode: mode})
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(job))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRootKeepsTheDatabaseUsable: root opens and writes a database owned by
// the service account whose side files and lock do not exist yet (a
// database from the Python rffmpeg, or after the sqlite3 tool removed
// them); they are created with the database's owner and mode, and the
// service account can still open and write it. Side files an older run
// left as root:root 0644 make the account's open read-only, and its first
// write an error naming them and the fix, not a silent failure.
func TestRootKeepsTheDatabaseUsable(t *testing.T) {
	uid, gid, _ := testUser(t)
	for _, journal := range []string{"wal", "delete"} {
		t.Run(journal, func(t *testing.T) { rootKeepsUsable(t, uid, gid, journal) })
	}
}

// rootKeepsUsable: journal "delete" is a database as the Python rffmpeg
// leaves it (not in WAL mode: root's open switches it and SQLite would
// create the side files then).
func rootKeepsUsable(t *testing.T, uid, gid uint32, journal string) {
	base, err := os.MkdirTemp("", "rffmpeg-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "state.test")
	copyFile(t, bin)
	dir := filepath.Join(base, "state")
	os.Mkdir(dir, 0o770)
	o := state.Options{Backend: state.SQLite, Path: filepath.Join(dir, "rffmpeg.db")}
	if journal == "wal" {
		s, err := state.Init(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		s.AddHost(ctx, "a.lan", "", 1, now)
		s.Close()
	} else {
		statetest.CreateOriginal(t, o, true)
	}
	for _, p := range []string{o.Path + "-wal", o.Path + "-shm", o.Path + ".lock"} {
		os.Remove(p)
	}
	for _, p := range []string{dir, o.Path} {
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(o.Path, 0o660)

	// Root: status and a write.
	s, err := state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddHost(ctx, "b.lan", "", 1, now); err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	s.Close()
	for _, p := range []string{o.Path + "-wal", o.Path + "-shm", o.Path + ".lock"} {
		if u, g, m := owner(t, p); u != uid || g != gid || m.Perm() != 0o660 {
			t.Errorf("%s: %d:%d %v, want %d:%d 0660 like the database", filepath.Base(p), u, g, m, uid, gid)
		}
	}
	if out, err := asUser(t, bin, uid, gid, o); err != nil {
		t.Fatalf("the service account after root: %v\n%s", err, out)
	}

	// Side files left root:root 0644 by an older run.
	for _, p := range []string{o.Path + "-wal", o.Path + "-shm"} {
		os.Remove(p)
		os.WriteFile(p, nil, 0o644)
		os.Chmod(p, 0o644)
	}
	s, err = state.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(s.Warnings(), "\n"); !strings.Contains(w, "rffmpeg.db-wal") || !strings.Contains(w, "chown") {
		t.Errorf("root opening them: warnings %q, want the file and the fix", w)
	}
	s.Close()
	out, err := asUser(t, bin, uid, gid, o)
	if err == nil || !strings.Contains(out, "read-only") || !strings.Contains(out, "rffmpeg.db-wal") || !strings.Contains(out, "chown") {
		t.Errorf("the service account with root's side files: %v %q; want an error naming the file and the fix", err, out)
	}
}

func copyFile(t *testing.T, dst string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// TestLockFileRefused: whatever else sits at the lock path is not used
// (and does not hang the call); the store works and says why.
func TestLockFileRefused(t *testing.T) {
	cases := []struct {
		name  string
		plant func(path string) error
		want  string
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o666) }, "not a regular file"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
		{"foreign owner", func(p string) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			if err := os.WriteFile(p, nil, 0o666); err != nil {
				return err
			}
			return os.Chown(p, 4243, 4243)
		}, "not by the database's owner"},
		// An admin of the database's group made it: that group may write
		// the database anyway, so the file is used.
		{"group member's", func(p string) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			if err := os.WriteFile(p, nil, 0o660); err != nil {
				return err
			}
			return os.Chown(p, 4243, 4242)
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := statetest.NewSQLite(t)
			initStore(t, o).Close()
			for _, p := range []string{o.Path, o.Path + "-wal", o.Path + "-shm"} {
				os.Chown(p, 4242, 4242) // as root: the service account's database
				os.Chmod(p, 0o660)
			}
			os.Remove(o.Path + ".lock")
			if err := c.plant(o.Path + ".lock"); err == errSkip {
				t.Skip("needs root")
			} else if err != nil {
				t.Fatal(err)
			}
			s, err := state.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.AddHost(ctx, "a.lan", "", 1, now); err != nil {
				t.Fatal(err)
			}
			w := strings.Join(s.Warnings(), "\n")
			if c.want == "" && w != "" || !strings.Contains(w, c.want) {
				t.Errorf("warnings = %q, want %q", w, c.want)
			}
		})
	}
}

var errSkip = fmt.Errorf("skip")
