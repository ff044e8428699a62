package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// A click on any screen line selects the row drawn there, and only that:
// clicking every line of several layouts (a focused pane's full-text
// detail, a scrolled narrow window) checks the hit test against the render.
func TestMouseClickSelectsTheRowUnderIt(t *testing.T) {
	layouts := []struct {
		name string
		w, h int
		keys []string
	}{
		{"hosts", 80, 24, nil},
		{"bad host with its detail", 80, 24, []string{"j", "j"}},
		{"processes with the command", 80, 24, []string{"tab", "j"}},
		{"narrow, scrolled", 52, 18, []string{"tab", "j", "j", "j"}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			f := newFixture(t, l.w, l.h)
			f.busyPool()
			f.sync()
			f.keys(l.keys...)
			hosts, procs := f.m.hosts.rows(f.m.view), f.m.procs.rows(f.m.view)
			clicked := 0
			for y, line := range strings.Split(ansi.Strip(f.m.View().Content), "\n") {
				next := f.m.mouse(tea.MouseClickMsg{X: 3, Y: y, Button: tea.MouseLeft})
				wantPane, wantHost, wantProc := next.focus, f.m.hosts.sel, f.m.procs.sel
				for i, r := range hosts {
					id, name := "0", "localhost"
					if !r.fallback {
						id, name = fmt.Sprint(r.host.ID), r.host.Servername
					}
					// Names may be cut to fit: their first letters.
					if strings.HasPrefix(line, fmt.Sprintf("%-3s %s", id, name[:min(len(name), 4)])) {
						wantPane, wantHost = paneHosts, i
					}
				}
				for i, r := range procs {
					if strings.HasPrefix(line, fmt.Sprintf("%-7d ", r.p.PID)) {
						wantPane, wantProc = paneProcs, i
					}
				}
				if wantHost != f.m.hosts.sel || wantProc != f.m.procs.sel {
					clicked++
				}
				if next.focus != wantPane || next.hosts.sel != wantHost || next.procs.sel != wantProc {
					t.Errorf("click on line %d %q: pane %d host %d process %d, want pane %d host %d process %d",
						y, line, next.focus, next.hosts.sel, next.procs.sel, wantPane, wantHost, wantProc)
				}
			}
			if clicked == 0 {
				t.Error("no click changed the selection")
			}
		})
	}
}

// The wheel moves the selection of the pane under the pointer.
func TestMouseWheel(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.m = f.m.mouse(tea.MouseWheelMsg{Y: 10, Button: tea.MouseWheelDown}) // a process row
	f.m = f.m.mouse(tea.MouseWheelMsg{Y: 10, Button: tea.MouseWheelDown})
	if f.m.focus != paneProcs || f.m.procs.sel != 2 {
		t.Errorf("wheel down twice over the processes: pane %d, selection %d", f.m.focus, f.m.procs.sel)
	}
}
