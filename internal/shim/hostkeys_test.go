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
			why := knownHosts(&s, db)
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
