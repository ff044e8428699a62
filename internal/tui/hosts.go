package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hostRow is a row of the hosts pane: a host, or the fallback pseudo-host.
type hostRow struct {
	host     *selector.HostView
	fallback bool
}

// label names a row for messages and confirmations, escaped.
func (r hostRow) label() string {
	if r.fallback {
		return "localhost (fallback)"
	}
	return fmt.Sprintf("%s (id %d)", escape.Line(r.host.Servername), r.host.ID)
}

// key is what a write names the row by.
func (r hostRow) key() state.HostKey {
	if r.fallback {
		return state.HostKey{ID: state.LocalHostID}
	}
	return r.host.Key()
}

// jobs is how many processes run on the row's host.
func (r hostRow) jobs(v selector.View) int {
	if r.fallback {
		return len(v.Fallback)
	}
	return len(r.host.Processes)
}

// hostsPane is the hosts table, its selection and its sort. The selection
// follows its host (picked) when rows come, go or are re-sorted, so the
// highlighted row does not change host under the user's finger.
type hostsPane struct {
	sel    int
	picked *state.HostKey // the selected row's host; ID LocalHostID: the fallback row
	sort   sortOrder
}

// rows lists the hosts in the pane's order, the fallback row last.
func (p hostsPane) rows(v selector.View) []hostRow {
	var rows []hostRow
	for i := range v.Hosts {
		rows = append(rows, hostRow{host: &v.Hosts[i]})
	}
	applySort(p.sort, rows, hostSorts)
	if len(v.Fallback) > 0 {
		rows = append(rows, hostRow{fallback: true})
	}
	return rows
}

// selected is the selected row, ok false when there is none.
func (p hostsPane) selected(v selector.View) (hostRow, bool) {
	rows := p.rows(v)
	if p.sel < len(rows) {
		return rows[p.sel], true
	}
	return hostRow{}, false
}

// clamp keeps the selection on its host after a change of the data or the
// order, or inside the table when that host is gone.
func (p *hostsPane) clamp(v selector.View) {
	rows := p.rows(v)
	if p.picked != nil {
		for i, r := range rows {
			if r.key() == *p.picked {
				p.sel = i
				break
			}
		}
	}
	p.sel = min(max(p.sel, 0), max(len(rows)-1, 0))
	p.pick(rows)
}

// choose selects row i (the user moved or clicked).
func (p *hostsPane) choose(v selector.View, i int) {
	rows := p.rows(v)
	p.sel = min(max(i, 0), max(len(rows)-1, 0))
	p.pick(rows)
}

func (p *hostsPane) pick(rows []hostRow) {
	p.picked = nil
	if p.sel < len(rows) {
		k := rows[p.sel].key()
		p.picked = &k
	}
}

// The hosts table's optional columns: TAGS from tagsFrom cells wide, CAPS
// (the probed device types) from capsFrom; narrower, the detail view
// shows them.
const (
	tagsFrom = 70
	capsFrom = 110
)

// hostLayout is the hosts table at a width: its titles, the widths, and
// which optional columns it has.
type hostLayout struct {
	titles     []string
	widths     []int
	tags, caps bool
}

func hostColumns(w int) hostLayout {
	nameW := min(max(w/7, 6), 16)
	l := hostLayout{titles: []string{"ID", "NAME", "HOSTNAME", "W", "STATE", "JOBS"}, tags: w >= tagsFrom, caps: w >= capsFrom}
	fixed := []int{3, nameW, nameW + 2, 3, 8, 5}
	if l.tags {
		l.titles, fixed = append(l.titles, "TAGS"), append(fixed, min(max(w/8, 10), 16))
	}
	if l.caps {
		l.titles, fixed = append(l.titles, "CAPS"), append(fixed, 14)
	}
	l.titles, l.widths = append(l.titles, "BAD MARK / ERROR"), columns(w, fixed...)
	return l
}

// view renders the pane in at most height lines. dbErr is shown in place of
// the rows when nothing could be read yet.
func (p hostsPane) view(f frame, v selector.View, height int, focused bool, dbErr error) []string {
	rows := p.rows(v)
	out := []string{f.title(focused, fmt.Sprintf("Hosts (%d)", len(v.Hosts)))}
	l := hostColumns(f.w)
	out = append(out, f.st.colHead.Render(f.row(p.sort.header(l.titles), l.widths)))
	if len(rows) == 0 {
		if dbErr != nil {
			return append(out, f.wrapErr("cannot read the state database (retrying): "+dbErr.Error())...)
		}
		msg := "no hosts: press a to add one (jobs run locally meanwhile)"
		if f.readOnly {
			msg = "no hosts (jobs run locally meanwhile)"
		}
		return append(out, f.st.dim.Render(fit(msg, f.w)))
	}
	first := scrollStart(p.sel, len(rows), height-2)
	for i := first; i < len(rows) && len(out) < height; i++ {
		line := f.row(hostCells(f, v, rows[i], l), l.widths)
		if i == p.sel && focused {
			line = f.st.selected.Width(f.w).Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return out
}

// hostCells is one row's cells for layout l, every piece of data escaped.
func hostCells(f frame, v selector.View, r hostRow, l hostLayout) []string {
	var cells []string
	tags, caps, note := "", "", ""
	if r.fallback {
		cells = []string{"0", "localhost", "(fallback)", "-", f.st.state("active").Render("active"), strconv.Itoa(len(v.Fallback))}
		caps = capsSummary(v.Local != nil, localCaps(v.Local))
	} else {
		h := r.host
		cells = []string{strconv.FormatInt(h.ID, 10), escape.Line(h.Servername), escape.Line(h.Hostname), strconv.Itoa(h.Weight),
			f.st.state(h.State).Render(h.State), capacity(f, h)}
		tags, caps, note = escape.Line(strings.Join(h.Tags, ",")), capsSummary(!h.ProbedAt.IsZero(), h.Capabilities), hostNote(f, h)
	}
	if l.tags {
		cells = append(cells, tags)
	}
	if l.caps {
		cells = append(cells, caps)
	}
	return append(cells, note)
}

// capacity is "running/max_jobs" ("2/4", "2/-" with no limit), in the bad
// colour when the host is full.
func capacity(f frame, h *selector.HostView) string {
	if h.Full() {
		return f.st.draining.Render(h.Capacity())
	}
	return h.Capacity()
}

func localCaps(m *state.Machine) []string {
	if m == nil {
		return nil
	}
	return m.Capabilities
}

// capsSummary is the device types a host has and how many hardware codecs
// and filters besides ("cuda,vaapi +7"), as `rffmpeg status` shows them;
// "?" when never probed, "-" when probed and nothing found.
func capsSummary(probed bool, caps []string) string {
	if !probed {
		return "?"
	}
	s := selector.CapsSummary(caps)
	if s == "" {
		return "-"
	}
	return escape.Line(s)
}

// hostNote is the last column: the bad mark with who set it and when, or
// the last error seen.
func hostNote(f frame, h *selector.HostView) string {
	switch {
	case h.Bad != nil:
		return escape.Line(h.BadNote(f.now, " · ", age))
	case h.LastError != "":
		return f.st.dim.Render("last: " + escape.Line(h.LastError) + " (" + age(f.now.Sub(h.LastErrAt)) + " ago)")
	}
	return ""
}

// hostDetail is the selected host's bad mark or last error in full, wrapped
// under the table, so a cause cut in its column can still be read.
func hostDetail(f frame, r hostRow, ok bool) []string {
	if !ok || r.fallback {
		return nil
	}
	note := ansi.Strip(hostNote(f, r.host))
	widths := hostColumns(f.w).widths
	if note == "" || ansi.StringWidth(note) <= widths[len(widths)-1] {
		return nil
	}
	return f.detail(note)
}
