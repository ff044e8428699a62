package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// key routes a key press to whatever has the keyboard: the help screen, an
// open child (form, confirmation, weight, filter), or the main view.
func (m Model) key(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if keyIs(msg, m.keys.ForceQuit) {
		return m, m.quit()
	}
	var cmd tea.Cmd
	var out outcome
	switch {
	case m.help.shown:
		if keyIs(msg, m.keys.Quit) {
			return m, m.quit()
		}
		m.help = m.help.update(msg)
		return m, nil
	case m.mode == modeForm:
		return m.formKey(msg)
	case m.mode == modeConfirm:
		switch m.confirm.update(msg, m.keys) {
		case accepted:
			m.mode = modeNormal
			return m, m.confirm.run
		case cancelled:
			m.mode = modeNormal
			m.setStatus("cancelled: nothing changed", false)
		}
		return m, nil
	case m.mode == modeWeight:
		if m.weight, cmd, out = m.weight.update(msg, m.keys); out != stay {
			m.mode = modeNormal
		}
		if out == accepted {
			return m, m.setWeight()
		}
		return m, cmd
	case m.mode == modeProp:
		return m.propKey(msg)
	case m.mode == modeDetail, m.mode == modeHistory, m.mode == modeDoctor:
		return m.viewKey(msg)
	case m.mode == modeFilter:
		in := m.filterOfFocus()
		*in, cmd = in.update(msg, m.keys)
		if !in.editing {
			m.mode = modeNormal
		}
		return m, cmd
	}
	return m.mainKey(msg)
}

// viewKey handles the keys of the views that take the whole body: the host
// detail, the history and the doctor's report.
func (m Model) viewKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.keys
	page := max(m.bodyHeight()-2, 1)
	switch {
	case keyIs(msg, k.Quit):
		return m, m.quit()
	case keyIs(msg, k.DetailClose), keyIs(msg, k.HistoryClose):
		m.mode = modeNormal
	case keyIs(msg, k.DoctorClose):
		m.mode = m.doc.back
	case keyIs(msg, k.Doctor):
		return m.startDoctor()
	case keyIs(msg, k.FailedOnly):
		m.hist = historyView{failedOnly: !m.hist.failedOnly}
		return m, loadHistory(m.ctx, m.ops, m.hist.failedOnly)
	case keyIs(msg, k.Up):
		m.scrollView(-1)
	case keyIs(msg, k.Down):
		m.scrollView(1)
	case keyIs(msg, k.PageUp):
		m.scrollView(-page)
	case keyIs(msg, k.PageDown):
		m.scrollView(page)
	}
	return m, nil
}

// scrollView moves the open view by d lines (the history: its selection
// by d rows), never past its end.
func (m *Model) scrollView(d int) {
	f, room := m.frame(), m.bodyHeight()-1
	switch m.mode {
	case modeHistory:
		m.hist.choose(m.hist.sel + d)
	case modeDetail:
		n := 0
		if h := m.detail.find(m.view); h != nil {
			n = len(m.detail.lines(f, h))
		}
		m.detail.scroll = min(max(m.detail.scroll+d, 0), max(n-room, 0))
	case modeDoctor:
		m.doc.scroll = min(max(m.doc.scroll+d, 0), max(len(m.doc.body(f))-room, 0))
	}
}

// startDoctor runs the doctor on the selected host (in the detail: its
// host; on the fallback row: every host) and opens its report.
func (m Model) startDoctor() (Model, tea.Cmd) {
	back := m.mode
	if back != modeDetail {
		back = modeNormal
	}
	run := m.doc.run + 1
	m.doc = doctorView{label: "every host", run: run, started: m.cfg.Now(), back: back}
	r, ok := m.hosts.selected(m.view)
	if m.mode == modeDetail {
		h := m.detail.find(m.view)
		r, ok = hostRow{host: h}, h != nil
	}
	if ok && !r.fallback {
		m.doc.label, m.doc.hosts = r.label(), []string{r.host.Servername}
	}
	m.mode = modeDoctor
	return m, runDoctor(m.ctx, m.cfg.Doctor, run, m.doc.hosts)
}

// propKey handles the max_jobs and tags input: enter validates and asks,
// esc cancels.
func (m Model) propKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	p, cmd, out := m.prop.update(msg, m.keys)
	m.prop = p
	switch out {
	case cancelled:
		m.mode = modeNormal
		m.setStatus("nothing changed", false)
	case accepted:
		hp, question, err := m.prop.props()
		if err != nil {
			m.prop.err = err.Error()
			return m, nil
		}
		hk, label := m.prop.host, m.prop.label
		return m.ask(question, m.write(func(ctx context.Context, ops Ops) (string, error) {
			h, err := ops.SetHostPropsByKey(ctx, hk, hp)
			return fmt.Sprintf("%s: max jobs %s, tags %s", label, limit(h.MaxJobs), tagList(h.Tags)), err
		}))
	}
	return m, cmd
}

// filterOfFocus is the filter of the focused pane: the processes' filter or
// the log's search.
func (m *Model) filterOfFocus() *filterInput {
	if m.focus == paneLog {
		return &m.log.search
	}
	return &m.procs.filter
}

func (m Model) formKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	f, cmd, out, h := m.form.update(msg, m.keys)
	m.form = f
	switch out {
	case cancelled:
		m.mode = modeNormal
		m.setStatus("add cancelled", false)
	case accepted:
		// Unchecked when asked to (the box ticked), or for a localhost
		// host, which runs here without ssh (as `rffmpeg add` does).
		if h.noCheck || m.cfg.CheckHost == nil || h.candidate().IsLocal() {
			return m, addHost(m.ctx, m.ops, m.cfg.Now, m.form.run, h, false, "")
		}
		timeout := m.cfg.CheckTimeout
		if timeout <= 0 {
			timeout = defaultCheckTimeout
		}
		ctx, run := m.form.startCheck(m.ctx, h, m.cfg.Now(), timeout)
		return m, checkHost(ctx, m.ops, m.cfg.CheckHost, timeout, run, h)
	}
	return m, cmd
}

// defaultCheckTimeout bounds a check when the caller set no bound.
const defaultCheckTimeout = 15 * time.Second

// checked takes a check's result: a host that answered is added; one that
// did not keeps the form open with the reason and the way to add it
// anyway; values the store refuses are the form's error.
func (m Model) checked(msg checkedMsg) (Model, tea.Cmd) {
	if m.mode != modeForm || !m.form.checking || msg.run != m.form.run {
		return m, nil // stopped, or the form is gone
	}
	switch {
	case msg.unreachable:
		m.form.finish()
		m.form.refused = msg.err.Error()
	case msg.err != nil:
		m.form.finish()
		m.form.err = msg.err.Error()
	default:
		return m, addHost(msg.ctx, m.ops, m.cfg.Now, msg.run, msg.host, true, msg.version)
	}
	return m, nil
}

// formDone takes the add's result: the form closes and, for a checked
// host, its capabilities are probed in the background. A host added
// although its check was stopped a moment too late closes the form too:
// it must not go on saying nothing was added.
func (m Model) formDone(msg formDoneMsg) (Model, tea.Cmd) {
	if msg.err != nil {
		if m.mode == modeForm && msg.run == m.form.run {
			m.form.finish()
			m.form.err = msg.err.Error()
		}
		return m, nil
	}
	if m.mode == modeForm {
		m.form.finish()
		m.mode = modeNormal
	}
	if msg.probe && m.cfg.ProbeHost != nil {
		m.setStatus(msg.text+"; probing its capabilities…", false)
		return m, probeHost(m.ctx, m.ops, m.cfg.ProbeHost, m.cfg.Now, msg.host)
	}
	m.setStatus(msg.text, false)
	return m, nil
}

// mainKey handles the main view's keys: moving around, then the writes.
func (m Model) mainKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.keys
	m.status = ""
	switch {
	case keyIs(msg, k.Quit):
		return m, m.quit()
	case keyIs(msg, k.Help):
		m.help.shown = true
	case keyIs(msg, k.History):
		m.mode, m.hist.loaded = modeHistory, false
		return m, loadHistory(m.ctx, m.ops, m.hist.failedOnly)
	case keyIs(msg, k.Doctor):
		return m.startDoctor()
	case keyIs(msg, k.Tab):
		m.focus = (m.focus + 1) % paneCount
	case keyIs(msg, k.ShiftTab):
		m.focus = (m.focus + paneCount - 1) % paneCount
	case keyIs(msg, k.Up):
		m.move(-1)
	case keyIs(msg, k.Down):
		m.move(1)
	case keyIs(msg, k.PageUp):
		m.log.scrollBy(max(m.logHeight()-1, 1))
	case keyIs(msg, k.PageDown):
		m.log.scrollBy(-max(m.logHeight()-1, 1))
	case keyIs(msg, k.Add):
		m.form, m.mode = newAddForm(m.cfg.CheckHost != nil), modeForm
		return m, m.form.focus(0)
	case keyIs(msg, k.Filter):
		m.mode = modeFilter
		in := m.filterOfFocus()
		var cmd tea.Cmd
		*in, cmd = in.open()
		return m, cmd
	case keyIs(msg, k.Sort), keyIs(msg, k.SortReverse):
		m.sortKey(keyIs(msg, k.SortReverse))
	case keyIs(msg, k.Level):
		m.log.level = (m.log.level + 1) % len(logLevels)
		m.log.scroll = 0
	case keyIs(msg, k.Kill):
		return m.askKill()
	default:
		return m.hostKey(msg)
	}
	return m, nil
}

// sortKey sorts the focused table by its next column, or reverses it.
func (m *Model) sortKey(reverse bool) {
	o, n := &m.hosts.sort, len(hostSorts)
	if m.focus == paneProcs {
		o, n = &m.procs.sort, len(procSorts)
	}
	switch {
	case !reverse:
		*o = o.next(n)
	case o.col >= 0:
		o.desc = !o.desc
	}
}

func (m *Model) move(d int) {
	switch m.focus {
	case paneHosts:
		m.hosts.choose(m.view, m.hosts.sel+d)
	case paneProcs:
		m.procs.choose(m.procs.rows(m.view), m.procs.sel+d)
	case paneLog:
		m.log.scrollBy(-d)
	}
}

// hostKey handles the writes on the hosts pane. Each names the row the
// user sees by its key, so a row that vanished meanwhile is an error and
// never another host.
func (m Model) hostKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := m.keys
	if keyIs(msg, k.ClearAll) {
		return m.ask(m.clearAllQuestion(), m.write(func(ctx context.Context, ops Ops) (string, error) {
			n, err := ops.ClearAll(ctx, false)
			return fmt.Sprintf("cleared %s and %s", plural(n.Processes, "process row"), plural(n.States, "state row")), err
		}))
	}
	r, ok := m.hosts.selected(m.view)
	if !ok {
		return m, nil
	}
	hk, label := r.key(), r.label()
	switch {
	case keyIs(msg, k.Remove):
		return m.ask(fmt.Sprintf("remove host %s: %s", label, running(r.jobs(m.view))), m.write(func(ctx context.Context, ops Ops) (string, error) {
			_, err := ops.RemoveHostByKey(ctx, hk)
			return "removed host " + label, err
		}))
	case keyIs(msg, k.ClearHost):
		return m.ask(m.clearQuestion(r), m.write(func(ctx context.Context, ops Ops) (string, error) {
			n, err := ops.ClearByKey(ctx, hk, false)
			return fmt.Sprintf("cleared %s and %s of %s", plural(n.Processes, "process row"), plural(n.States, "state row"), label), err
		}))
	case keyIs(msg, k.WeightUp):
		return m, m.addWeight(hk, label, +1)
	case keyIs(msg, k.WeightDown):
		return m, m.addWeight(hk, label, -1)
	case keyIs(msg, k.Detail):
		m.mode, m.detail = modeDetail, hostDetailView{host: hk}
		return m, m.loadDetail()
	case keyIs(msg, k.MaxJobs), keyIs(msg, k.Tags):
		kind := propMaxJobs
		if keyIs(msg, k.Tags) {
			kind = propTags
		}
		var cmd tea.Cmd
		m.mode = modeProp
		m.prop, cmd = m.prop.open(r, kind)
		return m, cmd
	case keyIs(msg, k.Weight):
		m.mode = modeWeight
		var cmd tea.Cmd
		m.weight, cmd = m.weight.open(r)
		return m, cmd
	case keyIs(msg, k.Drain):
		on := !r.host.Drain
		return m, m.write(func(ctx context.Context, ops Ops) (string, error) {
			_, err := ops.SetDrainByKey(ctx, hk, on)
			if on {
				return "draining " + label + ": no new jobs, running ones finish", err
			}
			return label + " takes new jobs again", err
		})
	case keyIs(msg, k.ClearBad):
		return m, m.write(func(ctx context.Context, ops Ops) (string, error) {
			_, err := ops.ClearByKey(ctx, hk, true)
			return "cleared the bad mark of " + label + ": it will be tried again", err
		})
	}
	return m, nil
}

func (m Model) ask(question string, run tea.Cmd) (Model, tea.Cmd) {
	m.mode, m.confirm = modeConfirm, confirmDialog{question: question, run: run}
	return m, nil
}

// write runs a store operation as a command that reports for the status line.
func (m Model) write(fn func(context.Context, Ops) (string, error)) tea.Cmd {
	ops, ctx := m.ops, m.ctx
	if ops == nil {
		return nil
	}
	return func() tea.Msg {
		text, err := fn(ctx, ops)
		return doneMsg{text: text, err: err}
	}
}

// addWeight moves a weight by delta in the store itself, so quick presses
// add up whatever the screen showed; it never goes below 1.
func (m Model) addWeight(hk state.HostKey, label string, delta int) tea.Cmd {
	return m.write(func(ctx context.Context, ops Ops) (string, error) {
		h, err := ops.AddWeightByKey(ctx, hk, delta)
		if err == nil && delta < 0 && h.Weight == 1 {
			return fmt.Sprintf("%s has weight 1, the lowest", label), nil
		}
		return fmt.Sprintf("%s now has weight %d", label, h.Weight), err
	})
}

// setWeight writes the weight typed in the weight input.
func (m Model) setWeight() tea.Cmd {
	w, err := m.weight.value()
	if err != nil {
		return func() tea.Msg { return doneMsg{err: err} }
	}
	hk, label := m.weight.host, m.weight.label
	return m.write(func(ctx context.Context, ops Ops) (string, error) {
		_, err := ops.SetWeightByKey(ctx, hk, w)
		return fmt.Sprintf("%s now has weight %d", label, w), err
	})
}

func errNotWhole(v string) error {
	return fmt.Errorf("weight %q is not a whole number", escape.Line(v))
}

// clearQuestion says what clearing a row's rows affects.
func (m Model) clearQuestion(r hostRow) string {
	q := fmt.Sprintf("clear the process and state rows of %s: %s", r.label(), running(r.jobs(m.view)))
	if !r.fallback && r.host.Bad != nil {
		q += ", its bad mark goes"
	}
	return q
}

func (m Model) clearAllQuestion() string {
	jobs, hosts, bad := len(m.view.Fallback)+len(m.view.Orphans), 0, 0
	for _, h := range m.view.Hosts {
		jobs += len(h.Processes)
		if len(h.Processes) > 0 {
			hosts++
		}
		if h.Bad != nil {
			bad++
		}
	}
	if len(m.view.Fallback) > 0 {
		hosts++
	}
	q := "clear the process and state rows of every host: " + running(jobs)
	if jobs > 0 {
		q += " on " + plural(hosts, "host")
	}
	switch {
	case bad == 1:
		q += ", 1 bad mark goes"
	case bad > 1:
		q += ", " + plural(bad, "bad mark") + " go"
	}
	return q
}

// running says how many jobs run: "no jobs running", "1 job running".
func running(n int) string {
	if n == 0 {
		return "no jobs running"
	}
	return plural(n, "job") + " running"
}

// plural is "1 host", "2 hosts"; nouns ending in s take "es".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	if noun[len(noun)-1] == 's' {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// selectedJob is the running job selected in the processes pane (nil: none,
// or a queued call, which has no process to stop).
func (m Model) selectedJob() *procRow {
	if m.focus != paneProcs {
		return nil
	}
	rows := m.procs.rows(m.view)
	if m.procs.sel < 0 || m.procs.sel >= len(rows) || rows[m.procs.sel].queued > 0 {
		return nil
	}
	r := rows[m.procs.sel]
	return &r
}

// askKill confirms stopping the selected job, naming it: only y kills.
func (m Model) askKill() (Model, tea.Cmd) {
	r := m.selectedJob()
	kill, ctx := m.cfg.Kill, m.ctx
	if r == nil || kill == nil || m.cfg.ReadOnly {
		return m, nil
	}
	pid, id := r.p.PID, r.p.ID
	q := fmt.Sprintf("kill PID %d on %s (TERM, then KILL after 10 s): %s", pid, escape.Line(r.host), escape.Line(r.p.Cmd))
	return m.ask(q, act(func() (string, error) { return kill(ctx, pid, id) }))
}
