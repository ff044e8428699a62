package tui

import (
	"context"
	"fmt"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// historyLimit is how many finished jobs the history view reads: a
// screen's worth many times over, and a read of a few milliseconds even
// with the longest commands.
const historyLimit = 500

// historyView is the finished jobs, newest first, as the shim recorded
// them (state.Store.History): when, where, what kind, how long, how it
// ended. f shows only the jobs that failed. It re-reads when the state
// changes while it is open (each finished job changes it).
type historyView struct {
	failedOnly bool
	jobs       []state.JobRecord
	err        error
	loaded     bool
	sel        int
	picked     int64 // the selected job's id: the selection follows it as rows arrive
}

// historyMsg carries what loadHistory read.
type historyMsg struct {
	failedOnly bool
	jobs       []state.JobRecord
	err        error
}

func loadHistory(ctx context.Context, ops Ops, failedOnly bool) tea.Cmd {
	if ops == nil {
		return nil
	}
	return func() tea.Msg {
		jobs, err := ops.History(ctx, state.HistoryQuery{Limit: historyLimit, Failed: failedOnly})
		return historyMsg{failedOnly: failedOnly, jobs: jobs, err: err}
	}
}

// take keeps what a read returned, unless it answers an older question
// (the failed-only switch moved meanwhile).
func (h *historyView) take(msg historyMsg) {
	if msg.failedOnly != h.failedOnly {
		return
	}
	h.err, h.loaded = msg.err, true
	if msg.err != nil {
		return
	}
	h.jobs = msg.jobs
	for i, j := range h.jobs {
		if j.ID == h.picked {
			h.sel = i
			break
		}
	}
	h.choose(h.sel)
}

func (h *historyView) choose(i int) {
	h.sel = min(max(i, 0), max(len(h.jobs)-1, 0))
	h.picked = 0
	if h.sel < len(h.jobs) {
		h.picked = h.jobs[h.sel].ID
	}
}

// wideHistory is the width from which the FRONTEND column shows; below,
// the selected job's line under the table names it.
const wideHistory = 100

// jobTime is a time of a job: the time of day when it was today, else the
// date and minute. Lists show when a job ended, the order they are in
// (the shim records a job as it ends), so the column reads in order.
func jobTime(t, now time.Time) string {
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("01-02 15:04")
}

// jobDuration is a duration to a tenth of a second when short.
func jobDuration(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return age(d)
}

// jobHost names where a job ran, as it was named then.
func jobHost(j state.JobRecord) string {
	if j.HostID == state.LocalHostID {
		return "fallback"
	}
	return escape.Line(j.Servername)
}

// outcome is the job's outcome, coloured: ok, killed, or a failure.
func (f frame) outcome(j state.JobRecord) string {
	o := j.Outcome()
	switch o {
	case state.OutcomeOK:
		return f.st.status.Render(o)
	case state.FailKilled:
		return f.st.draining.Render(o)
	}
	return f.st.bad.Render(escape.Line(o))
}

func (h historyView) view(f frame, height int) []string {
	title := fmt.Sprintf("History (%s, last finished first)", plural(len(h.jobs), "job"))
	if h.failedOnly {
		title = fmt.Sprintf("History: failed jobs only (%d, last finished first)", len(h.jobs))
	}
	if len(h.jobs) == historyLimit {
		title += f.st.dim.Render(fmt.Sprintf("  the last %d", historyLimit))
	}
	out := []string{f.title(true, title)}
	wide := f.w >= wideHistory
	titles := []string{"ENDED", "HOST", "CLASS", "DUR", "EXIT", "OUTCOME", "COMMAND"}
	widths := columns(f.w, 11, min(max(f.w/8, 10), 18), 10, 6, 4, 10)
	if wide {
		titles = []string{"ENDED", "HOST", "FRONTEND", "CLASS", "DUR", "EXIT", "OUTCOME", "COMMAND"}
		widths = columns(f.w, 11, min(max(f.w/8, 10), 18), 12, 10, 6, 4, 12)
	}
	out = append(out, f.st.colHead.Render(f.row(titles, widths)))
	switch {
	case h.err != nil:
		return append(out, f.wrapErr("cannot read the history: "+h.err.Error())...)
	case !h.loaded:
		return append(out, f.st.dim.Render(fit("reading the history…", f.w)))
	case len(h.jobs) == 0 && h.failedOnly:
		return append(out, f.st.dim.Render(fit("no failed job recorded (f shows every job)", f.w)))
	case len(h.jobs) == 0:
		return append(out, f.st.dim.Render(fit("no finished job recorded yet", f.w)))
	}
	detail := h.detail(f)
	room := max(height-len(out)-len(detail), 1)
	first := scrollStart(h.sel, len(h.jobs), room)
	for i := first; i < len(h.jobs) && i < first+room; i++ {
		j := h.jobs[i]
		cells := []string{jobTime(j.Started.Add(j.Duration), f.now), jobHost(j), escape.Line(j.Class), jobDuration(j.Duration),
			strconv.Itoa(j.ExitCode), f.outcome(j), escape.Line(j.Command)}
		if wide {
			cells = append(cells[:2], append([]string{escape.Line(j.Frontend)}, cells[2:]...)...)
		}
		line := f.row(cells, widths)
		if i == h.sel {
			// Plain text under the selection: a coloured cell's reset
			// would end the highlight halfway.
			line = f.st.selected.Width(f.w).Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return append(out, detail...)
}

// detail is the selected job in full under the table: when it started,
// who ran it, and its command.
func (h historyView) detail(f frame) []string {
	if h.sel >= len(h.jobs) {
		return nil
	}
	j := h.jobs[h.sel]
	about := fmt.Sprintf("started %s on %s (%s) from %s, PID %d, %s, exit %d: %s",
		j.Started.Format("2006-01-02 15:04:05"), jobHost(j), escape.Line(j.Hostname), orDash(escape.Line(j.Frontend)), j.PID,
		jobDuration(j.Duration), j.ExitCode, escape.Line(j.Outcome()))
	if j.KilledBy != "" {
		about += ", killed by " + escape.Line(j.KilledBy)
	}
	return append(f.detail(about), f.detail(escape.Line(j.Command))...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
