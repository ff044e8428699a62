package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// svc is a service account that exists only as numbers: the checks judge
// uid, gid and mode bits, and chown to it needs no real user.
var svc = account{Name: "svc", UID: 54321, GID: 54321, Groups: []int{54321, 54322}}

func TestCheckPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another owner")
	}
	dir := t.TempDir()
	// MkdirTemp makes 0700 directories: open the way to dir for svc.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	mk := func(name string, uid, gid int, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, mode); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, gid)
		os.Chmod(p, mode)
		return p
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	os.Symlink(mk("target", svc.UID, svc.GID, 0o660), filepath.Join(dir, "link"))
	tests := []struct {
		name string
		n    need
		want Status
		msg  []string // parts of the message
		fix  string   // part of the fix
	}{
		{"root's -wal", need{Path: mk("db-wal", 0, 0, 0o644), Label: "database -wal", Write: true},
			Fail, []string{"root:root 0644", "the service account svc cannot write it"}, "chown svc:sudo " + filepath.Join(dir, "db-wal") + " && chmod 0660"},
		{"owned by the account", need{Path: mk("db", svc.UID, svc.GID, 0o600), Label: "database", Write: true},
			OK, []string{"54321:54321 0600"}, ""},
		{"group member may write", need{Path: mk("lock", 0, 54322, 0o660), Label: "database lock", Write: true},
			OK, []string{"root:54322 0660"}, ""},
		{"group bits, not a member", need{Path: mk("kh", 0, 0, 0o660), Label: "known_hosts", Write: true},
			Fail, []string{"cannot read it"}, "chown svc:sudo"},
		{"read-only is enough for the config", need{Path: mk("cfg", 0, 0, 0o644), Label: "configuration file"},
			OK, []string{"root:root 0644"}, ""},
		{"unreadable config", need{Path: mk("cfg2", 0, 0, 0o600), Label: "configuration file"},
			Fail, []string{"cannot read it"}, "chmod 0644"},
		{"world-writable", need{Path: mk("ww", svc.UID, svc.GID, 0o666), Label: "database", Write: true},
			Warn, []string{"anyone on this machine can change it"}, "chmod o-w"},
		{"symlink", need{Path: filepath.Join(dir, "link"), Label: "database", Write: true},
			Fail, []string{"is a symbolic link"}, "replace the link"},
		{"absent, created later", need{Path: filepath.Join(dir, "none-shm"), Label: "database -shm", Write: true, Optional: true},
			OK, []string{"does not exist yet"}, ""},
		{"absent database", need{Path: filepath.Join(dir, "none.db"), Label: "database", Write: true, Create: "sudo rffmpeg init"},
			Fail, []string{"does not exist"}, "sudo rffmpeg init"},
		{"root's private directory", need{Path: sub, Label: "state directory", Dir: true, Write: true},
			Fail, []string{"root:root 0700", "cannot read it"}, "chmod 0770"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkPath(svc, tt.n, "sudo")
			if got.Status != tt.want {
				t.Fatalf("got %s %q, want %s", got.Status, got.Message, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(got.Message, m) {
					t.Errorf("message %q lacks %q", got.Message, m)
				}
			}
			if !strings.Contains(got.Fix, tt.fix) {
				t.Errorf("fix %q lacks %q", got.Fix, tt.fix)
			}
		})
	}
	// A directory above the state that the account cannot pass.
	deep := filepath.Join(sub, "state")
	os.Mkdir(deep, 0o777)
	if c, blocked := checkTraverse(svc, deep); !blocked || !strings.Contains(c.Message, sub+" is root:root 0700") {
		t.Errorf("traverse: blocked=%v %q, want %s named", blocked, c.Message, sub)
	}
	if _, blocked := checkTraverse(svc, filepath.Join(dir, "x")); blocked {
		t.Errorf("traverse of an open path: blocked")
	}
}
