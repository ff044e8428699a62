package tui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hostDetailView is one host on the whole body: everything the store knows
// about it (capacity, priority, tags, probed capabilities, paths), its bad
// mark and last error in full, its load over the last hour, its running
// jobs, and its recent jobs and failures from the history. It follows the
// live data by the host's key, so it says so when the host is removed
// meanwhile instead of showing another. It scrolls when it is taller than
// the screen.
type hostDetailView struct {
	host   state.HostKey
	scroll int // lines scrolled down
	hist   hostHistory
}

// hostHistory is what the detail reads from the job history for its host.
type hostHistory struct {
	host     state.HostKey
	recent   []state.JobRecord // the last jobs, newest first
	failures []state.JobRecord // the last failed jobs, newest first
	load     []int             // peak jobs at once per bucket over the last hour
	at       time.Time         // the load's end (when it was read)
	health   hostHealth        // checks and bad marks over time (health.go)
	err      error
	loaded   bool
}

// hostHistoryMsg carries a hostHistory read by loadHostHistory.
type hostHistoryMsg hostHistory

const (
	recentJobs     = 8
	recentFailures = 5
)

// loadHostHistory reads host k's recent jobs, failures and last hour's
// load (finished jobs from the history, plus running, the jobs running
// now) in buckets buckets. Rows are kept only when they name the host as
// k does: a removed host's id reused by a new one is not its history.
func loadHostHistory(ctx context.Context, ops Ops, k state.HostKey, running []state.Process, now time.Time, buckets int) tea.Cmd {
	if ops == nil {
		return nil
	}
	return func() tea.Msg {
		id := k.ID
		mine := func(jobs []state.JobRecord, err error) ([]state.JobRecord, error) {
			return slices.DeleteFunc(jobs, func(j state.JobRecord) bool { return j.Servername != k.Servername }), err
		}
		h := hostHistory{host: k, at: now, loaded: true}
		var err error
		if h.recent, err = mine(ops.History(ctx, state.HistoryQuery{HostID: &id, Limit: recentJobs})); err != nil {
			return hostHistoryMsg{host: k, err: err, loaded: true}
		}
		if h.failures, err = mine(ops.History(ctx, state.HistoryQuery{HostID: &id, Failed: true, Limit: recentFailures, OmitCommand: true})); err != nil {
			return hostHistoryMsg{host: k, err: err, loaded: true}
		}
		window, err := mine(ops.History(ctx, state.HistoryQuery{HostID: &id, Since: now.Add(-sparkSpan - sparkLookback), OmitCommand: true}))
		if err != nil {
			return hostHistoryMsg{host: k, err: err, loaded: true}
		}
		h.load = peakPerBucket(jobSpans(window, running, now), now, sparkSpan, buckets)
		h.health = loadHealth(ctx, ops, k, now)
		return hostHistoryMsg(h)
	}
}

func (d hostDetailView) find(v selector.View) *selector.HostView {
	for i := range v.Hosts {
		if v.Hosts[i].Key() == d.host {
			return &v.Hosts[i]
		}
	}
	return nil
}

// when is a time and how long ago, or "never".
func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("2006-01-02 15:04:05") + " (" + age(now.Sub(t)) + " ago)"
}

// view renders the detail in height lines: the title stays, the rest
// scrolls (the title says when there is more below).
func (d hostDetailView) view(f frame, v selector.View, height int) []string {
	h := d.find(v)
	if h == nil {
		out := []string{f.title(true, fmt.Sprintf("Host %d", d.host.ID))}
		return append(out, f.wrapErr("host "+escape.Line(d.host.Servername)+" no longer exists (removed meanwhile)")...)
	}
	body := d.lines(f, h)
	scroll := min(d.scroll, max(len(body)-(height-1), 0))
	title := fmt.Sprintf("Host %s (id %d)", escape.Line(h.Servername), h.ID)
	if below := len(body) - scroll - (height - 1); below > 0 {
		title += f.st.dim.Render(fmt.Sprintf("  %d more lines: ↓/pgdn", below))
	}
	out := append([]string{f.title(true, title)}, body[scroll:]...)
	return out[:min(len(out), max(height, 0))]
}

// lines is the whole detail under its title.
func (d hostDetailView) lines(f frame, h *selector.HostView) []string {
	var out []string
	field := func(name, value string) {
		out = append(out, fit(f.st.dim.Render(fmt.Sprintf("%-12s", name))+value, f.w))
	}
	field("hostname", escape.Line(h.Hostname))
	field("state", f.st.state(h.State).Render(h.State))
	jobs := h.Capacity() + " running"
	if h.MaxJobs == 0 {
		jobs = fmt.Sprintf("%d running, no limit (max jobs 0)", len(h.Processes))
	}
	if h.Full() {
		jobs += f.st.draining.Render(" (full: new jobs go elsewhere)")
	}
	field("jobs", jobs)
	field("weight", fmt.Sprintf("%d · load %d (%s // weight %d) · priority %d", h.Weight, h.Load, plural(len(h.Processes), "job"), h.Weight, h.Priority))
	field("tags", orDash(escape.Line(strings.Join(h.Tags, ", "))))
	out = append(out, d.capabilities(f, h)...)
	if h.FFmpeg != "" || h.FFprobe != "" {
		field("programs", "ffmpeg "+orDefault(h.FFmpeg)+" · ffprobe "+orDefault(h.FFprobe))
	}
	if h.WoLMAC != "" {
		field("wake-on-lan", escape.Line(h.WoLMAC)+" via "+escape.Line(orDefault(h.WoLAddr)))
	}
	field("added", when(h.Created, f.now))
	field("checked", when(h.CheckedAt, f.now)+d.hist.health.lastCheckTook())
	out = append(out, badLines(f, h)...)
	out = append(out, d.loadLines(f, h)...)
	out = append(out, runningLines(f, h)...)
	if !h.IsLocal() { // a local host is never checked nor marked bad
		out = append(out, d.hist.health.lines(f, max(f.w-44, 10))...)
	}
	return append(out, d.historyLines(f)...)
}

func orDefault(s string) string {
	if s == "" {
		return "(the configured one)"
	}
	return escape.Line(s)
}

// capabilities lists what the host's probe found, wrapped, with when.
func (d hostDetailView) capabilities(f frame, h *selector.HostView) []string {
	label := f.st.dim.Render(fmt.Sprintf("%-12s", "hardware"))
	if h.ProbedAt.IsZero() {
		return []string{fit(label+"not probed yet (routing assumes it can run anything)", f.w)}
	}
	caps := "none found"
	if len(h.Capabilities) > 0 {
		caps = escape.Line(strings.Join(h.Capabilities, " "))
	}
	text := caps + f.st.dim.Render(" (probed "+age(f.now.Sub(h.ProbedAt))+" ago)")
	lines := wrap(text, max(f.w-12, 10), detailLines)
	out := []string{fit(label+lines[0], f.w)}
	for _, l := range lines[1:] {
		out = append(out, fit(strings.Repeat(" ", 12)+l, f.w))
	}
	return out
}

// badLines is the bad mark in force and the last error, each in full.
func badLines(f frame, h *selector.HostView) []string {
	var out []string
	if h.Bad != nil {
		retry := "when PID " + strconv.Itoa(h.Bad.PID) + " ends"
		if !h.BadUntil.IsZero() {
			retry = "in " + age(h.BadUntil.Sub(f.now))
		}
		out = append(out, fit(f.st.bad.Render(fmt.Sprintf("%-12s", "bad mark"))+
			fmt.Sprintf("set by PID %d, %s; retried %s", h.Bad.PID, when(h.Bad.Created, f.now), retry), f.w))
		out = append(out, f.detail(escape.Line(h.Bad.Reason))...)
	}
	if h.LastError != "" && (h.Bad == nil || h.LastError != h.Bad.Reason) {
		out = append(out, fit(f.st.dim.Render(fmt.Sprintf("%-12s", "last error"))+when(h.LastErrAt, f.now), f.w))
		out = append(out, f.detail(escape.Line(h.LastError))...)
	}
	return out
}

// loadLines is the sparkline of the last hour: the most jobs at once per
// bucket, scaled to max_jobs when the host has one.
func (d hostDetailView) loadLines(f frame, h *selector.HostView) []string {
	hh := d.hist
	n := len(hh.load)
	head := "Load, last hour"
	if n > 0 {
		head += fmt.Sprintf(" (most jobs at once per %s", age(sparkSpan/time.Duration(n)))
		if h.MaxJobs > 0 {
			head += fmt.Sprintf("; a full bar is max_jobs %d", h.MaxJobs)
		}
		head += ")"
	}
	out := []string{"", f.st.colHead.Render(fit(head, f.w))}
	switch {
	case hh.err != nil:
		return append(out, f.wrapErr("cannot read the history: "+hh.err.Error())...)
	case !hh.loaded:
		return append(out, f.st.dim.Render(fit("reading the history…", f.w)))
	}
	peak, at := 0, 0
	for i, v := range hh.load {
		if v > peak {
			peak, at = v, i
		}
	}
	note := "idle all hour"
	if peak > 0 {
		width := sparkSpan / time.Duration(n)
		// The bucket's end: a job a minute ago is "at" the current minute.
		note = fmt.Sprintf("peak %d at %s", peak, hh.at.Add(-sparkSpan+width*time.Duration(at+1)).Format("15:04"))
	}
	out = append(out, fit(f.st.active.Render(sparkline(hh.load, h.MaxJobs))+"  "+note, f.w))
	axis := "-60m" + strings.Repeat(" ", max(n-len("-60m")-len("-30m")-len("now"), 0)/2)
	axis += "-30m"
	axis += strings.Repeat(" ", max(n-len(axis)-len("now"), 0)) + "now"
	return append(out, f.st.dim.Render(fit(axis, f.w)))
}

// runningLines is the host's jobs running now.
func runningLines(f frame, h *selector.HostView) []string {
	out := []string{"", f.st.colHead.Render(fit(fmt.Sprintf("Running now (%d)", len(h.Processes)), f.w))}
	if len(h.Processes) == 0 {
		out = append(out, f.st.dim.Render(fit("no running jobs", f.w)))
	}
	widths := columns(f.w, 7, 8)
	for _, p := range h.Processes {
		a := "?"
		if !p.Started.IsZero() {
			a = age(f.now.Sub(p.Started))
		}
		out = append(out, f.row([]string{strconv.Itoa(p.PID), a, escape.Line(p.Cmd)}, widths))
	}
	return out
}

// historyLines is the host's recent finished jobs and recent failures.
func (d hostDetailView) historyLines(f frame) []string {
	hh := d.hist
	if !hh.loaded || hh.err != nil {
		return nil
	}
	out := []string{"", f.st.colHead.Render(fit(fmt.Sprintf("Recent jobs (last %d, by when they ended)", len(hh.recent)), f.w))}
	if len(hh.recent) == 0 {
		out = append(out, f.st.dim.Render(fit("no finished job recorded on this host", f.w)))
	}
	widths := columns(f.w, 11, 10, 6, 10)
	for _, j := range hh.recent {
		out = append(out, f.row([]string{jobTime(j.Started.Add(j.Duration), f.now), escape.Line(j.Class), jobDuration(j.Duration), f.outcome(j), escape.Line(j.Command)}, widths))
	}
	out = append(out, "", f.st.colHead.Render(fit(fmt.Sprintf("Recent failures (last %d)", len(hh.failures)), f.w)))
	if len(hh.failures) == 0 {
		out = append(out, f.st.dim.Render(fit("no failed job recorded on this host", f.w)))
	}
	for _, j := range hh.failures {
		what := fmt.Sprintf("%s, %s, exit %d", escape.Line(j.Class), jobDuration(j.Duration), j.ExitCode)
		if j.KilledBy != "" {
			what += ", killed by " + escape.Line(j.KilledBy)
		}
		out = append(out, f.row([]string{jobTime(j.Started.Add(j.Duration), f.now), f.outcome(j), what}, columns(f.w, 11, 14)))
	}
	return out
}
