package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// doctorView is `rffmpeg doctor` run from the console on the selected
// host (or on every host from the fallback row): its report, scrollable,
// or how long it has been running. The run is a command, so the console
// stays live meanwhile; esc goes back and the result waits here.
type doctorView struct {
	label   string   // what runs: "gpu1 (id 1)" or "every host"
	hosts   []string // server names given to the doctor; none: every host
	run     int      // which run the report belongs to: a newer D discards an older one's result
	started time.Time
	report  *doctor.Report
	scroll  int
	back    mode // where esc returns: the main view or the host detail
}

// doctorMsg carries a finished run's report.
type doctorMsg struct {
	run    int
	report doctor.Report
}

func runDoctor(ctx context.Context, fn func(context.Context, []string) doctor.Report, run int, hosts []string) tea.Cmd {
	if fn == nil {
		return nil
	}
	return func() tea.Msg {
		return doctorMsg{run: run, report: fn(ctx, hosts)}
	}
}

func (d *doctorView) take(msg doctorMsg) {
	if msg.run == d.run {
		d.report = &msg.report
	}
}

// statusCell is a check's verdict as the CLI writes it, coloured.
func (f frame) statusCell(s doctor.Status) string {
	switch s {
	case doctor.OK:
		return f.st.status.Render("ok  ")
	case doctor.Warn:
		return f.st.draining.Render("warn")
	}
	return f.st.bad.Render("FAIL")
}

// lines is the report as `rffmpeg doctor` prints it: a heading per
// section and host, a line per check (wrapped, never cut: a failure's
// cause is the point), the fix under a warning or failure.
func (d doctorView) lines(f frame) []string {
	r := d.report
	var out []string
	section, host := "", "\x00"
	indent := func(text string, first string) {
		for i, l := range wrap(text, max(f.w-5, 10), 6) {
			prefix := "     "
			if i == 0 {
				prefix = first
			}
			out = append(out, fit(prefix+l, f.w))
		}
	}
	for _, c := range r.Checks {
		if c.Section != section {
			section, host = c.Section, "\x00"
			out = append(out, "", f.st.colHead.Render(fit(c.Section, f.w)))
		}
		if c.Host != host && c.Host != "" {
			out = append(out, f.st.formLabel.Render(fit("host "+escape.Line(c.Host), f.w)))
		}
		host = c.Host
		text := escape.Line(c.Name) + ": " + escape.Line(c.Message)
		if c.Timed {
			text += fmt.Sprintf(" (%s)", c.Duration.Round(time.Millisecond))
		}
		indent(text, f.statusCell(c.Status)+" ")
		if c.Fix != "" && c.Status != doctor.OK {
			indent(f.st.dim.Render("fix: "+escape.Line(c.Fix)), "     ")
		}
	}
	return out
}

// body is every line under the title (what scrolls): the report and a
// count of its verdicts; none while the doctor runs.
func (d doctorView) body(f frame) []string {
	if d.report == nil {
		return nil
	}
	r := *d.report
	summary := fmt.Sprintf("%d ok, %s, %s", r.Count(doctor.OK), plural(r.Count(doctor.Warn), "warning"), plural(r.Count(doctor.Fail), "failure"))
	return append(d.lines(f), "", fit(summary, f.w))
}

func (d doctorView) view(f frame, height int) []string {
	title := "Doctor: " + d.label
	if d.report == nil {
		out := []string{f.title(true, title), ""}
		msg := fmt.Sprintf("running the checks… %s so far (each host: ssh, its ffmpeg, Jellyfin's probes, shared paths)", age(f.now.Sub(d.started)))
		return append(out, f.st.dim.Render(fit(msg, f.w)), "", f.st.dim.Render(fit("esc goes back; the report waits here", f.w)))
	}
	r := *d.report
	if r.OK() {
		title += f.st.status.Render("  all checks pass")
	} else {
		title += f.st.bad.Render("  " + plural(r.Count(doctor.Fail), "check") + " failed")
	}
	body := d.body(f)
	scroll := min(d.scroll, max(len(body)-(height-1), 0))
	if below := len(body) - scroll - (height - 1); below > 0 {
		title += f.st.dim.Render(fmt.Sprintf("  %d more lines: ↓/pgdn", below))
	}
	out := append([]string{f.title(true, title)}, body[scroll:]...)
	return out[:min(len(out), max(height, 0))]
}
