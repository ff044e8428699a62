package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// health records checks and bad marks as the shim does: gpu1 checked
// through the hour (one check failed); gpu3 failing its checks, marked
// bad three hours ago (a timeout), two days ago (out of the day shown), and
// by a frontend whose name and reason carry control bytes.
func (f *fixture) health() {
	f.t.Helper()
	ctx := context.Background()
	owner := "jellyfin1:0123456789ab|boot|7"
	checks := []state.CheckResult{
		{HostID: 1, At: now.Add(-55 * time.Minute), Latency: 31 * time.Millisecond, OK: true},
		{HostID: 1, At: now.Add(-44 * time.Minute), Latency: 28 * time.Millisecond, OK: true},
		{HostID: 1, At: now.Add(-33 * time.Minute), Latency: time.Second, Reason: "timed out after 1s (host frozen or unreachable)"},
		{HostID: 1, At: now.Add(-32 * time.Minute), Latency: 240 * time.Millisecond, OK: true},
		{HostID: 1, At: now.Add(-21 * time.Minute), Latency: 35 * time.Millisecond, OK: true},
		{HostID: 1, At: now.Add(-10 * time.Minute), Latency: 42 * time.Millisecond, OK: true},
		{HostID: 3, At: now.Add(-3*time.Hour - time.Second), Latency: time.Second, Reason: "timed out after 1s (host frozen or unreachable)"},
		{HostID: 3, At: now.Add(-11 * time.Second), Latency: 3 * time.Millisecond, Reason: "connection refused"},
	}
	for _, m := range []struct {
		ago    time.Duration
		owner  string
		reason string
	}{
		{48 * time.Hour, owner, "connection refused"},
		{3 * time.Hour, owner, "timed out after 1s (host frozen or unreachable)"},
		{2 * time.Hour, "evil" + blink + ":x|b|1", "remote program not found (exit 127)" + clear},
	} {
		if err := f.store.MarkBad(ctx, 3, state.Claim{PID: 4100, Owner: m.owner, Now: now.Add(-m.ago)}, m.reason); err != nil {
			f.t.Fatal(err)
		}
	}
	// The checks after the marks: the last error is the last check's.
	for _, c := range checks {
		c.Owner, c.PID = owner, 4100
		if err := f.store.RecordCheck(ctx, c); err != nil {
			f.t.Fatal(err)
		}
	}
}

// The detail shows the hour's checks (a bar each, a failed one ×, the
// passed ones' min, median and max, the last one's latency beside
// "checked") and the day's bad marks (when, class, who, why), escaped,
// within 80 columns.
func TestHostDetailHealth(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool() // marks gpu3 bad 10s ago: connection refused, PID 4242
	f.health()
	f.sync()
	f.press("enter") // gpu1
	if screen := ansi.Strip(f.m.View().Content); !strings.Contains(screen, "· took 42ms") {
		t.Errorf("gpu1's detail lacks the last check's latency:\n%s", screen)
	}
	for range 10 {
		f.press("j") // below the running jobs
	}
	screen := ansi.Strip(f.m.View().Content)
	for _, want := range []string{
		"Checks, last hour (5 passed, 1 failed)",
		"min 28ms · median 35ms · max 240ms",
		"Bad marks, last day (0)",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("gpu1's detail lacks %q:\n%s", want, screen)
		}
	}
	hh := f.m.detail.hist.health
	if len(hh.checks) != 6 || len(hh.marks) != 0 {
		t.Errorf("gpu1: %d checks, %d marks; want 6, 0", len(hh.checks), len(hh.marks))
	}
	f.press("esc")
	f.keys("j", "j")
	f.press("enter") // gpu3
	golden(t, "detail-gpu3-health", f.m)
	for range 10 {
		f.press("j")
	}
	golden(t, "detail-gpu3-health-scrolled", f.m)
	raw := f.m.View().Content
	for _, seq := range []string{clear, blink} {
		if strings.Contains(raw, seq) {
			t.Errorf("%q reached the terminal", seq)
		}
	}
	screen = ansi.Strip(raw)
	for _, want := range []string{
		"Checks, last hour (0 passed, 1 failed)",
		"Bad marks, last day (3)",
		"11:59:50    connect        test PID 4242      connection refused",
		`10:00:00    remote-missing evil\x1b[5;31m PI… remote program not found (exit 12…`,
		"09:00:00    timeout        jellyfin1 PID 4100 timed out after 1s (host frozen o…",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("gpu3's detail lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "11-22") {
		t.Errorf("a mark older than a day is shown:\n%s", screen)
	}
	// A local host is never checked nor marked: no such section.
	if _, err := f.store.AddHost(context.Background(), "localhost", "here", 1, now); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.press("esc")
	f.keys("j")
	f.press("enter")
	for range 10 {
		f.press("j")
	}
	if screen := ansi.Strip(f.m.View().Content); !strings.Contains(screen, "Host here (id 4)") || strings.Contains(screen, "Checks, last hour") || strings.Contains(screen, "Bad marks") {
		t.Errorf("a local host's detail:\n%s", screen)
	}
	// Narrow: nothing wider than the window.
	f.send(tea.WindowSizeMsg{Width: 52, Height: 18})
	for i, l := range strings.Split(ansi.Strip(f.m.View().Content), "\n") {
		if w := ansi.StringWidth(l); w > 52 {
			t.Errorf("line %d is %d cells wide: %q", i, w, l)
		}
	}
}
