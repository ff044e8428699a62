package tui

import (
	"fmt"
	"strconv"

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

// hostColumns are the widths of the hosts table at width w.
func hostColumns(w int) []int {
	nameW := min(max(w/7, 6), 16)
	return columns(w, 3, nameW, nameW+2, 3, 9, 9)
}

// view renders the pane in at most height lines. dbErr is shown in place of
// the rows when nothing could be read yet.
func (p hostsPane) view(f frame, v selector.View, height int, focused bool, dbErr error) []string {
	rows := p.rows(v)
	out := []string{f.title(focused, fmt.Sprintf("Hosts (%d)", len(v.Hosts)))}
	widths := hostColumns(f.w)
	titles := p.sort.header([]string{"ID", "NAME", "HOSTNAME", "W", "STATE", "LOAD", "BAD MARK / LAST ERROR"})
	out = append(out, f.st.colHead.Render(f.row(titles, widths)))
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
		line := f.row(hostCells(f, v, rows[i]), widths)
		if i == p.sel && focused {
			line = f.st.selected.Width(f.w).Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return out
}

// hostCells is one row's cells, every piece of data escaped.
func hostCells(f frame, v selector.View, r hostRow) []string {
	if r.fallback {
		return []string{"0", "localhost", "(fallback)", "-", f.st.state("active").Render("active"), strconv.Itoa(len(v.Fallback)), ""}
	}
	h := r.host
	return []string{strconv.FormatInt(h.ID, 10), escape.Line(h.Servername), escape.Line(h.Hostname), strconv.Itoa(h.Weight),
		f.st.state(h.State).Render(h.State), fmt.Sprintf("%d (%d)", h.Load, len(h.Processes)), hostNote(f, h)}
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
	if note == "" || ansi.StringWidth(note) <= hostColumns(f.w)[6] {
		return nil
	}
	return f.detail(note)
}
