package tui

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// With NO_COLOR (Bubble Tea reports the ASCII profile) the selected row is
// in reverse video, which survives dropping the colours; a background
// colour would not, and the selection would vanish.
func TestNoColorSelectionVisible(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.send(tea.ColorProfileMsg{Profile: colorprofile.ASCII})
	f.keys("j")
	var out bytes.Buffer
	w := &colorprofile.Writer{Forward: &out, Profile: colorprofile.ASCII}
	w.WriteString(f.m.View().Content)
	got := out.String()
	path := filepath.Join("testdata", "nocolor.golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("differs from %s:\n%q", path, got)
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.Contains(ansi.Strip(l), "gpu2.lan") {
			if !strings.Contains(l, "\x1b[7m") {
				t.Errorf("selected row not in reverse video: %q", l)
			}
			return
		}
	}
	t.Error("no gpu2 row")
}

// At 80×24 a long error keeps its cause: the status line wraps instead of
// cutting it, and the selected host's bad mark is shown in full under the
// table.
func TestErrorsKeepTheirCause(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.keys("j", "j") // gpu3, the bad host
	cause := "permission denied (is the database owned by jellyfin?)"
	f.send(dbErrMsg{err: errors.New("read state: open /var/lib/rffmpeg/rffmpeg.db: " + cause)})
	golden(t, "errors-80x24", f.m)
	screen := strings.Join(strings.Fields(ansi.Strip(f.m.View().Content)), " ")
	for _, want := range []string{cause, "connection refused · by PID 4242 · 10s ago · retry in 50s"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lost %q", want)
		}
	}
}

// Wide enough, log lines are shown whole; narrower, date, milliseconds and
// PID give way to the message.
func TestLogColumns(t *testing.T) {
	f := newFixture(t, 130, 20)
	f.sync()
	golden(t, "wide", f.m)
	line := "2026-11-24 11:59:50,130 - rffmpeg[4242] - ERROR - Marking host gpu3.lan (gpu3) as bad"
	for _, c := range []struct {
		w    int
		want string
	}{
		{130, line},
		{80, "11:59:50 ERROR Marking host gpu3.lan (gpu3) as bad"},
		{80, "not rffmpeg's format: shown as it is"},
	} {
		in := line
		if strings.HasPrefix(c.want, "not") {
			in = c.want
		}
		if got := strings.TrimRight(ansi.Strip(logView(f.m.st, in, c.w)), " "); got != c.want {
			t.Errorf("width %d: %q, want %q", c.w, got, c.want)
		}
	}
}
