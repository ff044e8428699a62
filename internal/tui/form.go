package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// addForm is the "add a host" form: hostname, optional name, weight,
// checked as you type with the store's own validation.
type addForm struct {
	inputs [3]textinput.Model
	at     int
	err    string
}

// formDoneMsg reports the form's submission.
type formDoneMsg struct {
	text string
	err  error
}

// newHost is what a valid form submits.
type newHost struct {
	hostname, name string
	weight         int
}

var formLabels = [3]string{"Hostname", "Name (optional)", "Weight"}

func newAddForm() addForm {
	var f addForm
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

func (f *addForm) focus(i int) tea.Cmd {
	f.at = (i + len(f.inputs)) % len(f.inputs)
	for j := range f.inputs {
		f.inputs[j].Blur()
	}
	return f.inputs[f.at].Focus()
}

// values validates the fields; the error says what to fix.
func (f addForm) values() (newHost, error) {
	h := newHost{hostname: strings.TrimSpace(f.inputs[0].Value()), name: strings.TrimSpace(f.inputs[1].Value())}
	w := strings.TrimSpace(f.inputs[2].Value())
	var err error
	if h.weight, err = strconv.Atoi(w); err != nil {
		return h, fmt.Errorf("weight %q is not a whole number", w)
	}
	return h, state.ValidateHost(h.hostname, h.name, h.weight)
}

// update handles a key. The outcome is accepted with the host to add once
// the last field is entered and valid, cancelled on esc.
func (f addForm) update(msg tea.KeyPressMsg, k keyMap) (addForm, tea.Cmd, outcome, newHost) {
	switch {
	case keyIs(msg, k.FormCancel):
		return f, nil, cancelled, newHost{}
	case keyIs(msg, k.FormNext):
		return f, f.focus(f.at + 1), stay, newHost{}
	case keyIs(msg, k.FormPrev):
		return f, f.focus(f.at - 1), stay, newHost{}
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
	var cmd tea.Cmd
	f.inputs[f.at], cmd = f.inputs[f.at].Update(msg)
	// Say what is wrong while typing, once there is something to judge.
	if _, err := f.values(); err != nil && f.inputs[0].Value() != "" {
		f.err = err.Error()
	} else {
		f.err = ""
	}
	return f, cmd, stay, newHost{}
}

func (f addForm) view(st styles, width int) string {
	var b strings.Builder
	b.WriteString(st.formLabel.Render("Add a transcode host") + "\n\n")
	for i, in := range f.inputs {
		marker := "  "
		if i == f.at {
			marker = "› "
		}
		b.WriteString(fmt.Sprintf("%s%-16s %s\n", marker, formLabels[i], in.View()))
	}
	if f.err != "" {
		b.WriteString("\n" + st.formErr.Render("✗ "+escape.Line(f.err)) + "\n")
	}
	return st.formBox.Width(min(width, 72)).Render(strings.TrimRight(b.String(), "\n"))
}
