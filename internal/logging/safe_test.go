package logging

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/safefs"
)

// A log path someone else could plant: the line never lands elsewhere,
// nothing reaches stderr, and Err says why.
func TestPlantedLogPathsRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	tests := []struct {
		name  string
		plant func(p string) error
	}{
		{"symlink", func(p string) error { return os.Symlink(target, p) }},
		{"dangling symlink", func(p string) error { return os.Symlink(filepath.Join(dir, "new"), p) }},
		{"hard link", func(p string) error { return os.Link(target, p) }},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o666) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".log")
			if err := tt.plant(p); err != nil {
				t.Fatal(err)
			}
			var stderr bytesBuf
			l := New(Options{ToFile: true, File: p, Stderr: &stderr})
			l.Errorf("Finished rffmpeg with return code 0")
			l.Close()
			if err := l.Err(); err == nil {
				t.Errorf("Err() = nil, want a refusal")
			}
			if err := Check(Options{ToFile: true, File: p}); err == nil {
				t.Errorf("Check = nil, want a refusal")
			}
			if b, _ := os.ReadFile(target); string(b) != "secret\n" {
				t.Errorf("target now %q", b)
			}
			if _, err := os.Lstat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was created through the dangling symlink: %v", err)
			}
			if stderr.n != 0 {
				t.Errorf("%d bytes written to stderr", stderr.n)
			}
		})
	}
	if err := Check(Options{ToFile: true, File: filepath.Join(dir, "symlink.log")}); !errors.Is(err, safefs.ErrUnsafe) {
		t.Errorf("Check(symlink) = %v, want ErrUnsafe", err)
	}
}

type bytesBuf struct{ n int }

func (b *bytesBuf) Write(p []byte) (int, error) { b.n += len(p); return len(p), nil }

// A log file created by root takes the owner and group of the state and a
// group-writable mode; one that exists keeps its owner and mode.
func TestCreatedLogTakesStateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "rffmpeg.db")
	os.WriteFile(db, nil, 0o660)
	os.Chown(db, 65534, 65534)
	p := filepath.Join(dir, "rffmpeg.log")
	l := New(Options{ToFile: true, File: p, OwnerOf: []string{filepath.Join(dir, "missing"), db}})
	l.Infof("x")
	l.Close()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if got, want := [3]uint32{st.Uid, st.Gid, uint32(fi.Mode().Perm())}, [3]uint32{65534, 65534, 0o664}; got != want {
		t.Errorf("owner, group, mode = %v, want %v", got, want)
	}

	// An existing file is never chowned or chmodded.
	old := filepath.Join(dir, "old.log")
	os.WriteFile(old, nil, 0o600)
	l = New(Options{ToFile: true, File: old, OwnerOf: []string{db}})
	l.Infof("x")
	l.Close()
	fi, _ = os.Stat(old)
	st = fi.Sys().(*syscall.Stat_t)
	if got, want := [3]uint32{st.Uid, st.Gid, uint32(fi.Mode().Perm())}, [3]uint32{0, 0, 0o600}; got != want {
		t.Errorf("existing file: owner, group, mode = %v, want %v", got, want)
	}
}
