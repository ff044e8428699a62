package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/cli"
)

// logSetup writes a configuration whose log is in a temporary directory,
// with dated files when dated is set.
func logSetup(t *testing.T, dated bool) (vars map[string]string, dir string) {
	dir = t.TempDir()
	cfg := "rffmpeg:\n  logging:\n    logfile: " + filepath.Join(dir, "rffmpeg.log") + "\n"
	if dated {
		cfg += "    datedlogfiles: true\n    datedlogdir: " + dir + "\n"
	}
	p := filepath.Join(dir, "rffmpeg.yml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"RFFMPEG_CONFIG": p}, dir
}

const hostile = "2026-03-01 12:00:00,000 - rffmpeg[1] - INFO - Starting rffmpeg as ffmpeg with args: -i \x1b]0;pwned\x07\x1b[2J\r\x9bx.mkv\n"

func TestLogEscapes(t *testing.T) {
	vars, dir := logSetup(t, false)
	os.WriteFile(filepath.Join(dir, "rffmpeg.log"), []byte("first\tline\n"+hostile+"partial"), 0o644)
	want := "first\tline\n" + `2026-03-01 12:00:00,000 - rffmpeg[1] - INFO - Starting rffmpeg as ffmpeg with args: -i \x1b]0;pwned\x07\x1b[2J\r\x9bx.mkv` + "\npartial"
	for _, tc := range []struct {
		name   string
		tty    bool
		pager  string
		prefix string
	}{
		{"pipe", false, "", ""},
		{"pager", true, "sed 's/^/> /'", "> "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb lockedBuffer
			env := testEnv(vars, &out, &errb)
			vars["PAGER"] = tc.pager
			env.StdoutTTY = tc.tty
			if code := cli.Main([]string{"log"}, env); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			want := tc.prefix + strings.ReplaceAll(want, "\n", "\n"+tc.prefix)
			if got := out.String(); got != want {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}

func TestLogMissingFile(t *testing.T) {
	vars, _ := logSetup(t, false)
	var out, errb lockedBuffer
	if code := cli.Main([]string{"log"}, testEnv(vars, &out, &errb)); code != 1 || !strings.HasPrefix(errb.String(), "rffmpeg: log file: open ") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// log -f: only what is written from now on, escaped, whole lines, on to the
// next day's dated file at midnight, until interrupted (exit 0).
func TestLogFollow(t *testing.T) {
	vars, dir := logSetup(t, true)
	day1 := filepath.Join(dir, "20260301_rffmpeg.log")
	os.WriteFile(day1, []byte("old line\n"), 0o644)
	now := make(chan time.Time, 1)
	clock := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	var out, errb lockedBuffer
	env := testEnv(vars, &out, &errb)
	env.Now = func() time.Time {
		select {
		case clock = <-now:
		default:
		}
		return clock
	}
	ctx, cancel := context.WithCancel(context.Background())
	env.Interrupted = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	done := make(chan int)
	go func() { done <- cli.Main([]string{"log", "-f"}, env) }()

	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("log -f output %q lacks %q", out.String(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // let it take its starting offset
	f, _ := os.OpenFile(day1, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(hostile + "half")
	waitOut(`\x1b]0;pwned\x07\x1b[2J\r\x9bx.mkv` + "\n")
	if strings.Contains(out.String(), "half") || strings.Contains(out.String(), "old line") {
		t.Errorf("log -f showed a partial or an old line: %q", out.String())
	}
	f.WriteString(" done\n")
	f.Close()
	waitOut("half done\n")

	// Midnight: the next day's file, read from its start.
	os.WriteFile(filepath.Join(dir, "20260302_rffmpeg.log"), []byte("next day\n"), 0o644)
	now <- time.Date(2026, 3, 2, 0, 0, 1, 0, time.UTC)
	waitOut("next day\n")

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("log -f ended with %d: %s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("log -f did not end when interrupted")
	}
	if strings.ContainsAny(out.String(), "\x1b\x07\r") {
		t.Errorf("raw control bytes reached the terminal: %q", out.String())
	}
}
