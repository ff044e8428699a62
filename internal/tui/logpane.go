package tui

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/logging"
)

// maxLogLines is what the log pane keeps.
const maxLogLines = 2000

// logBacklog is how much of the log the pane shows when it first opens it.
const logBacklog = 64 << 10

// followLog waits until the log has something new for the pane and returns
// it (logging.ReadNew: lines appended since pos, or a reset when the file
// was rotated, replaced by the next day's dated file, or truncated). It
// polls every 250 ms without sending anything meanwhile, so an idle console
// is not re-rendered for nothing.
func followLog(ctx context.Context, pathAt func() string, pos logging.Pos) tea.Cmd {
	return func() tea.Msg {
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(250 * time.Millisecond):
				}
			}
			if c, ok := logging.ReadNew(pathAt(), pos, logBacklog); ok {
				return logMsg(c)
			}
		}
	}
}

// logPane is the tail of the log file: its lines, where the next read
// starts, and how far back the reader has scrolled.
type logPane struct {
	pos    logging.Pos
	lines  []string
	scroll int // lines back from the newest shown
	search filterInput
	level  int // index in logLevels: the lowest level shown
}

// logLevels are the levels the l key steps through, as the lowest shown.
var logLevels = []string{"DEBUG", "INFO", "WARNING", "ERROR"}

func levelRank(level string) int {
	for i, l := range logLevels {
		if l == level {
			return i
		}
	}
	return len(logLevels) // unknown: shown only by "all levels"
}

// shown is the lines that pass the search and the level filter. A line not
// in rffmpeg's format has no level and is shown only at the lowest level.
func (p logPane) shown() []string {
	q := strings.ToLower(strings.TrimSpace(p.search.value()))
	if q == "" && p.level == 0 {
		return p.lines
	}
	var out []string
	for _, l := range p.lines {
		if q != "" && !strings.Contains(strings.ToLower(l), q) {
			continue
		}
		if p.level > 0 {
			m := logLine.FindStringSubmatch(l)
			if m == nil || levelRank(m[4]) < p.level {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// filterTitle says what the pane hides, "" when nothing.
func (p logPane) filterTitle() string {
	var parts []string
	if q := p.search.value(); q != "" && !p.search.editing {
		parts = append(parts, "search: "+escape.Line(q))
	}
	if p.level > 0 {
		parts = append(parts, logLevels[p.level]+" and above")
	}
	return strings.Join(parts, " · ")
}

// add takes what followLog read.
func (p *logPane) add(msg logMsg) {
	if msg.Reset {
		p.lines, p.scroll = nil, 0
	}
	p.pos = msg.Pos
	if len(msg.Lines) == 0 {
		return
	}
	if p.scroll > 0 {
		p.scroll += len(msg.Lines) // keep the reader's place
	}
	p.lines = append(p.lines, msg.Lines...)
	if len(p.lines) > maxLogLines {
		p.lines = append([]string(nil), p.lines[len(p.lines)-maxLogLines:]...)
	}
}

func (p *logPane) scrollBy(n int) {
	p.scroll = min(max(p.scroll+n, 0), max(len(p.shown())-1, 0))
}

// logLine splits rffmpeg's log format: date, time, PID, level, message.
var logLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),\d+ - [^ ]*?\[(\d+)\] - ([A-Z]+) - (.*)$`)

// wideLog is the width from which log lines are shown whole; below it the
// date, milliseconds and PID go, so the message is what fills the line.
const wideLog = 120

// logView renders one line for width w: escaped, shortened when narrow, and
// coloured by its level.
func logView(st styles, l string, w int) string {
	level := ""
	if m := logLine.FindStringSubmatch(l); m != nil {
		level = m[4]
		if w < wideLog {
			l = fmt.Sprintf("%s %-5s %s", m[2], m[4], m[5])
		}
	}
	s := lipgloss.NewStyle()
	switch level {
	case "ERROR":
		s = st.bad
	case "WARNING":
		s = st.draining
	case "DEBUG":
		s = st.dim
	}
	return s.Render(fit(escape.Line(l), w))
}

// view renders the pane in height lines; path is the file rffmpeg logs to
// now ("" when it logs to stderr).
func (p logPane) view(f frame, path string, height int, focused bool) []string {
	if p.pos.Path != "" {
		path = p.pos.Path
	}
	title := "Log"
	if path != "" {
		title += "  " + f.st.dim.Render(escape.Line(path))
	}
	if t := p.filterTitle(); t != "" {
		title += f.st.dim.Render("  " + t)
	}
	if p.scroll > 0 {
		title += f.st.dim.Render(fmt.Sprintf("  (%d lines back, pgdn to follow)", p.scroll))
	}
	out := []string{f.title(focused, title)}
	if p.search.editing {
		out = append(out, p.search.view())
	}
	n := height - len(out)
	if n <= 0 {
		return out[:max(height, 0)]
	}
	lines := p.shown()
	if len(lines) == 0 {
		msg := "nothing logged yet"
		switch {
		case len(p.lines) > 0:
			msg = "no line matches (/ to change the search, l for the level)"
		case path == "":
			msg = "rffmpeg logs to stderr (logging.log_to_file: false): no file to follow"
		}
		return append(out, f.st.dim.Render(fit(msg, f.w)))
	}
	end := len(lines) - p.scroll
	for _, l := range lines[max(end-n, 0):end] {
		out = append(out, logView(f.st, l, f.w))
	}
	return out
}
