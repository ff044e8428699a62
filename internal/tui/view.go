package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// View renders the whole screen; only the root returns a tea.View.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	// Clicks select rows and the wheel moves; text can still be selected
	// with shift held, as in most terminal applications.
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "rffmpeg"
	return v
}

// frame is what every child's view shares: styles, width, the time, and
// whether the screen is read-only.
type frame struct {
	st       styles
	w        int
	now      time.Time
	readOnly bool
}

func (m Model) frame() frame {
	return frame{st: m.st, w: m.w, now: m.cfg.Now(), readOnly: m.cfg.ReadOnly}
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

func (f frame) title(focused bool, text string) string {
	st, mark := f.st.title, "  "
	if focused {
		st, mark = f.st.titleFocus, "▌ "
	}
	return st.Render(fit(mark+text, f.w))
}

// columns: widths that fit w, the last one taking what is left.
func columns(w int, fixed ...int) []int {
	used := 0
	for _, f := range fixed {
		used += f + 1
	}
	return append(fixed, max(w-used, 8))
}

func (f frame) row(cells []string, widths []int) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(fit(c, widths[i]))
	}
	return fit(b.String(), f.w)
}

// detailLines is how many lines a selected row's full text may take.
const detailLines = 3

// detail wraps already escaped text to the width, under a selected row.
func (f frame) detail(text string) []string {
	wrapped := wrap(text, max(f.w-2, 10), detailLines)
	for i, l := range wrapped {
		prefix := "  "
		if i == 0 {
			prefix = "› "
		}
		wrapped[i] = f.st.dim.Render(prefix + l)
	}
	return wrapped
}

// wrapErr is an error message in as many lines as it needs (at most
// detailLines), so its cause is not cut at the right edge.
func (f frame) wrapErr(text string) []string {
	lines := wrap(escape.Line(text), f.w, detailLines)
	for i, l := range lines {
		lines[i] = f.st.statusErr.Render(fit(l, f.w))
	}
	return lines
}

// wrap breaks s into lines of at most w cells, at most n of them (the last
// one ends with … when something was left out).
func wrap(s string, w, n int) []string {
	lines := strings.Split(lipgloss.NewStyle().Width(w).Render(s), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] = ansi.Truncate(lines[n-1]+" …", w, "…")
	}
	return lines
}

// scrollStart keeps the selection visible in a window of n lines.
func scrollStart(sel, total, n int) int {
	if n <= 0 || total <= n {
		return 0
	}
	return min(max(sel-n+1, 0), total-n)
}

func (m Model) render() string {
	f := m.frame()
	status := m.statusLines(f)
	footer := m.footer()
	body := m.h - 1 - len(status) - lipgloss.Height(footer)
	out := []string{m.headerLine(f)}
	switch {
	case m.help.shown:
		out = append(out, m.help.view(f, m.mainKeys(), body)...)
	case m.mode == modeDetail:
		out = append(out, m.detail.view(f, m.view, body)...)
	case m.mode == modeHistory:
		out = append(out, m.hist.view(f, body)...)
	case m.mode == modeDoctor:
		out = append(out, m.doc.view(f, body)...)
	case m.mode == modeForm:
		form := m.form.view(m.st, m.w, f.now)
		out = append(out, m.hostsPane(f, max(body-lipgloss.Height(form), 3))...)
		out = append(out, form)
	default:
		hostsH, procsH := m.layout(f, body)
		out = append(out, m.hostsPane(f, hostsH)...)
		out = append(out, m.procs.view(f, m.view, procsH, m.focus == paneProcs)...)
		out = append(out, m.log.view(f, m.logPathNow(), body-hostsH-procsH, m.focus == paneLog)...)
	}
	lines := strings.Split(strings.Join(out, "\n"), "\n")
	// Never more lines than the window (the terminal would scroll): the body
	// gives way, the status and footer stay.
	if keep := m.h - len(status) - lipgloss.Height(footer); len(lines) > keep && keep > 0 {
		lines = lines[:keep]
	}
	return strings.Join(append(append(lines, status...), footer), "\n")
}

// mainKeys is the keymap as enabled for the main view (behind the help).
func (m Model) mainKeys() keyMap {
	m.help.shown = false
	r, ok := m.hosts.selected(m.view)
	m.keys.enable(m.keyContext(r, ok))
	return m.keys
}

func (m Model) logPathNow() string {
	if m.cfg.LogPath == nil {
		return ""
	}
	return m.cfg.LogPath(m.cfg.Now())
}

// hostsPane is the hosts table with, when the hosts pane has the focus, the
// selected host's bad mark or last error in full under it.
func (m Model) hostsPane(f frame, height int) []string {
	focused := m.focus == paneHosts
	var dbErr error
	if !m.haveAny {
		dbErr = m.dbErr
	}
	detail := m.hostsDetail(f, height)
	return append(m.hosts.view(f, m.view, height-len(detail), focused, dbErr), detail...)
}

// hostsDetail is the selected host's note in full, as much as fits under a
// hosts pane of height lines.
func (m Model) hostsDetail(f frame, height int) []string {
	if m.focus != paneHosts {
		return nil
	}
	r, ok := m.hosts.selected(m.view)
	detail := hostDetail(f, r, ok)
	return detail[:min(len(detail), max(height-3, 0))]
}

// layout shares the body between the panes: hosts and processes get what
// they need up to a share each, the log the rest (at least 3 lines).
func (m Model) layout(f frame, body int) (hostsH, procsH int) {
	nh := max(len(m.hosts.rows(m.view)), 1)
	if r, ok := m.hosts.selected(m.view); ok && m.focus == paneHosts {
		nh += len(hostDetail(f, r, ok))
	}
	np := max(len(m.procs.rows(m.view)), 1) + m.procs.extra(f, m.view, m.focus == paneProcs)
	hostsH = min(2+nh, max(body*2/5, 3))
	procsH = min(2+np, max((body-hostsH)*3/5, 3))
	if body-hostsH-procsH < 3 {
		procsH = max(body-hostsH-3, 2)
	}
	return hostsH, procsH
}

// bodyHeight is how many lines the body has between the header and the
// status line.
func (m Model) bodyHeight() int {
	return m.h - 1 - len(m.statusLines(m.frame())) - lipgloss.Height(m.footer())
}

// logHeight is how many log lines show, for paging.
func (m Model) logHeight() int {
	f := m.frame()
	body := m.h - 1 - len(m.statusLines(f)) - lipgloss.Height(m.footer())
	hostsH, procsH := m.layout(f, body)
	return body - hostsH - procsH - 1
}

func (m Model) headerLine(f frame) string {
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
	if m.cfg.ReadOnly {
		parts = append(parts, m.st.dim.Render("read-only"))
	}
	if m.dbErr != nil && !m.haveAny {
		parts = append(parts, m.st.statusErr.Render("no data"))
	} else {
		badText := fmt.Sprintf("%d bad", bad)
		if bad > 0 {
			badText = m.st.bad.Render(badText)
		}
		parts = append(parts, plural(len(v.Hosts), "host"), fmt.Sprintf("%d busy", busy), badText, plural(procs, "process"))
		if len(v.Queue) > 0 {
			parts = append(parts, m.st.draining.Render(fmt.Sprintf("%d queued", len(v.Queue))))
		}
		if m.haveAny {
			parts = append(parts, m.st.dim.Render("updated "+age(f.now.Sub(m.loaded))+" ago"))
		}
	}
	parts = append(parts, m.st.dim.Render(escape.Line(m.cfg.Database)))
	return fit(strings.Join(parts, m.st.dim.Render(" · ")), m.w)
}

// statusLines is the line above the footer: a question, an input, or the
// last write's result. An error takes up to three lines rather than losing
// its cause at the right edge.
func (m Model) statusLines(f frame) []string {
	switch {
	case m.mode == modeConfirm:
		return m.confirm.view(m.st, m.w)
	case m.mode == modeWeight:
		return []string{fit(m.weight.view(m.st), m.w)}
	case m.mode == modeProp && m.prop.err != "":
		return append([]string{fit(m.prop.view(m.st), m.w)}, f.wrapErr("✗ "+m.prop.err)...)
	case m.mode == modeProp:
		return []string{fit(m.prop.view(m.st), m.w)}
	case m.status != "" && m.statusErr:
		return f.wrapErr("✗ " + m.status)
	case m.status != "" && m.statusWarn:
		lines := wrap("⚠ "+escape.Line(m.status), m.w, detailLines)
		for i, l := range lines {
			lines[i] = m.st.draining.Render(fit(l, m.w))
		}
		return lines
	case m.status != "":
		return []string{m.st.status.Render(fit("✓ "+escape.Line(m.status), m.w))}
	case m.dbErr != nil && m.haveAny:
		return f.wrapErr("✗ database: " + m.dbErr.Error() + " (showing the last data; retrying)")
	case len(m.warnings) > 0:
		w := "⚠ " + escape.Line(m.warnings[0])
		if n := len(m.warnings) - 1; n > 0 {
			w += fmt.Sprintf(" (+%d more: rffmpeg status)", n)
		}
		return []string{m.st.draining.Render(fit(w, m.w))}
	}
	return []string{""}
}

// footer is the keys that work now, generated from the keymap. When they
// do not all fit, the least important give way, never "? all keys" and
// "q quit" (the last two), so the way to every key stays on screen.
func (m Model) footer() string {
	var items []string
	for _, b := range m.keys.ShortHelp() {
		if b.Enabled() {
			items = append(items, b.Help().Key+" "+m.st.dim.Render(b.Help().Desc))
		}
	}
	sep := m.st.dim.Render(" • ")
	for len(items) > 2 && ansi.StringWidth(strings.Join(items, sep)) > m.w {
		items = append(items[:len(items)-3], items[len(items)-2:]...)
	}
	return fit(strings.Join(items, sep), m.w)
}
