package tui

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

func hostNames(m Model) []string {
	var out []string
	for _, r := range m.hosts.rows(m.view) {
		if r.fallback {
			out = append(out, "fallback")
		} else {
			out = append(out, r.host.Servername)
		}
	}
	return out
}

func procPIDs(m Model) []int {
	var out []int
	for _, r := range m.procs.rows(m.view) {
		out = append(out, r.p.PID)
	}
	return out
}

// s sorts the focused table by its next column, S reverses; the fallback
// row stays last; the selection stays on its host, and a key acts on the
// row shown selected, whatever the order.
func TestSortByColumn(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	hosts := []struct {
		keys []string
		want []string
	}{
		{[]string{"s"}, []string{"gpu1", "gpu2", "gpu3", "fallback"}},      // ID
		{[]string{"s", "S"}, []string{"gpu3", "gpu2", "gpu1", "fallback"}}, // NAME, reversed
		{[]string{"s", "s"}, []string{"gpu2", "gpu3", "gpu1", "fallback"}}, // W (stable)
	}
	for _, c := range hosts {
		f.keys(c.keys...)
		if got := hostNames(f.m); !slices.Equal(got, c.want) {
			t.Errorf("after %v: %v, want %v", c.keys, got, c.want)
		}
	}
	f.keys("s", "s", "s", "s") // JOBS, TAGS, then the natural order
	if got := hostNames(f.m); !slices.Equal(got, []string{"gpu1", "gpu2", "gpu3", "fallback"}) || f.m.hosts.sort.col != -1 {
		t.Errorf("back to the natural order: %v, sort %+v", got, f.m.hosts.sort)
	}
	f.keys("s", "s", "S") // NAME, reversed: gpu1, selected, moves to the third row
	golden(t, "sorted", f.m)
	if f.m.hosts.sel != 2 {
		t.Errorf("selection did not follow gpu1: row %d", f.m.hosts.sel)
	}
	f.press("x")
	h, err := f.store.Host(context.Background(), 1)
	if err != nil || !h.Drain {
		t.Errorf("x on the selected row (gpu1) after sorting: %+v, %v", h, err)
	}
	f.keys("tab")
	procs := []struct {
		keys []string
		want []int
	}{
		{[]string{"s"}, []int{4301, 4310, 4322, 4400}},           // PID
		{[]string{"S"}, []int{4400, 4322, 4310, 4301}},           // PID, reversed
		{[]string{"s", "s", "s"}, []int{4310, 4400, 4322, 4301}}, // AGE, youngest first
	}
	for _, c := range procs {
		f.keys(c.keys...)
		if got := procPIDs(f.m); !slices.Equal(got, c.want) {
			t.Errorf("processes after %v: %v, want %v", c.keys, got, c.want)
		}
	}
	if head := ansi.Strip(f.m.View().Content); !strings.Contains(head, "AGE ▲") {
		t.Errorf("sorted column not marked:\n%s", head)
	}
}

// In the log pane, / searches and l raises the lowest level shown.
func TestLogSearchAndLevel(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.sync()
	f.keys("tab", "tab")
	shown := func() []string {
		var out []string
		for _, l := range f.m.log.shown() {
			out = append(out, l[strings.LastIndex(l, " - ")+3:])
		}
		return out
	}
	steps := []struct {
		keys []string
		want []string
	}{
		{nil, []string{"Starting rffmpeg as ffmpeg with args: -version", "Marking host gpu3.lan (gpu3) as bad due to retcode 255: connection refused", "Finished rffmpeg with return code 0"}},
		{[]string{"l", "l"}, []string{"Marking host gpu3.lan (gpu3) as bad due to retcode 255: connection refused"}}, // WARNING and above
		{[]string{"l", "l"}, []string{"Starting rffmpeg as ffmpeg with args: -version", "Marking host gpu3.lan (gpu3) as bad due to retcode 255: connection refused", "Finished rffmpeg with return code 0"}},
		{[]string{"/", "F", "I", "N", "I", "S", "H", "enter"}, []string{"Finished rffmpeg with return code 0"}}, // case-insensitive
	}
	for _, s := range steps {
		f.keys(s.keys...)
		if got := shown(); !slices.Equal(got, s.want) {
			t.Errorf("after %v: %q, want %q", s.keys, got, s.want)
		}
	}
	f.keys("l", "l", "l") // ERROR only, and the search: nothing matches
	golden(t, "log-filtered", f.m)
	if len(f.m.log.shown()) != 0 {
		t.Errorf("shown %q", f.m.log.shown())
	}
	f.keys("/", "esc") // esc clears the search
	if f.m.log.search.value() != "" || len(f.m.log.shown()) != 1 {
		t.Errorf("after esc: search %q, shown %q", f.m.log.search.value(), f.m.log.shown())
	}
}

// A host added or removed by someone else does not move the selection to
// another host: it follows its host (or its process).
func TestSelectionFollowsItsRow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.keys("s", "s")                                                        // by name
	f.keys("j")                                                             // gpu2
	f.keys("tab", "j", "j")                                                 // process 4322
	if _, err := f.store.AddHost(ctx, "a.lan", "aaa", 1, now); err != nil { // sorts first
		t.Fatal(err)
	}
	if _, err := f.store.ClearByKey(ctx, state.HostKey{ID: 1, Servername: "gpu1"}, false); err != nil { // its 2 jobs go
		t.Fatal(err)
	}
	f.sync()
	r, _ := f.m.hosts.selected(f.m.view)
	if r.host == nil || r.host.Servername != "gpu2" {
		t.Errorf("selected host %+v, want gpu2", r.host)
	}
	if rows := f.m.procs.rows(f.m.view); rows[f.m.procs.sel].p.PID != 4322 {
		t.Errorf("selected process %d, want 4322", rows[f.m.procs.sel].p.PID)
	}
}
