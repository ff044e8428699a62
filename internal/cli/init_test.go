package cli

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The state directory belongs to the service account: a database (or side
// file) it replaced with a symlink must neither be opened nor handed over
// by root's init. (A review turned /etc/environment into a file the
// service account owned this way.)
func TestInitNeverFollowsPlantedLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown to another user")
	}
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "environment")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "rffmpeg.db")
	os.Symlink(target, db)
	if _, err := state.Init(context.Background(), state.Options{Backend: state.SQLite, Path: db}); err == nil {
		t.Error("state.Init wrote through a symlinked database")
	}
	if err := chownState(db, 65534, 65534); err == nil {
		t.Error("chownState followed a symlinked database")
	}
	os.Remove(db)
	os.WriteFile(db, nil, 0o644)
	os.Symlink(target, db+"-wal")
	if err := chownState(db, 65534, 65534); err == nil {
		t.Error("chownState followed a symlinked -wal")
	}
	hard := filepath.Join(dir, "rffmpeg.db-shm")
	os.Remove(db + "-wal")
	if err := os.Link(target, hard); err == nil {
		if err := chownState(db, 65534, 65534); err == nil {
			t.Error("chownState changed a hard link to another file")
		}
	}
	fi, _ := os.Stat(target)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode().Perm() != 0o644 {
		t.Errorf("target now uid %d mode %v", st.Uid, fi.Mode().Perm())
	}
}
