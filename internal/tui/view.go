package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// View renders the whole screen; only the root returns a tea.View.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "rffmpeg"
	return v
}

// fit pads or cuts s to exactly w cells (an ellipsis marks a cut).
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

func age(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func (m Model) render() string {
	now := m.cfg.Now()
	var out []string
	out = append(out, m.headerLine(now))
	footer := m.footer()
	status := m.statusLine()
	body := m.h - 1 - lipgloss.Height(footer) - 1
	if m.mode == modeForm {
		form := m.formView(m.w)
		rest := body - lipgloss.Height(form)
		out = append(out, m.hostsPane(now, max(rest, 3))...)
		out = append(out, form)
	} else {
		hostsH, procsH := m.layout(body)
		out = append(out, m.hostsPane(now, hostsH)...)
		out = append(out, m.procsPane(now, procsH)...)
		out = append(out, m.logPane(body-hostsH-procsH)...)
	}
	out = append(out, status, footer)
	s := strings.Join(out, "\n")
	// Never more lines than the window: the terminal would scroll.
	if lines := strings.Split(s, "\n"); len(lines) > m.h && m.h > 0 {
		s = strings.Join(append(lines[:m.h-2], lines[len(lines)-2:]...), "\n")
	}
	return s
}

// layout shares the body between the panes: hosts and processes get what
// they need up to a share each, the log the rest (at least 3 lines).
func (m Model) layout(body int) (hostsH, procsH int) {
	nh := max(len(m.hostRows()), 1)
	np := max(len(m.procRows()), 1)
	extra := 0
	if m.mode == modeFilter {
		extra++ // the filter line
	}
	if rows := m.procRows(); m.focus == paneProcs && m.procSel < len(rows) {
		extra += len(m.detail(rows[m.procSel].p.Cmd)) // the selected command in full
	}
	hostsH = min(2+nh, max(body*2/5, 3))
	procsH = min(2+np+extra, max((body-hostsH)*3/5, 3))
	if body-hostsH-procsH < 3 {
		procsH = max(body-hostsH-3, 2)
	}
	return hostsH, procsH
}

func (m Model) headerLine(now time.Time) string {
	v := m.view
	busy, bad, procs := 0, 0, len(v.Fallback)+len(v.Orphans)
	for _, h := range v.Hosts {
		procs += len(h.Processes)
		if len(h.Processes) > 0 {
			busy++
		}
		if h.Bad != nil {
			bad++
		}
	}
	parts := []string{m.st.header.Render("rffmpeg")}
	switch {
	case m.dbErr != nil && !m.haveAny:
		parts = append(parts, m.st.statusErr.Render("no data"))
	default:
		parts = append(parts, fmt.Sprintf("%d hosts", len(v.Hosts)), fmt.Sprintf("%d busy", busy))
		if bad > 0 {
			parts = append(parts, m.st.bad.Render(fmt.Sprintf("%d bad", bad)))
		} else {
			parts = append(parts, "0 bad")
		}
		parts = append(parts, fmt.Sprintf("%d processes", procs))
		if m.haveAny {
			parts = append(parts, m.st.dim.Render("updated "+age(now.Sub(m.loaded))+" ago"))
		}
	}
	parts = append(parts, m.st.dim.Render(m.cfg.Database))
	return fit(strings.Join(parts, m.st.dim.Render(" · ")), m.w)
}

func (m Model) title(p pane, text string) string {
	st := m.st.title
	mark := "  "
	if m.focus == p {
		st, mark = m.st.titleFocus, "▌ "
	}
	return st.Render(fit(mark+text, m.w))
}

// columns: widths that fit w, the last one taking what is left.
func columns(w int, fixed ...int) []int {
	used := 0
	for _, f := range fixed {
		used += f + 1
	}
	return append(fixed, max(w-used, 8))
}

func (m Model) row(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(fit(c, widths[i]))
	}
	return fit(b.String(), m.w)
}

func (m Model) hostsPane(now time.Time, height int) []string {
	rows := m.hostRows()
	out := []string{m.title(paneHosts, fmt.Sprintf("Hosts (%d)", len(m.view.Hosts)))}
	nameW := min(max(m.w/7, 6), 16)
	widths := columns(m.w, 3, nameW, nameW+2, 3, 9, 9)
	out = append(out, m.st.colHead.Render(m.row([]string{"ID", "NAME", "HOSTNAME", "W", "STATE", "LOAD", "BAD MARK / LAST ERROR"}, widths)))
	if len(rows) == 0 {
		msg := "no hosts: press a to add one (jobs run locally meanwhile)"
		if m.dbErr != nil && !m.haveAny {
			msg = "cannot read the state database (retrying): " + m.dbErr.Error()
			return append(out, m.st.statusErr.Render(fit(msg, m.w)))
		}
		return append(out, m.st.dim.Render(fit(msg, m.w)))
	}
	first := scrollStart(m.hostSel, len(rows), height-2)
	for i := first; i < len(rows) && len(out) < height; i++ {
		var cells []string
		state := "active"
		if r := rows[i]; r.fallback {
			cells = []string{"0", "localhost", "(fallback)", "-", "active", strconv.Itoa(len(m.view.Fallback)), ""}
		} else {
			h := r.host
			state = h.State
			note := ""
			switch {
			case h.Bad != nil:
				note = h.Bad.Reason
				if note == "" {
					note = "bad"
				}
				note += " · PID " + strconv.Itoa(h.Bad.PID)
				if !h.Bad.Created.IsZero() {
					note += " · " + age(now.Sub(h.Bad.Created)) + " ago"
				}
				if !h.BadUntil.IsZero() {
					note += " · retry in " + age(h.BadUntil.Sub(now))
				}
			case h.LastError != "":
				note = m.st.dim.Render("last: " + h.LastError + " (" + age(now.Sub(h.LastErrAt)) + " ago)")
			}
			cells = []string{strconv.FormatInt(h.ID, 10), h.Servername, h.Hostname, strconv.Itoa(h.Weight), h.State,
				fmt.Sprintf("%d (%d)", h.Load, len(h.Processes)), note}
		}
		cells[4] = m.st.state(state).Render(cells[4])
		line := m.row(cells, widths)
		if i == m.hostSel && m.focus == paneHosts {
			line = m.st.selected.Width(m.w).Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return out
}

// scrollStart keeps the selection visible in a window of n lines.
func scrollStart(sel, total, n int) int {
	if n <= 0 || total <= n {
		return 0
	}
	return min(max(sel-n+1, 0), total-n)
}

func tool(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return "?"
	}
	return f[0][strings.LastIndexByte(f[0], '/')+1:]
}

func (m Model) procsPane(now time.Time, height int) []string {
	rows := m.procRows()
	title := fmt.Sprintf("Processes (%d)", len(rows))
	if q := m.filter.Value(); q != "" && m.mode != modeFilter {
		title += m.st.dim.Render("  filter: " + q + " (/ to change, esc in it to clear)")
	}
	out := []string{m.title(paneProcs, title)}
	if m.mode == modeFilter {
		out = append(out, m.filter.View())
	}
	widths := columns(m.w, 7, min(max(m.w/6, 8), 20), 8, 6)
	out = append(out, m.st.colHead.Render(m.row([]string{"PID", "HOST", "TOOL", "AGE", "COMMAND"}, widths)))
	if len(rows) == 0 {
		return append(out, m.st.dim.Render(fit("no running processes", m.w)))
	}
	var detail []string
	if m.focus == paneProcs && m.procSel < len(rows) {
		detail = m.detail(rows[m.procSel].p.Cmd)
	}
	// The rows come first: the selected one at least, then the detail.
	if avail := height - len(out) - 1; len(detail) > avail {
		detail = detail[:max(avail, 0)]
	}
	room := height - len(out) - len(detail)
	first := scrollStart(m.procSel, len(rows), room)
	for i := first; i < len(rows) && i < first+room; i++ {
		r := rows[i]
		a := "?"
		if !r.p.Started.IsZero() {
			a = age(now.Sub(r.p.Started))
		}
		line := m.row([]string{strconv.Itoa(r.p.PID), r.host, tool(r.p.Cmd), a, r.p.Cmd}, widths)
		if i == m.procSel && m.focus == paneProcs {
			line = m.st.selected.Width(m.w).Render(line)
		}
		out = append(out, line)
	}
	return append(out, detail...)
}

// detailLines is how many lines the selected command may take in full.
const detailLines = 3

// detail is the selected process's whole command, wrapped to the width.
func (m Model) detail(cmd string) []string {
	wrapped := strings.Split(lipgloss.NewStyle().Width(max(m.w-2, 10)).Render(cmd), "\n")
	if len(wrapped) > detailLines {
		wrapped = wrapped[:detailLines]
		wrapped[detailLines-1] = fit(wrapped[detailLines-1]+" …", m.w-2)
	}
	for i, l := range wrapped {
		prefix := "  "
		if i == 0 {
			prefix = "› "
		}
		wrapped[i] = m.st.dim.Render(prefix + strings.TrimRight(l, " "))
	}
	return wrapped
}

func (m Model) logHeight() int {
	hostsH, procsH := m.layout(m.h - 4)
	return m.h - 4 - hostsH - procsH - 1
}

func (m Model) logPane(height int) []string {
	path := m.logPath
	if path == "" && m.cfg.LogPath != nil {
		path = m.cfg.LogPath(m.cfg.Now())
	}
	title := "Log"
	if path != "" {
		title += "  " + m.st.dim.Render(path)
	}
	if m.logScroll > 0 {
		title += m.st.dim.Render(fmt.Sprintf("  (%d lines back, pgdn to follow)", m.logScroll))
	}
	out := []string{m.title(paneLog, title)}
	n := height - 1
	if n <= 0 {
		return out[:max(height, 0)]
	}
	if len(m.logLines) == 0 {
		msg := "nothing logged yet"
		if path == "" {
			msg = "rffmpeg logs to stderr (logging.log_to_file: false): no file to follow"
		}
		return append(out, m.st.dim.Render(fit(msg, m.w)))
	}
	end := len(m.logLines) - m.logScroll
	for _, l := range m.logLines[max(end-n, 0):end] {
		st := lipgloss.NewStyle()
		switch {
		case strings.Contains(l, " - ERROR - "):
			st = m.st.bad
		case strings.Contains(l, " - WARNING - "):
			st = m.st.draining
		case strings.Contains(l, " - DEBUG - "):
			st = m.st.dim
		}
		out = append(out, st.Render(fit(l, m.w)))
	}
	return out
}

func (m Model) statusLine() string {
	switch {
	case m.mode == modeConfirm:
		return m.st.confirm.Render(fit(m.confirmText, m.w))
	case m.mode == modeWeight:
		return m.weightIn.View() + m.st.dim.Render("  enter: set · esc: cancel")
	case m.status != "" && m.statusErr:
		return m.st.statusErr.Render(fit("✗ "+m.status, m.w))
	case m.status != "":
		return m.st.status.Render(fit("✓ "+m.status, m.w))
	case m.dbErr != nil && m.haveAny:
		return m.st.statusErr.Render(fit("✗ database: "+m.dbErr.Error()+" (showing the last data; retrying)", m.w))
	}
	return ""
}

func (m Model) footer() string {
	switch m.mode {
	case modeForm:
		return m.st.dim.Render("enter next field / add · tab, shift+tab move · esc cancel")
	case modeConfirm:
		return m.st.dim.Render("y or enter: yes · n or esc: no")
	case modeFilter:
		return m.st.dim.Render("type to filter · enter keep · esc clear")
	}
	if m.help.ShowAll {
		return m.help.FullHelpView(m.keys.FullHelp()) + "\n" + m.st.dim.Render("any key: back")
	}
	return m.help.ShortHelpView(m.keys.ShortHelp())
}
