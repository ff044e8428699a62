package tui

import (
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// mouse handles the main view's mouse: a left click on a pane focuses it and
// selects the row under the pointer; the wheel moves the selection (or
// scrolls the log) of the pane under the pointer, and scrolls the detail,
// the history and the doctor's report.
func (m Model) mouse(msg tea.MouseMsg) Model {
	if w, ok := msg.(tea.MouseWheelMsg); ok && !m.help.shown && (m.mode == modeDetail || m.mode == modeHistory || m.mode == modeDoctor) {
		// The views that take the whole body scroll with the wheel.
		switch w.Button {
		case tea.MouseWheelUp:
			m.scrollView(-1)
		case tea.MouseWheelDown:
			m.scrollView(1)
		}
		return m
	}
	if m.mode != modeNormal || m.help.shown {
		return m
	}
	ev := msg.Mouse()
	p, row, ok := m.hit(ev.Y)
	if !ok {
		return m
	}
	switch msg.(type) {
	case tea.MouseClickMsg:
		if ev.Button != tea.MouseLeft {
			return m
		}
		m.focus = p
		switch {
		case row >= 0 && p == paneHosts:
			m.hosts.choose(m.view, row)
		case row >= 0 && p == paneProcs:
			m.procs.choose(m.procs.rows(m.view), row)
		}
	case tea.MouseWheelMsg:
		m.focus = p
		switch ev.Button {
		case tea.MouseWheelUp:
			m.move(-1)
		case tea.MouseWheelDown:
			m.move(1)
		}
	}
	return m
}

// hit finds the pane at screen line y and, on a table row, the row's index
// (-1 elsewhere in the pane). It lays the screen out as render does.
func (m Model) hit(y int) (p pane, row int, ok bool) {
	f := m.frame()
	body := m.h - 1 - len(m.statusLines(f)) - lipgloss.Height(m.footer())
	hostsH, procsH := m.layout(f, body)
	y-- // the header
	switch {
	case y < 0 || y >= body:
		return 0, -1, false
	case y < hostsH:
		viewH := hostsH - len(m.hostsDetail(f, hostsH))
		n := len(m.hosts.rows(m.view))
		first := scrollStart(m.hosts.sel, n, viewH-2)
		return paneHosts, rowAt(y-2, first, min(n-first, viewH-2)), true
	case y < hostsH+procsH:
		y -= hostsH
		rows := m.procs.rows(m.view)
		_, first, room := m.procs.window(f, rows, procsH-2, m.focus == paneProcs)
		return paneProcs, rowAt(y-2, first, min(len(rows)-first, room)), true
	}
	return paneLog, -1, true
}

// rowAt is the row at line i of a table showing count rows from first.
func rowAt(i, first, count int) int {
	if i < 0 || i >= count {
		return -1
	}
	return first + i
}
