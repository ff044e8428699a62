package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFormatMatchesOriginal(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 11, 24, 9, 5, 7, 42e6, time.Local)
	l := New(Options{Stderr: &buf, PID: 4242, Now: func() time.Time { return at }})
	l.Infof("Finished rffmpeg with return code %d", 0)
	l.Debugf("hidden")
	if got, want := buf.String(), "2026-11-24 09:05:07,042 - rffmpeg[4242] - INFO - Finished rffmpeg with return code 0\n"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDatedFileAndDebug(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	l := New(Options{ToFile: true, Dated: true, DatedDir: dir, Debug: true, Now: func() time.Time { return at }})
	l.Debugf("chose host %q", "gpu1")
	l.Warnf("w")
	l.Close()
	b, err := os.ReadFile(filepath.Join(dir, "20260102_rffmpeg.log"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^2026-01-02 03:04:05,000 - rffmpeg\[\d+\] - (DEBUG|WARNING) - `)
	if n := len(re.FindAllString(string(b), -1)); n != 2 {
		t.Errorf("log %q: %d matching lines, want 2", b, n)
	}
}

func TestUnwritableLogIsNotFatal(t *testing.T) {
	l := New(Options{ToFile: true, File: "/nonexistent-dir/rffmpeg.log"})
	l.Errorf("x")
	if l.Err() == nil || !strings.Contains(l.Err().Error(), "nonexistent-dir") {
		t.Errorf("Err = %v", l.Err())
	}
}

// A message is one line whatever its arguments hold: a newline in an
// argument cannot forge a line, terminal sequences come out inert.
func TestMessagesAreOneLine(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 5, 7, 42e6, time.Local)
	for _, tt := range []struct{ arg, want string }{
		{"a.mkv\n2026-11-24 09:05:07,042 - rffmpeg[1] - INFO - Finished rffmpeg with return code 0",
			`a.mkv\n2026-11-24 09:05:07,042 - rffmpeg[1] - INFO - Finished rffmpeg with return code 0`},
		{"x\r\x1b]0;pwned\x07\x1b[2J", `x\r\x1b]0;pwned\x07\x1b[2J`},
		{"ünï ✓ tab\there", `ünï ✓ tab\there`},
	} {
		var buf bytes.Buffer
		l := New(Options{Stderr: &buf, PID: 4242, Now: func() time.Time { return at }})
		l.Infof("Starting rffmpeg as ffmpeg with args: %s", tt.arg)
		want := "2026-11-24 09:05:07,042 - rffmpeg[4242] - INFO - Starting rffmpeg as ffmpeg with args: " + tt.want + "\n"
		if got := buf.String(); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
}
