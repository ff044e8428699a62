package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpenRefusesSymlinkAndLeavesTargetAlone(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	link := filepath.Join(dir, "rffmpeg.log")
	os.Symlink(target, link)
	for _, create := range []bool{true, false} {
		f, _, err := Open(link, os.O_WRONLY|os.O_APPEND, 0o640, create)
		if err == nil {
			f.Close()
			t.Fatalf("create=%v: opened a symlink", create)
		}
		if !errors.Is(err, ErrUnsafe) {
			t.Errorf("create=%v: err = %v, want ErrUnsafe", create, err)
		}
	}
	fi, _ := os.Stat(target)
	b, _ := os.ReadFile(target)
	if fi.Mode().Perm() != 0o600 || string(b) != "secret\n" {
		t.Errorf("target changed: mode %v, content %q", fi.Mode(), b)
	}
}

func TestOpenCreatesOnceAndReportsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, created, err := Open(path, os.O_RDWR, 0o640, true)
	if err != nil || !created {
		t.Fatalf("first open: created=%v err=%v", created, err)
	}
	f.Close()
	f, created, err = Open(path, os.O_RDWR, 0o640, true)
	if err != nil || created {
		t.Fatalf("second open: created=%v err=%v, want an existing file", created, err)
	}
	f.Close()
	if _, _, err := Open(filepath.Join(t.TempDir(), "missing"), os.O_RDONLY, 0, false); err == nil {
		t.Fatal("opened a missing file without create")
	}
}

func TestOpenRefusesFIFOWithoutBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o666); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() {
		f, _, err := Open(path, os.O_WRONLY|os.O_APPEND, 0o640, true)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsafe) {
			t.Fatalf("err = %v, want ErrUnsafe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("open of a FIFO blocked")
	}
}

func TestPrivateDir(t *testing.T) {
	parent := t.TempDir()
	os.Chmod(parent, 0o1777) // like /run/shm
	dir, err := PrivateDir(parent, "rffmpeg-test")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Lstat(dir)
	if fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Fatalf("mode %v", fi.Mode())
	}
	if again, err := PrivateDir(parent, "rffmpeg-test"); err != nil || again != dir {
		t.Fatalf("second call: %q %v", again, err)
	}

	os.Mkdir(filepath.Join(parent, "open"), 0o755)
	os.Chmod(filepath.Join(parent, "open"), 0o755)
	os.Symlink(dir, filepath.Join(parent, "link"))
	os.WriteFile(filepath.Join(parent, "file"), nil, 0o600)
	for _, name := range []string{"open", "link", "file"} {
		if _, err := PrivateDir(parent, name); !errors.Is(err, ErrUnsafe) {
			t.Errorf("%s: err = %v, want ErrUnsafe", name, err)
		}
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(parent, "squatted")
		os.Mkdir(other, 0o700)
		os.Chown(other, 65534, 65534) // nobody made it first
		if _, err := PrivateDir(parent, "squatted"); !errors.Is(err, ErrUnsafe) {
			t.Errorf("a directory of another user: err = %v, want ErrUnsafe", err)
		}
	}
}

func TestOpenRegularRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "encoding.xml")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := OpenRegular(fifo)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsafe) {
			t.Fatalf("err = %v, want ErrUnsafe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenRegular blocked on a FIFO")
	}
	plain := filepath.Join(dir, "rffmpeg.log")
	os.WriteFile(plain, []byte("x\n"), 0o644)
	link := filepath.Join(dir, "link.log")
	os.Symlink(plain, link)
	for _, p := range []string{plain, link} {
		f, err := OpenRegular(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Close()
	}
}

// A file root just created takes the reference's owner and group and the
// mode asked for, past the umask.
func TestAdopt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	if err := os.WriteFile(ref, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(ref, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	f, created, err := Open(filepath.Join(dir, "new"), os.O_WRONLY, 0o600, true)
	if err != nil || !created {
		t.Fatalf("open: %v created %v", err, created)
	}
	defer f.Close()
	Adopt(f, 0o664, filepath.Join(dir, "missing"), ref)
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o664 {
		t.Errorf("owner %d:%d mode %v, want 65534:65534 0664", st.Uid, st.Gid, fi.Mode().Perm())
	}
}
