package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/safefs"
)

// The socket directory is this user's, 0700, and anything else is refused,
// never repaired: a directory another user made in /run/shm is theirs.
func TestSocketDir(t *testing.T) {
	name := "rffmpeg-" + strconv.Itoa(os.Geteuid())
	for _, tt := range []struct {
		name   string
		plant  func(t *testing.T, dir string) // what is at persist/name first
		unsafe bool
	}{
		{"missing: created", func(*testing.T, string) {}, false},
		{"ours, 0700", func(t *testing.T, d string) { os.Mkdir(d, 0o700) }, false},
		{"ours, open to others", func(t *testing.T, d string) { os.Mkdir(d, 0o700); os.Chmod(d, 0o777) }, true},
		{"a symlink to ours", func(t *testing.T, d string) {
			os.Mkdir(d+".real", 0o700)
			os.Symlink(d+".real", d)
		}, true},
		{"a regular file", func(t *testing.T, d string) { os.WriteFile(d, nil, 0o600) }, true},
		{"another user's", func(t *testing.T, d string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make a directory of another user")
			}
			os.Mkdir(d, 0o700)
			os.Chown(d, 65534, 65534)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			persist, err := os.MkdirTemp("", "rf")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(persist)
			tt.plant(t, filepath.Join(persist, name))
			got, err := SocketDir(persist)
			if tt.unsafe {
				if err == nil || !errors.Is(err, safefs.ErrUnsafe) || got != "" {
					t.Fatalf("SocketDir = %q, %v: want a refusal", got, err)
				}
				return
			}
			if err != nil || got != filepath.Join(persist, name) {
				t.Fatalf("SocketDir = %q, %v", got, err)
			}
			if fi, err := os.Lstat(got); err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
				t.Errorf("%s: %v %v", got, fi, err)
			}
		})
	}
}

// A persist directory too long for a socket path is refused: ssh would fail
// to bind there, and every call would pay a handshake without saying why.
func TestSocketDirTooLong(t *testing.T) {
	persist, err := os.MkdirTemp("", "rf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(persist)
	long := filepath.Join(persist, strings.Repeat("x", 80))
	os.Mkdir(long, 0o755)
	if got, err := SocketDir(long); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("SocketDir(%d bytes) = %q, %v: want a refusal", len(long), got, err)
	}
}
