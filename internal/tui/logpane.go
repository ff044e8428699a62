package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// maxLogLines is what the log pane keeps.
const maxLogLines = 2000

// followLog waits until the log has something new for the pane and returns
// it: lines appended to path since off, or a reset when the file is new
// (rotation, the next day's dated file) or shorter. It polls the file size
// every 250 ms without sending anything meanwhile, so an idle console is not
// re-rendered for nothing. The first read of a file takes its last 64 KiB.
func followLog(ctx context.Context, pathAt func() string, prevPath string, off int64) tea.Cmd {
	return func() tea.Msg {
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(250 * time.Millisecond):
				}
			}
			if msg, ok := readLog(pathAt(), prevPath, off); ok {
				return msg
			}
		}
	}
}

// readLog reads what is new in path; ok is false when nothing is.
func readLog(path, prevPath string, off int64) (logMsg, bool) {
	msg := logMsg{path: path, off: off}
	if path == "" {
		return msg, false
	}
	if path != prevPath {
		msg.reset, msg.off = true, -1
	}
	f, err := os.Open(path)
	if err != nil {
		return msg, msg.reset && prevPath != ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return msg, false
	}
	if msg.off < 0 || fi.Size() < msg.off {
		msg.reset = true
		msg.off = max(0, fi.Size()-64*1024)
	}
	if fi.Size() > msg.off {
		f.Seek(msg.off, io.SeekStart)
		b, _ := io.ReadAll(io.LimitReader(f, 4<<20))
		// Keep a partial last line for the next read.
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
			msg.off += int64(len(b))
			msg.lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
	}
	return msg, msg.reset || len(msg.lines) > 0
}

// logPane is the tail of the log file: its lines, where the next read
// starts, and how far back the reader has scrolled.
type logPane struct {
	path   string
	off    int64
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
	if msg.reset {
		p.lines, p.scroll = nil, 0
	}
	p.path, p.off = msg.path, msg.off
	if len(msg.lines) == 0 {
		return
	}
	if p.scroll > 0 {
		p.scroll += len(msg.lines) // keep the reader's place
	}
	p.lines = append(p.lines, msg.lines...)
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
	if p.path != "" {
		path = p.path
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
