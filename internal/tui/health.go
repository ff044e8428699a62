package tui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The host detail's health: its checks over the last hour (how long each
// took, which failed) and its bad marks over the last day (when, why, what
// kind of failure, who), from the store's health history.

const (
	checkSpan  = time.Hour
	markSpan   = 24 * time.Hour
	recentMark = 10 // marks listed at most
)

// healthReader is a store that keeps hosts' checks and bad marks over
// time (a *state.Store does; a store that does not simply has no section).
type healthReader interface {
	Health(ctx context.Context, q state.HealthQuery) ([]state.HealthEvent, error)
}

// hostHealth is what the detail reads from the health history.
type hostHealth struct {
	checks []state.HealthEvent // the last hour's checks, newest first
	marks  []state.HealthEvent // the last day's bad marks, newest first
	err    error
	kept   bool // the store keeps a health history
}

// loadHealth reads host k's checks and marks; rows that name the host
// otherwise than k does belong to an earlier host with its id.
func loadHealth(ctx context.Context, ops Ops, k state.HostKey, now time.Time) hostHealth {
	r, ok := ops.(healthReader)
	if !ok {
		return hostHealth{}
	}
	id := k.ID
	read := func(kind string, since time.Time, limit int) ([]state.HealthEvent, error) {
		evs, err := r.Health(ctx, state.HealthQuery{HostID: &id, Kind: kind, Since: since, Limit: limit})
		return slices.DeleteFunc(evs, func(e state.HealthEvent) bool { return e.Servername != k.Servername }), err
	}
	h := hostHealth{kept: true}
	if h.checks, h.err = read(state.HealthCheck, now.Add(-checkSpan), 0); h.err == nil {
		h.marks, h.err = read(state.HealthMark, now.Add(-markSpan), recentMark)
	}
	return h
}

// latency is a duration as people read it: milliseconds, or seconds past one.
func latency(d time.Duration) string {
	if d >= time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// lastCheckTook is " · took N" for the newest passed check, "" when the
// last hour has none.
func (h hostHealth) lastCheckTook() string {
	for _, e := range h.checks {
		if e.OK {
			return " · took " + latency(e.Latency)
		}
	}
	return ""
}

// healthLines is the checks' section and the marks' section.
func (h hostHealth) lines(f frame, width int) []string {
	if !h.kept {
		return nil
	}
	if h.err != nil {
		return append([]string{""}, f.wrapErr("cannot read the checks and bad marks: "+h.err.Error())...)
	}
	return append(h.checkLines(f, width), h.markLines(f)...)
}

// checkLines is one bar per check (oldest left), a failed one a red ×,
// and min, median and max of the passed ones' latency.
func (h hostHealth) checkLines(f frame, width int) []string {
	var passed []time.Duration
	for _, e := range h.checks {
		if e.OK {
			passed = append(passed, e.Latency)
		}
	}
	failed := len(h.checks) - len(passed)
	head := fmt.Sprintf("Checks, last hour (%d passed", len(passed))
	if failed > 0 {
		head += fmt.Sprintf(", %d failed", failed)
	}
	if len(h.checks) == 0 {
		head = "Checks, last hour"
	}
	if len(h.checks) > 0 {
		head += ")"
	}
	out := []string{"", f.st.colHead.Render(fit(head, f.w))}
	if len(h.checks) == 0 {
		return append(out, f.st.dim.Render(fit("none (a host is checked when picked, past remote.check_interval)", f.w)))
	}
	shown := h.checks[:min(len(h.checks), width)]
	var top time.Duration
	for _, e := range shown {
		if e.OK {
			top = max(top, e.Latency)
		}
	}
	// Runs of passed checks as one sparkline each (bars scaled to the
	// slowest shown, a millisecond the unit), failed ones as ×.
	var b strings.Builder
	var run []int
	flush := func() {
		if len(run) > 0 {
			b.WriteString(f.st.active.Render(sparkline(run, max(int(top.Milliseconds()), 1))))
			run = run[:0]
		}
	}
	for _, e := range slices.Backward(shown) {
		if e.OK {
			run = append(run, max(int(e.Latency.Milliseconds()), 1))
			continue
		}
		flush()
		b.WriteString(f.st.bad.Render("×"))
	}
	flush()
	note := "all failed"
	if len(passed) > 0 {
		slices.Sort(passed)
		note = "min " + latency(passed[0]) + " · median " + latency(passed[len(passed)/2]) + " · max " + latency(passed[len(passed)-1])
	}
	return append(out, fit(b.String()+"  "+note, f.w))
}

// markLines lists the day's bad marks, newest first: when, the failure's
// class, who marked it, and why.
func (h hostHealth) markLines(f frame) []string {
	head := fmt.Sprintf("Bad marks, last day (%d)", len(h.marks))
	if len(h.marks) == recentMark {
		head = fmt.Sprintf("Bad marks, last day (the last %d)", recentMark)
	}
	out := []string{"", f.st.colHead.Render(fit(head, f.w))}
	if len(h.marks) == 0 {
		return append(out, f.st.dim.Render(fit("none", f.w)))
	}
	widths := columns(f.w, 11, 14, 18)
	for _, e := range h.marks {
		who := "PID " + strconv.Itoa(e.PID)
		if e.Frontend != "" {
			who = escape.Line(e.Frontend) + " " + who
		}
		out = append(out, f.row([]string{jobTime(e.At, f.now), f.st.bad.Render(selector.MarkClass(e.Reason)), who, escape.Line(e.Reason)}, widths))
	}
	return out
}
