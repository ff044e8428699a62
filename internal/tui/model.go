// Package tui is `rffmpeg tui`, a live console of the transcode pool: hosts
// with their state, capacity, tags, hardware and bad marks, the running
// processes and the calls waiting for capacity, and the log; a host's
// detail (with its load over the last hour from the job history), the job
// history itself, and the doctor's report; with keys to add (checking the
// host first, as `rffmpeg add` does), remove, reweight, set max jobs and
// tags, drain and clear. It reads and writes only through the state
// store's operations, naming hosts by the row the user saw, and classifies
// hosts through the selector, so it never disagrees with `rffmpeg status`.
// Reaching a host (the add form's check and probe, the doctor, kill) goes
// through functions the caller wires in Config: no ssh here.
//
// The root model owns the data and the mode; each part of the screen is a
// small child with its own update and view (hosts, processes with their
// filter, log, add form, confirmation, weight and property inputs, host
// detail, history, doctor, help). Children return strings; only the root
// returns a tea.View.
package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
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
	// ReadOnly is a shared ops screen: no key writes (add, remove, weight,
	// max jobs, tags, drain, clear are switched off, so the help does not
	// offer them).
	ReadOnly bool
	// StallAfter flags a job whose position has not moved for this long
	// (commands.stall_after; 0: never).
	StallAfter time.Duration
	// Kill stops a running job as `rffmpeg kill` does (TERM, then KILL
	// after a grace; the history says who), and says how it went. Nil:
	// no kill key (the caller did not wire one).
	Kill func(ctx context.Context, pid int, jobID int64) (string, error)
	// Doctor runs `rffmpeg doctor` on the named hosts (server names) and
	// returns its report; nil: the console offers no doctor. It runs in a
	// command, never on the UI's goroutine: it can take seconds per host.
	Doctor func(ctx context.Context, hosts []string) doctor.Report
	// CheckHost reaches a host before the add form adds it, as `rffmpeg
	// add` does (ssh with the host's own port and user, its ffmpeg
	// -version or the agent's version request), and returns what it runs
	// or why it cannot be reached. It runs in a command, bounded by
	// CheckTimeout. Nil: the form adds without a check.
	CheckHost    func(ctx context.Context, h state.Host) (string, error)
	CheckTimeout time.Duration
	// ProbeHost probes a host the form added after checking it, for its
	// capabilities (the console records them); nil: no probe.
	ProbeHost func(ctx context.Context, h state.Host) ([]string, error)
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
	modeDetail
	modeHistory
	modeDoctor
	modeProp // typing a host's max_jobs or tags
)

// Model is the console's root model.
type Model struct {
	cfg Config
	// warnings are the store's and the calls' problems (see warningsOf),
	// shown on the status line when nothing else is.
	warnings []string
	ctx      context.Context
	cancel   context.CancelFunc
	ops      Ops
	watch    <-chan error

	keys          keyMap
	st            styles
	dark, noColor bool
	w, h          int
	focus         pane
	mode          mode

	view    selector.View
	loaded  time.Time
	haveAny bool
	dbErr   error

	hosts   hostsPane
	procs   procsPane
	log     logPane
	form    addForm
	confirm confirmDialog
	weight  weightInput
	detail  hostDetailView
	hist    historyView
	prop    propInput
	doc     doctorView
	help    helpScreen

	status     string
	statusErr  bool
	statusWarn bool // the status is a warning (a failed probe), not a result

	// A re-read of the open history or detail is under way (viewBusy); a
	// change seen meanwhile asks for one more when it lands (viewStale).
	// During a library scan the state changes several times a second: one
	// read at a time keeps the console from stacking them up.
	viewBusy, viewStale bool
}

// New builds the console; nothing is read until the program runs.
func New(cfg Config) Model {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := Model{cfg: cfg, ctx: ctx, cancel: cancel, keys: newKeyMap(), dark: true, st: newStyles(true, false),
		hosts: hostsPane{sort: unsorted()}, procs: procsPane{sort: unsorted(), filter: newFilterInput("pid, host or command")},
		log: logPane{search: newFilterInput("text in the log")}, weight: newWeightInput(),
		form: newAddForm(false), prop: newPropInput(), w: 80, h: 24}
	m.settle()
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
	return followLog(m.ctx, pathAt, m.log.pos)
}

func (m *Model) setStatus(text string, isErr bool) {
	m.status, m.statusErr, m.statusWarn = text, isErr, false
}

// setWarning shows a warning on the status line: something went wrong
// that undoes nothing (a new host's capability probe).
func (m *Model) setWarning(text string) { m.status, m.statusErr, m.statusWarn = text, false, true }

// settle keeps the selections inside the data and the keys true to the
// context; it runs after every change.
func (m *Model) settle() {
	m.hosts.clamp(m.view)
	m.procs.clamp(m.view)
	m.log.scrollBy(0)
	r, ok := m.hosts.selected(m.view)
	m.keys.enable(m.keyContext(r, ok))
}

func (m Model) keyContext(r hostRow, ok bool) keyContext {
	return keyContext{mode: m.mode, helpShown: m.help.shown, focus: m.focus, connected: m.ops != nil, readOnly: m.cfg.ReadOnly,
		host: ok && !r.fallback, row: ok, bad: ok && !r.fallback && r.host.Bad != nil,
		rows: len(m.view.Hosts) > 0 || len(m.view.Fallback) > 0 || len(m.view.Orphans) > 0, doctor: m.cfg.Doctor != nil,
		job: m.selectedJob() != nil, kill: m.cfg.Kill != nil, checking: m.form.checking, onCheckbox: m.form.canCheck && m.form.at == formNoCheck}
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
		return m, nil
	case tea.BackgroundColorMsg:
		m.dark = msg.IsDark()
		m.st = newStyles(m.dark, m.noColor)
		return m, nil
	case tea.ColorProfileMsg:
		// NO_COLOR (or a terminal without colours): the selection must not
		// rely on a background colour that will be dropped.
		m.noColor = msg.Profile <= colorprofile.ASCII
		m.st = newStyles(m.dark, m.noColor)
		return m, nil
	case tea.KeyPressMsg:
		next, cmd := m.key(msg)
		next.settle()
		return next, cmd
	case tea.MouseClickMsg, tea.MouseWheelMsg:
		next := m.mouse(msg.(tea.MouseMsg))
		next.settle()
		return next, nil
	}
	next, cmd := m.data(msg)
	next.settle()
	return next, cmd
}

// data handles what the store, the clock and the log send.
func (m Model) data(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case connectedMsg:
		m.ops, m.watch, m.dbErr = msg.ops, msg.watch, nil
		return m, tea.Batch(m.reload(), listen(m.watch))
	case dbErrMsg:
		m.dbErr = msg.err
		if m.ops == nil {
			return m, retryLater()
		}
	case watchErrMsg:
		m.dbErr = msg.err
		return m, listen(m.watch)
	case retryMsg:
		if m.ops == nil {
			return m, connect(m.ctx, m.cfg.Open)
		}
		return m, m.reload()
	case changedMsg:
		var again tea.Cmd
		if m.viewBusy {
			m.viewStale = true
		} else if again = m.reloadOpenView(); again != nil {
			m.viewBusy = true
		}
		return m, tea.Batch(m.reload(), listen(m.watch), again)
	case loadedMsg:
		m.view, m.loaded, m.haveAny, m.dbErr, m.warnings = msg.view, msg.at, true, nil, msg.warnings
		m.procs.progress, m.procs.stallAfter = msg.progress, m.cfg.StallAfter
	case historyMsg:
		m.hist.take(msg)
		return m.viewRead()
	case hostHistoryMsg:
		if msg.host == m.detail.host {
			m.detail.hist = hostHistory(msg)
		}
		return m.viewRead()
	case doctorMsg:
		m.doc.take(msg)
	case tickMsg:
		return m, tick()
	case logMsg:
		m.log.add(msg)
		return m, m.followLog()
	case doneMsg:
		// No reload here: the change feed sees the write and reloads once.
		m.setStatus(msg.text, msg.err != nil)
		if msg.err != nil {
			m.setStatus(msg.err.Error(), true)
		}
	case checkedMsg:
		return m.checked(msg)
	case formDoneMsg:
		return m.formDone(msg)
	case probedMsg:
		if text, warn := msg.text(); warn {
			m.setWarning(text)
		} else {
			m.setStatus(text, false)
		}
	}
	return m, nil
}

// viewRead notes that a read for the open view landed, and reads again
// when the state changed meanwhile.
func (m Model) viewRead() (Model, tea.Cmd) {
	m.viewBusy = false
	if !m.viewStale {
		return m, nil
	}
	m.viewStale = false
	again := m.reloadOpenView()
	m.viewBusy = again != nil
	return m, again
}

// reloadOpenView re-reads what the history or the host detail shows from
// the job history, when one of them is open: a finished job changes the
// state, so it arrives with the change feed.
func (m Model) reloadOpenView() tea.Cmd {
	switch m.mode {
	case modeHistory:
		return loadHistory(m.ctx, m.ops, m.hist.failedOnly)
	case modeDetail:
		return m.loadDetail()
	}
	return nil
}

// loadDetail reads the open detail's host history, with the jobs running
// on it now for the load's last minutes.
func (m Model) loadDetail() tea.Cmd {
	var running []state.Process
	if h := m.detail.find(m.view); h != nil {
		running = h.Processes
	}
	return loadHostHistory(m.ctx, m.ops, m.detail.host, running, m.cfg.Now(), sparkBuckets(m.w))
}

func (m Model) quit() tea.Cmd {
	m.cancel()
	if m.ops != nil {
		m.ops.Close()
	}
	return tea.Quit
}

// Run runs the console on the terminal until the user quits.
func Run(cfg Config) error {
	// 20 frames a second is plenty for a status console and wakes the
	// process a third as often as the default 60 while idle.
	_, err := tea.NewProgram(New(cfg), tea.WithFPS(20)).Run()
	return err
}
