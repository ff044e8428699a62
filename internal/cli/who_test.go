package cli_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/cli"
)

func TestWhoAmI(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		sudo string
		want string
	}{
		{"", me.Username + " (uid " + strconv.Itoa(os.Getuid()) + ")"},
		{"alice", me.Username + " (uid " + strconv.Itoa(os.Getuid()) + ") via sudo by alice"},
		{"ev\x1bil", me.Username + " (uid " + strconv.Itoa(os.Getuid()) + `) via sudo by ev\x1bil`},
	} {
		env := func(k string) (string, bool) {
			if k == "SUDO_USER" && tc.sudo != "" {
				return tc.sudo, true
			}
			return "", false
		}
		if got := cli.WhoAmI(env).String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// With logging to stderr there is no log to audit into: the admin's
// terminal gets only the command's own output.
func TestNoAuditToStderr(t *testing.T) {
	dir := t.TempDir()
	cfg := "rffmpeg:\n  logging:\n    log_to_file: false\n  database:\n    path: " + filepath.Join(dir, "rffmpeg.db") + "\n"
	p := filepath.Join(dir, "rffmpeg.yml")
	os.WriteFile(p, []byte(cfg), 0o644)
	vars := map[string]string{"RFFMPEG_CONFIG": p}
	for _, args := range [][]string{{"init", "--no-root", "-y"}, {"add", "--no-check", "gpu1.lan"}} {
		var out, errb lockedBuffer
		if code := cli.Main(args, testEnv(vars, &out, &errb)); code != 0 || errb.String() != "" || strings.Contains(out.String(), "Admin action") {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, code, out.String(), errb.String())
		}
	}
}
