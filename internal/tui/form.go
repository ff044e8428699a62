package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// addForm is the "add a host" form: hostname, optional name, weight,
// checked as you type with the store's own validation; then, as `rffmpeg
// add` does, the host itself is checked (ssh and its ffmpeg -version)
// before it is added. The check runs in a command: the form shows it
// running and can stop it. A host that does not answer is refused with the
// reason in full, and the form stays open: fix it and check again, or tick
// "add without checking" (the CLI's --no-check) and submit.
type addForm struct {
	inputs [3]textinput.Model
	at     int // the focused row: an input, or the checkbox (formNoCheck)
	err    string
	// canCheck: the console can check hosts (Config.CheckHost is wired);
	// without it there is no checkbox and the form adds directly.
	canCheck bool
	noCheck  bool // "add without checking" is ticked
	// refused is why the last check refused the host (the form offers to
	// add it anyway); "" when it was not refused.
	refused string
	// checking: a check (or the add after it) is under way since started;
	// run tells its result from a stopped one's.
	checking bool
	checked  string // what is being checked, for the form ("127.0.0.9")
	started  time.Time
	run      int
	stop     context.CancelFunc
	timeout  time.Duration // the check's bound, shown while it runs
}

// formNoCheck is the checkbox's row, after the inputs.
const formNoCheck = 3

// formDoneMsg reports the form's submission: the host added (and what its
// check found), or why not.
type formDoneMsg struct {
	run   int
	text  string
	err   error
	host  state.Host
	probe bool // the host was checked: probe its capabilities now
}

// checkedMsg is a check's result: err from the store (the values are
// refused, no add anyway) or unreachable (the host did not answer).
type checkedMsg struct {
	ctx         context.Context // the check's: esc stops the add after it too
	run         int
	host        newHost
	version     string
	err         error
	unreachable bool
}

// probedMsg is a new host's capability probe, for the status line.
type probedMsg struct {
	label string
	caps  []string
	err   error
}

// newHost is what a valid form submits.
type newHost struct {
	hostname, name string
	weight         int
	noCheck        bool
}

// candidate is the host h would add, as far as reaching it goes.
func (h newHost) candidate() state.Host {
	name := h.name
	if name == "" {
		name = h.hostname
	}
	return state.Host{Hostname: h.hostname, Servername: name, Weight: h.weight}
}

var formLabels = [3]string{"Hostname", "Name (optional)", "Weight"}

func newAddForm(canCheck bool) addForm {
	f := addForm{canCheck: canCheck}
	for i := range f.inputs {
		t := textinput.New()
		t.Prompt = ""
		t.CharLimit = 253
		t.SetWidth(40)
		f.inputs[i] = t
	}
	f.inputs[0].Placeholder = "gpu1.lan or 192.168.1.20"
	f.inputs[1].Placeholder = "defaults to the hostname"
	f.inputs[2].SetValue("1")
	f.inputs[2].CharLimit = 6
	return f
}

// rows is how many rows take the focus: the inputs and the checkbox.
func (f addForm) rows() int {
	if f.canCheck {
		return len(f.inputs) + 1
	}
	return len(f.inputs)
}

func (f *addForm) focus(i int) tea.Cmd {
	f.at = (i + f.rows()) % f.rows()
	for j := range f.inputs {
		f.inputs[j].Blur()
	}
	if f.at < len(f.inputs) {
		return f.inputs[f.at].Focus()
	}
	return nil
}

// values validates the fields; the error says what to fix.
func (f addForm) values() (newHost, error) {
	h := newHost{hostname: strings.TrimSpace(f.inputs[0].Value()), name: strings.TrimSpace(f.inputs[1].Value()), noCheck: f.noCheck}
	w := strings.TrimSpace(f.inputs[2].Value())
	var err error
	if h.weight, err = strconv.Atoi(w); err != nil {
		return h, fmt.Errorf("weight %q is not a whole number", w)
	}
	return h, state.ValidateHost(h.hostname, h.name, h.weight)
}

// update handles a key. The outcome is accepted with the host to add once
// the weight or the checkbox is entered and the values are valid,
// cancelled on esc. While a check runs, esc stops it (the form stays) and
// nothing else is taken.
func (f addForm) update(msg tea.KeyPressMsg, k keyMap) (addForm, tea.Cmd, outcome, newHost) {
	if f.checking {
		if keyIs(msg, k.CheckStop) {
			f.stopCheck()
			f.err = "check stopped: nothing added"
		}
		return f, nil, stay, newHost{}
	}
	switch {
	case keyIs(msg, k.FormCancel):
		return f, nil, cancelled, newHost{}
	case keyIs(msg, k.FormNext):
		return f, f.focus(f.at + 1), stay, newHost{}
	case keyIs(msg, k.FormPrev):
		return f, f.focus(f.at - 1), stay, newHost{}
	case keyIs(msg, k.FormToggle):
		f.noCheck = !f.noCheck
		return f, nil, stay, newHost{}
	case keyIs(msg, k.FormSubmit):
		if f.at < len(f.inputs)-1 {
			return f, f.focus(f.at + 1), stay, newHost{}
		}
		h, err := f.values()
		if err != nil {
			f.err = err.Error()
			return f, nil, stay, newHost{}
		}
		return f, nil, accepted, h
	}
	if f.at >= len(f.inputs) {
		return f, nil, stay, newHost{}
	}
	var cmd tea.Cmd
	before := f.inputs[f.at].Value()
	f.inputs[f.at], cmd = f.inputs[f.at].Update(msg)
	if f.inputs[f.at].Value() != before {
		f.refused = "" // a new host: the old refusal is not about it
	}
	// Say what is wrong while typing, once there is something to judge.
	if _, err := f.values(); err != nil && f.inputs[0].Value() != "" {
		f.err = err.Error()
	} else {
		f.err = ""
	}
	return f, cmd, stay, newHost{}
}

// startCheck marks the form as checking h and returns the context the
// check runs under (stopped by esc, by quitting, or after its bound).
func (f *addForm) startCheck(parent context.Context, h newHost, now time.Time, timeout time.Duration) (context.Context, int) {
	f.run++
	f.checking, f.checked, f.started, f.err, f.refused, f.timeout = true, h.hostname, now, "", "", timeout
	ctx, cancel := context.WithCancel(parent)
	f.stop = cancel
	return ctx, f.run
}

// stopCheck ends a running check; its result, when it comes, is dropped.
func (f *addForm) stopCheck() {
	if f.stop != nil {
		f.stop()
	}
	f.checking, f.stop = false, nil
	f.run++
}

// finish ends a check whose result came; the form keeps its run.
func (f *addForm) finish() {
	if f.stop != nil {
		f.stop()
	}
	f.checking, f.stop = false, nil
}

// checkHost checks h in a command as `rffmpeg add` does: the values as the
// store judges them (a taken name is refused before any wait), then the
// host itself through check, bounded by timeout.
func checkHost(ctx context.Context, ops Ops, check func(context.Context, state.Host) (string, error), timeout time.Duration, run int, h newHost) tea.Cmd {
	return func() tea.Msg {
		if err := ops.CheckAdd(ctx, h.hostname, h.name, h.weight, state.HostProps{}); err != nil {
			return checkedMsg{ctx: ctx, run: run, host: h, err: err}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := check(cctx, h.candidate())
		return checkedMsg{ctx: ctx, run: run, host: h, version: v, err: err, unreachable: err != nil}
	}
}

// addHost adds h in a command; checked: its check passed, finding version.
func addHost(ctx context.Context, ops Ops, now func() time.Time, run int, h newHost, checked bool, version string) tea.Cmd {
	return func() tea.Msg {
		a, err := ops.AddHost(ctx, h.hostname, h.name, h.weight, now())
		if err != nil {
			return formDoneMsg{run: run, err: err}
		}
		text := fmt.Sprintf("added host %s (%s) with id %d and weight %d", escape.Line(a.Servername), escape.Line(a.Hostname), a.ID, a.Weight)
		switch {
		case checked && version != "":
			text += ": " + escape.Line(version)
		case h.noCheck && !a.IsLocal():
			text += " without checking it"
		}
		return formDoneMsg{run: run, text: text, host: a, probe: checked}
	}
}

// probeHost probes a host just added and records its capabilities, as
// `rffmpeg add` does; a failure is a warning, never an undo.
func probeHost(ctx context.Context, ops Ops, probe func(context.Context, state.Host) ([]string, error), now func() time.Time, h state.Host) tea.Cmd {
	label := escape.Line(h.Servername) + " (" + escape.Line(h.Hostname) + ")"
	return func() tea.Msg {
		caps, err := probe(ctx, h)
		if err == nil {
			_, err = ops.SetCapabilities(ctx, h.Key(), caps, now())
		}
		return probedMsg{label: label, caps: caps, err: err}
	}
}

// text is a probe's result for the status line, and whether it is a
// warning.
func (p probedMsg) text() (string, bool) {
	if p.err != nil {
		return fmt.Sprintf("%s: capability probe failed: %s; jobs are routed to it as if it could do anything", p.label, escape.Line(p.err.Error())), true
	}
	return fmt.Sprintf("capabilities of %s: %s", p.label, escape.Line(jobclass.DescribeCaps(p.caps))), false
}

// formReasonLines is how many lines a refusal's reason may take in the
// form (at 80×24 the form still fits with the hosts pane above it).
const formReasonLines = 6

func (f addForm) view(st styles, width int, now time.Time) string {
	boxW := min(width, 72)
	inner := max(boxW-4, 10) // the border and the padding
	var b strings.Builder
	b.WriteString(st.formLabel.Render("Add a transcode host") + "\n\n")
	for i, in := range f.inputs {
		b.WriteString(fmt.Sprintf("%s%-16s %s\n", f.marker(i), formLabels[i], in.View()))
	}
	if f.canCheck {
		box := "[ ]"
		if f.noCheck {
			box = "[x]"
		}
		b.WriteString(fmt.Sprintf("%s%s add without checking %s\n", f.marker(formNoCheck), box, st.dim.Render("(--no-check)")))
	}
	para := func(style func(...string) string, text string, n int) {
		for _, l := range wrap(text, inner, n) {
			b.WriteString(style(l) + "\n")
		}
	}
	switch {
	case f.checking:
		b.WriteString("\n")
		para(st.draining.Render, fmt.Sprintf("checking %s… %s (ssh and its ffmpeg -version; gives up after %s)",
			escape.Line(f.checked), age(now.Sub(f.started)), age(f.timeout)), 2)
		para(st.dim.Render, "esc stops the check", 1)
	case f.refused != "":
		b.WriteString("\n")
		para(st.formErr.Render, "✗ "+escape.Line(f.checked)+" not added: "+escape.Line(f.refused), formReasonLines)
		b.WriteString("\n")
		para(st.dim.Render, "enter checks again; to add it anyway, tick “add without checking” (tab to it, space), then enter", 3)
	case f.err != "":
		b.WriteString("\n")
		para(st.formErr.Render, "✗ "+escape.Line(f.err), 3)
	}
	return st.formBox.Width(boxW).Render(strings.TrimRight(b.String(), "\n"))
}

func (f addForm) marker(i int) string {
	if i == f.at && !f.checking {
		return "› "
	}
	return "  "
}
