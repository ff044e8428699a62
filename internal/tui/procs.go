package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// procRow is a row of the processes pane: a running process, or a call
// waiting in the queue for capacity (queued: its place, 1 is next; its p
// carries the waiter's PID, command and since, and minus its queue row id
// as ID, so the selection can follow it without meeting a process id).
type procRow struct {
	p      state.Process
	host   string
	queued int
}

// procsPane is the processes table, its selection, sort and filter. The
// selection follows its process (picked, a row id) as rows come and go.
type procsPane struct {
	sel    int
	picked int64
	sort   sortOrder
	filter filterInput
	// progress is the running jobs' last recorded progress (remote jobs;
	// see state.JobProgress), shown before the command.
	progress   map[int64]state.JobProgress
	stallAfter time.Duration
}

// progressOf is how far job p got, for the command column: "1.50× 00:01:05 ",
// "STALLED 00:01:05 ", "killing " while a kill is pending, "" when unknown.
func (p procsPane) progressOf(now time.Time, pr state.Process) string {
	jp, ok := p.progress[pr.ID]
	if !ok || jp.PID != pr.PID {
		return ""
	}
	var parts []string
	if jp.KillBy != "" {
		parts = append(parts, "killing")
	}
	if jp.HasProgress() {
		if jp.Stalled(now, p.stallAfter) {
			parts = append(parts, "STALLED")
		} else {
			parts = append(parts, fmt.Sprintf("%.2f×", jp.Speed))
		}
		if jp.HasPosition {
			parts = append(parts, jp.Clock())
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " ") + " "
}

// rows lists the processes that pass the filter: hosts' first, then the
// fallback's, then those of removed hosts, in the chosen sort; then the
// calls waiting for capacity, oldest first whatever the sort (the queue's
// order is the order they will run in).
func (p procsPane) rows(v selector.View) []procRow {
	var rows []procRow
	for _, h := range v.Hosts {
		for _, pr := range h.Processes {
			rows = append(rows, procRow{p: pr, host: h.Servername})
		}
	}
	for _, pr := range v.Fallback {
		rows = append(rows, procRow{p: pr, host: "localhost (fallback)"})
	}
	for _, pr := range v.Orphans {
		rows = append(rows, procRow{p: pr, host: "(removed host)"})
	}
	applySort(p.sort, rows, procSorts)
	for i, w := range v.Queue {
		what := "queued #" + strconv.Itoa(i+1)
		rows = append(rows, procRow{p: state.Process{ID: -w.ID, PID: w.PID, Cmd: w.Cmd, Started: w.Since}, host: what, queued: i + 1})
	}
	q := strings.ToLower(strings.TrimSpace(p.filter.value()))
	if q == "" {
		return rows
	}
	var out []procRow
	for _, r := range rows {
		if strings.Contains(strings.ToLower(fmt.Sprintf("%d %s %s", r.p.PID, r.host, r.p.Cmd)), q) {
			out = append(out, r)
		}
	}
	return out
}

// clamp keeps the selection on its process, or inside the table when that
// process is gone or filtered out.
func (p *procsPane) clamp(v selector.View) {
	rows := p.rows(v)
	for i, r := range rows {
		if p.picked != 0 && r.p.ID == p.picked {
			p.sel = i
			break
		}
	}
	p.choose(rows, p.sel)
}

// choose selects row i of rows (the user moved or clicked).
func (p *procsPane) choose(rows []procRow, i int) {
	p.sel = min(max(i, 0), max(len(rows)-1, 0))
	p.picked = 0
	if p.sel < len(rows) {
		p.picked = rows[p.sel].p.ID
	}
}

// extra is how many lines the pane needs beyond its rows: the filter input
// and the selected command in full.
func (p procsPane) extra(f frame, v selector.View, focused bool) int {
	n := 0
	if p.filter.editing {
		n++
	}
	if rows := p.rows(v); focused && p.sel < len(rows) {
		n += len(f.detail(escape.Line(rows[p.sel].p.Cmd)))
	}
	return n
}

func tool(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return "?"
	}
	return f[0][strings.LastIndexByte(f[0], '/')+1:]
}

// window is what the rows part of the pane (height lines under the titles)
// shows: the selected command in full, the first row and how many rows.
func (p procsPane) window(f frame, rows []procRow, height int, focused bool) (detail []string, first, room int) {
	if focused && p.sel < len(rows) {
		detail = f.detail(escape.Line(rows[p.sel].p.Cmd))
	}
	// The rows come first: the selected one at least, then the detail.
	if avail := height - 1; len(detail) > avail {
		detail = detail[:max(avail, 0)]
	}
	room = height - len(detail)
	return detail, scrollStart(p.sel, len(rows), room), room
}

func (p procsPane) view(f frame, v selector.View, height int, focused bool) []string {
	rows := p.rows(v)
	queued := 0
	for _, r := range rows {
		if r.queued > 0 {
			queued++
		}
	}
	title := fmt.Sprintf("Processes (%d)", len(rows)-queued)
	if queued > 0 {
		title = fmt.Sprintf("Processes (%d running, %d queued)", len(rows)-queued, queued)
	}
	if q := p.filter.value(); q != "" && !p.filter.editing {
		title += f.st.dim.Render("  filter: " + escape.Line(q) + " (/ to change, esc in it to clear)")
	}
	out := []string{f.title(focused, title)}
	if p.filter.editing {
		out = append(out, p.filter.view())
	}
	widths := columns(f.w, 7, min(max(f.w/6, 8), 20), 8, 6)
	out = append(out, f.st.colHead.Render(f.row(p.sort.header([]string{"PID", "HOST", "TOOL", "AGE", "COMMAND"}), widths)))
	if len(rows) == 0 {
		return append(out, f.st.dim.Render(fit("no running processes", f.w)))
	}
	detail, first, room := p.window(f, rows, height-len(out), focused)
	for i := first; i < len(rows) && i < first+room; i++ {
		r := rows[i]
		a := "?"
		if !r.p.Started.IsZero() {
			a = age(f.now.Sub(r.p.Started))
		}
		cmd := p.progressOf(f.now, r.p) + escape.Line(r.p.Cmd)
		line := f.row([]string{strconv.Itoa(r.p.PID), escape.Line(r.host), escape.Line(tool(r.p.Cmd)), a, cmd}, widths)
		if r.queued > 0 {
			line = f.st.draining.Render(line)
		}
		if i == p.sel && focused {
			line = f.st.selected.Width(f.w).Render(line)
		}
		out = append(out, line)
	}
	return append(out, detail...)
}

// filterInput is a pane's filter (processes) or search (log): typed after
// /, applied as it is typed, kept with enter, cleared with esc.
type filterInput struct {
	in      textinput.Model
	editing bool
}

func newFilterInput(placeholder string) filterInput {
	f := textinput.New()
	f.Prompt = "/ "
	f.Placeholder = placeholder
	f.SetWidth(40)
	return filterInput{in: f}
}

func (f filterInput) value() string { return f.in.Value() }

func (f filterInput) open() (filterInput, tea.Cmd) {
	f.editing = true
	return f, f.in.Focus()
}

// update handles a key while editing; the filter applies as it is typed.
func (f filterInput) update(msg tea.KeyPressMsg, k keyMap) (filterInput, tea.Cmd) {
	switch {
	case keyIs(msg, k.FilterClear):
		f.in.SetValue("")
		fallthrough
	case keyIs(msg, k.FilterKeep):
		f.in.Blur()
		f.editing = false
		return f, nil
	}
	var cmd tea.Cmd
	f.in, cmd = f.in.Update(msg)
	return f, cmd
}

func (f filterInput) view() string { return f.in.View() }
