// Package tui is `rffmpeg tui`, a live console of the transcode pool: hosts
// with their state, load and bad marks, the running processes, and the log,
// with keys to add, remove, reweight, drain and clear. It reads and writes
// only through the state store's operations (the CLI's), and classifies
// hosts through the selector, so it never disagrees with `rffmpeg status`.
package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Config wires the console to its world.
type Config struct {
	Open     func(context.Context) (Ops, error) // opens the store; retried while it fails
	Database string                             // shown in the header
	Policy   func(now time.Time) selector.Policy
	LogPath  func(now time.Time) string // "" when rffmpeg logs to stderr
	Now      func() time.Time
}

type pane int

const (
	paneHosts pane = iota
	paneProcs
	paneLog
	paneCount
)

type mode int

const (
	modeNormal mode = iota
	modeForm
	modeConfirm
	modeWeight
	modeFilter
)

// Model is the console's root model.
type Model struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	ops    Ops
	watch  <-chan error

	keys  keyMap
	st    styles
	help  help.Model
	w, h  int
	focus pane
	mode  mode

	view    selector.View
	loaded  time.Time
	haveAny bool
	dbErr   error

	hostSel, procSel int
	filter           textinput.Model
	weightIn         textinput.Model
	form             addForm
	confirmText      string
	confirmRun       tea.Cmd

	logPath   string
	logOff    int64
	logLines  []string
	logScroll int // lines back from the newest

	status    string
	statusErr bool
}

// New builds the console; nothing is read until the program runs.
func New(cfg Config) Model {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := textinput.New()
	f.Prompt = "/ "
	f.Placeholder = "pid, host or command"
	f.SetWidth(40)
	w := textinput.New()
	w.Prompt = "weight: "
	w.CharLimit = 6
	w.SetWidth(8)
	m := Model{cfg: cfg, ctx: ctx, cancel: cancel, keys: newKeyMap(), st: newStyles(true),
		help: help.New(), filter: f, weightIn: w, form: newAddForm(), w: 80, h: 24}
	return m
}

// Init starts connecting, the clocks and the log tail; it does no I/O itself.
func (m Model) Init() tea.Cmd {
	return tea.Batch(connect(m.ctx, m.cfg.Open), tick(), m.followLog(), tea.RequestBackgroundColor)
}

// followLog re-arms the log listener from where the pane is.
func (m Model) followLog() tea.Cmd {
	if m.cfg.LogPath == nil {
		return nil
	}
	now := m.cfg.Now
	pathAt := func() string { return m.cfg.LogPath(now()) }
	return followLog(m.ctx, pathAt, m.logPath, m.logOff)
}

func (m *Model) setStatus(text string, isErr bool) { m.status, m.statusErr = text, isErr }

// hostRow is a row of the hosts pane: a host, or the fallback pseudo-host.
type hostRow struct {
	host     *selector.HostView
	fallback bool
}

func (m Model) hostRows() []hostRow {
	var rows []hostRow
	for i := range m.view.Hosts {
		rows = append(rows, hostRow{host: &m.view.Hosts[i]})
	}
	if len(m.view.Fallback) > 0 {
		rows = append(rows, hostRow{fallback: true})
	}
	return rows
}

func (m Model) selectedHost() *selector.HostView {
	rows := m.hostRows()
	if m.hostSel < len(rows) {
		return rows[m.hostSel].host
	}
	return nil
}

// procRow is a row of the processes pane.
type procRow struct {
	p    state.Process
	host string
}

func (m Model) procRows() []procRow {
	var rows []procRow
	for _, h := range m.view.Hosts {
		for _, p := range h.Processes {
			rows = append(rows, procRow{p, h.Servername})
		}
	}
	for _, p := range m.view.Fallback {
		rows = append(rows, procRow{p, "localhost (fallback)"})
	}
	for _, p := range m.view.Orphans {
		rows = append(rows, procRow{p, "(removed host)"})
	}
	q := strings.ToLower(strings.TrimSpace(m.filter.Value()))
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

func (m *Model) clamp() {
	m.hostSel = min(max(m.hostSel, 0), max(len(m.hostRows())-1, 0))
	m.procSel = min(max(m.procSel, 0), max(len(m.procRows())-1, 0))
	m.logScroll = min(max(m.logScroll, 0), max(len(m.logLines)-1, 0))
	h := m.selectedHost()
	m.keys.enable(m.focus == paneHosts, h != nil, h != nil && h.Bad != nil, m.focus == paneProcs, m.focus == paneLog)
}

func (m Model) reload() tea.Cmd {
	if m.ops == nil {
		return nil
	}
	return load(m.ctx, m.ops, m.cfg.Policy, m.cfg.Now)
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		return m, nil
	case tea.BackgroundColorMsg:
		m.st = newStyles(msg.IsDark())
		return m, nil
	case connectedMsg:
		m.ops, m.watch, m.dbErr = msg.ops, msg.watch, nil
		return m, tea.Batch(m.reload(), listen(m.watch))
	case dbErrMsg:
		m.dbErr = msg.err
		if m.ops == nil {
			return m, retryLater()
		}
		return m, nil
	case watchErr:
		m.dbErr = msg.err
		return m, listen(m.watch)
	case retryMsg:
		if m.ops == nil {
			return m, connect(m.ctx, m.cfg.Open)
		}
		return m, m.reload()
	case changedMsg:
		return m, tea.Batch(m.reload(), listen(m.watch))
	case loadedMsg:
		m.view, m.loaded, m.haveAny, m.dbErr = msg.view, msg.at, true, nil
		m.clamp()
		return m, nil
	case tickMsg:
		return m, tick()
	case logMsg:
		if msg.reset {
			m.logLines, m.logScroll = nil, 0
		}
		m.logPath, m.logOff = msg.path, msg.off
		if len(msg.lines) > 0 {
			if m.logScroll > 0 {
				m.logScroll += len(msg.lines) // keep the reader's place
			}
			m.logLines = append(m.logLines, msg.lines...)
			if len(m.logLines) > maxLogLines {
				m.logLines = append([]string(nil), m.logLines[len(m.logLines)-maxLogLines:]...)
			}
		}
		return m, m.followLog()
	case doneMsg:
		if msg.err != nil {
			m.setStatus(msg.err.Error(), true)
		} else {
			m.setStatus(msg.text, false)
		}
		return m, m.reload()
	case formDoneMsg:
		if msg.err != nil {
			m.form.err = msg.err.Error()
			return m, nil
		}
		m.mode = modeNormal
		m.setStatus(msg.text, false)
		return m, m.reload()
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return m, nil
}

// watchErr is a change-feed error (the feed keeps trying).
type watchErr struct{ err error }

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.cancel()
	if m.ops != nil {
		m.ops.Close()
	}
	return m, tea.Quit
}

func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	switch m.mode {
	case modeForm:
		return m.formKey(msg)
	case modeConfirm:
		switch msg.String() {
		case "y", "Y", "enter":
			m.mode = modeNormal
			return m, m.confirmRun
		case "n", "N", "esc", "q":
			m.mode = modeNormal
			m.setStatus("cancelled", false)
		}
		return m, nil
	case modeWeight:
		switch msg.String() {
		case "esc":
			m.mode = modeNormal
			return m, nil
		case "enter":
			m.mode = modeNormal
			return m, m.setWeight(m.weightIn.Value())
		}
		var cmd tea.Cmd
		m.weightIn, cmd = m.weightIn.Update(msg)
		return m, cmd
	case modeFilter:
		switch msg.String() {
		case "esc":
			m.filter.SetValue("")
			m.filter.Blur()
			m.mode = modeNormal
		case "enter":
			m.filter.Blur()
			m.mode = modeNormal
		default:
			var cmd tea.Cmd
			m.filter, cmd = m.filter.Update(msg)
			m.clamp()
			return m, cmd
		}
		m.clamp()
		return m, nil
	}
	if m.help.ShowAll && !key.Matches(msg, m.keys.Quit) {
		m.help.ShowAll = false
		return m, nil
	}
	m.status = ""
	k := m.keys
	h := m.selectedHost()
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.help.ShowAll = true
	case key.Matches(msg, k.Tab):
		m.focus = (m.focus + 1) % paneCount
	case key.Matches(msg, k.ShiftTab):
		m.focus = (m.focus + paneCount - 1) % paneCount
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.logScroll += max(m.logHeight()-1, 1)
	case key.Matches(msg, k.PageDown):
		m.logScroll -= max(m.logHeight()-1, 1)
	case key.Matches(msg, k.Add):
		if m.ops == nil {
			m.setStatus("no database: cannot add a host", true)
			return m, nil
		}
		m.form = newAddForm()
		m.mode = modeForm
		return m, m.form.focus(0)
	case key.Matches(msg, k.Filter):
		m.mode = modeFilter
		return m, m.filter.Focus()
	case key.Matches(msg, k.ClearAll):
		if m.focus == paneHosts && m.ops != nil {
			return m.ask("Delete every process and state row (all hosts)? [y/N]", act(func() (string, error) {
				n, err := m.ops.Clear(m.ctx, "", false)
				return fmt.Sprintf("cleared %d process rows and %d state rows", n.Processes, n.States), err
			}))
		}
	case key.Matches(msg, k.ClearHost):
		if m.focus == paneHosts && m.ops != nil {
			ref, label := m.selectedRef()
			if ref != "" {
				return m.ask(fmt.Sprintf("Delete the process and state rows of %s? [y/N]", label), act(func() (string, error) {
					n, err := m.ops.Clear(m.ctx, ref, false)
					return fmt.Sprintf("cleared %d process rows and %d state rows of %s", n.Processes, n.States, label), err
				}))
			}
		}
	}
	if h == nil || m.focus != paneHosts || m.ops == nil {
		m.clamp()
		return m, nil
	}
	ref := strconv.FormatInt(h.ID, 10)
	label := fmt.Sprintf("%s (%s)", h.Servername, h.Hostname)
	switch {
	case key.Matches(msg, k.Remove):
		return m.ask(fmt.Sprintf("Remove host %s, id %d? [y/N]", label, h.ID), act(func() (string, error) {
			_, err := m.ops.RemoveHosts(m.ctx, ref)
			return "removed " + label, err
		}))
	case key.Matches(msg, k.WeightUp):
		return m, m.setWeight(strconv.Itoa(h.Weight + 1))
	case key.Matches(msg, k.WeightDown):
		return m, m.setWeight(strconv.Itoa(h.Weight - 1))
	case key.Matches(msg, k.Weight):
		m.weightIn.SetValue(strconv.Itoa(h.Weight))
		m.weightIn.CursorEnd()
		m.mode = modeWeight
		return m, m.weightIn.Focus()
	case key.Matches(msg, k.Drain):
		on := !h.Drain
		return m, act(func() (string, error) {
			_, err := m.ops.SetDrain(m.ctx, ref, on)
			if on {
				return "draining " + label + ": no new jobs, running ones finish", err
			}
			return label + " takes new jobs again", err
		})
	case key.Matches(msg, k.ClearBad):
		if h.Bad != nil {
			return m, act(func() (string, error) {
				_, err := m.ops.Clear(m.ctx, ref, true)
				return "cleared the bad mark of " + label + ": it will be tried again", err
			})
		}
	}
	m.clamp()
	return m, nil
}

// selectedRef names the selected hosts-pane row for Clear.
func (m Model) selectedRef() (ref, label string) {
	rows := m.hostRows()
	if m.hostSel >= len(rows) {
		return "", ""
	}
	if rows[m.hostSel].fallback {
		return state.FallbackRef, "localhost (fallback)"
	}
	h := rows[m.hostSel].host
	return strconv.FormatInt(h.ID, 10), fmt.Sprintf("%s (%s)", h.Servername, h.Hostname)
}

func (m Model) ask(text string, run tea.Cmd) (tea.Model, tea.Cmd) {
	m.mode, m.confirmText, m.confirmRun = modeConfirm, text, run
	return m, nil
}

func (m Model) setWeight(v string) tea.Cmd {
	h := m.selectedHost()
	if h == nil || m.ops == nil {
		return nil
	}
	ref := strconv.FormatInt(h.ID, 10)
	label := fmt.Sprintf("%s (%s)", h.Servername, h.Hostname)
	return act(func() (string, error) {
		w, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return "", fmt.Errorf("weight %q is not a whole number", v)
		}
		_, err = m.ops.SetWeight(m.ctx, ref, w)
		return fmt.Sprintf("%s now has weight %d", label, w), err
	})
}

func (m *Model) move(d int) {
	switch m.focus {
	case paneHosts:
		m.hostSel += d
	case paneProcs:
		m.procSel += d
	case paneLog:
		m.logScroll -= d
	}
	m.clamp()
}

// Run runs the console on the terminal until the user quits.
func Run(cfg Config) error {
	// 20 frames a second is plenty for a status console and wakes the
	// process a third as often as the default 60 while idle.
	_, err := tea.NewProgram(New(cfg), tea.WithFPS(20)).Run()
	return err
}
