package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

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
func (f addForm) values() (host, name string, weight int, err error) {
	host = strings.TrimSpace(f.inputs[0].Value())
	name = strings.TrimSpace(f.inputs[1].Value())
	w := strings.TrimSpace(f.inputs[2].Value())
	weight, perr := strconv.Atoi(w)
	if perr != nil {
		return host, name, 0, fmt.Errorf("weight %q is not a whole number", w)
	}
	return host, name, weight, state.ValidateHost(host, name, weight)
}

func (m Model) formKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.mode = modeNormal
		m.setStatus("add cancelled", false)
		return m, nil
	case "tab", "down":
		return m, m.form.focus(m.form.at + 1)
	case "shift+tab", "up":
		return m, m.form.focus(m.form.at - 1)
	case "enter":
		if m.form.at < len(m.form.inputs)-1 {
			return m, m.form.focus(m.form.at + 1)
		}
		host, name, weight, err := m.form.values()
		if err != nil {
			m.form.err = err.Error()
			return m, nil
		}
		ops, ctx, now := m.ops, m.ctx, m.cfg.Now
		return m, func() tea.Msg {
			h, err := ops.AddHost(ctx, host, name, weight, now())
			return formDoneMsg{text: fmt.Sprintf("added host %s (%s) with id %d and weight %d", h.Servername, h.Hostname, h.ID, h.Weight), err: err}
		}
	}
	var cmd tea.Cmd
	m.form.inputs[m.form.at], cmd = m.form.inputs[m.form.at].Update(msg)
	// Say what is wrong while typing, once there is something to judge.
	if _, _, _, err := m.form.values(); err != nil && m.form.inputs[0].Value() != "" {
		m.form.err = err.Error()
	} else {
		m.form.err = ""
	}
	return m, cmd
}

func (m Model) formView(width int) string {
	var b strings.Builder
	b.WriteString(m.st.formLabel.Render("Add a transcode host") + "\n\n")
	for i, in := range m.form.inputs {
		marker := "  "
		if i == m.form.at {
			marker = "› "
		}
		b.WriteString(fmt.Sprintf("%s%-16s %s\n", marker, formLabels[i], in.View()))
	}
	b.WriteString("\n")
	if m.form.err != "" {
		b.WriteString(m.st.formErr.Render("✗ "+m.form.err) + "\n")
	} else {
		b.WriteString(m.st.dim.Render("enter: next / add · tab: next field · esc: cancel") + "\n")
	}
	return m.st.formBox.Width(min(width, 72)).Render(strings.TrimRight(b.String(), "\n"))
}
