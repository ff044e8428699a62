package shim

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/remote"
)

func TestKnownHostsPrepared(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rffmpeg.db")
	os.WriteFile(db, nil, 0o660)
	os.Chown(db, 65534, 65534)
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("x"), 0o600)
	tests := []struct {
		name       string
		plant      func(p string)
		wantReason string // substring; "" for TOFU as usual
		wantFile   string // UserKnownHostsFile forced; "" for none
	}{
		{"missing", func(string) {}, "", ""},
		{"existing", func(p string) { os.WriteFile(p, nil, 0o644) }, "", ""},
		{"symlink", func(p string) { os.Symlink(target, p) }, "symbolic link", os.DevNull},
		{"directory", func(p string) { os.Mkdir(p, 0o755) }, "every host key is refused", os.DevNull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+"_known_hosts")
			tt.plant(p)
			s := remote.SSH{HostKeys: remote.HostKeysTOFU, KnownHosts: p, Extra: []string{"-i", "k"}}
			why, done := knownHosts(&s, db)
			defer done()
			if tt.wantReason == "" && why != "" || !strings.Contains(why, tt.wantReason) {
				t.Errorf("reason %q, want %q", why, tt.wantReason)
			}
			argv := strings.Join(s.Argv("true", remote.Quiet(true)), " ")
			strict := "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + tt.wantFile + " -i k"
			if tt.wantFile == "" {
				if strings.Contains(argv, "StrictHostKeyChecking=yes") || !strings.Contains(argv, "accept-new") {
					t.Errorf("argv %q: want accept-new", argv)
				}
			} else if !strings.Contains(argv, strict) || strings.Contains(argv, "accept-new") {
				t.Errorf("argv %q: want %q and no accept-new", argv, strict)
			}
			if b, _ := os.ReadFile(target); string(b) != "x" {
				t.Errorf("symlink target changed: %q", b)
			}
		})
	}
	fi, err := os.Stat(filepath.Join(dir, "missing_known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	want := [3]uint32{0, 0, KnownHostsMode}
	if os.Geteuid() == 0 {
		want = [3]uint32{65534, 65534, KnownHostsMode}
	} else {
		want[0], want[1] = uint32(os.Geteuid()), st.Gid
	}
	if got := [3]uint32{st.Uid, st.Gid, uint32(fi.Mode().Perm())}; got != want {
		t.Errorf("created known_hosts: owner, group, mode = %v, want %v", got, want)
	}
	fi, _ = os.Stat(filepath.Join(dir, "existing_known_hosts"))
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("existing known_hosts mode changed to %#o", fi.Mode().Perm())
	}
}

// Root's ssh never writes known_hosts by path in a directory the service
// account owns: it gets a private copy, and what it records there is
// appended to the file opened and checked before, even if the path was
// swapped for a symlink meanwhile.
func TestKnownHostsPrivateCopyForRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root only")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o770)
	os.Chown(dir, 65534, 65534) // the service account's
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte("old key\n"), 0o660)
	target := filepath.Join(t.TempDir(), "root-file")
	os.WriteFile(target, []byte("root\n"), 0o600)

	s := remote.SSH{HostKeys: remote.HostKeysTOFU, KnownHosts: kh}
	why, done := knownHosts(&s, "")
	if why != "" || s.KnownHosts == kh || !strings.Contains(strings.Join(s.Argv("x", remote.Quiet(true)), " "), "UserKnownHostsFile="+s.KnownHosts) {
		t.Fatalf("reason %q, ssh's file %q: want a private copy", why, s.KnownHosts)
	}
	if fi, err := os.Stat(filepath.Dir(s.KnownHosts)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the copy's directory: %v %v", fi, err)
	}
	// ssh records a key; meanwhile the path is swapped for a symlink.
	f, _ := os.OpenFile(s.KnownHosts, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("new key\n")
	f.Close()
	os.Rename(kh, kh+".moved")
	os.Symlink(target, kh)
	done()
	if b, _ := os.ReadFile(target); string(b) != "root\n" {
		t.Errorf("the symlink's target got %q", b)
	}
	if b, _ := os.ReadFile(kh + ".moved"); string(b) != "old key\nnew key\n" {
		t.Errorf("known_hosts (the file checked) = %q", b)
	}
	if _, err := os.Stat(s.KnownHosts); err == nil {
		t.Errorf("the private copy was left behind")
	}
}
