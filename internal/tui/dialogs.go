package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// outcome is how a child's update ended: it stays open, or is accepted or
// cancelled (the root then closes it).
type outcome int

const (
	stay outcome = iota
	accepted
	cancelled
)

func keyIs(msg tea.KeyPressMsg, b key.Binding) bool { return key.Matches(msg, b) }

// confirmDialog asks before a destructive write. Only y says yes: enter
// takes the default, no, as "[y/N]" promises.
type confirmDialog struct {
	question string // what is affected, e.g. "remove host gpu1 (id 3): 2 jobs running"
	run      tea.Cmd
}

func (c confirmDialog) update(msg tea.KeyPressMsg, k keyMap) outcome {
	switch {
	case keyIs(msg, k.Yes):
		return accepted
	case keyIs(msg, k.No):
		return cancelled
	}
	return stay
}

func (c confirmDialog) view(st styles, w int) string {
	return st.confirm.Render(fit(c.question+"? [y/N]", w))
}

// weightInput sets a host's weight to a typed number.
type weightInput struct {
	in    textinput.Model
	host  state.HostKey
	label string
}

func newWeightInput() weightInput {
	w := textinput.New()
	w.Prompt = "weight: "
	w.CharLimit = 6
	w.SetWidth(8)
	return weightInput{in: w}
}

// open starts editing the weight of row r.
func (w weightInput) open(r hostRow) (weightInput, tea.Cmd) {
	w.host, w.label = r.key(), r.label()
	w.in.SetValue(strconv.Itoa(r.host.Weight))
	w.in.CursorEnd()
	return w, w.in.Focus()
}

func (w weightInput) update(msg tea.KeyPressMsg, k keyMap) (weightInput, tea.Cmd, outcome) {
	switch {
	case keyIs(msg, k.WeightCancel):
		return w, nil, cancelled
	case keyIs(msg, k.WeightSet):
		return w, nil, accepted
	}
	var cmd tea.Cmd
	w.in, cmd = w.in.Update(msg)
	return w, cmd, stay
}

// value is the typed weight, or an error saying why it is not one.
func (w weightInput) value() (int, error) {
	v := strings.TrimSpace(w.in.Value())
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errNotWhole(v)
	}
	return n, nil
}

func (w weightInput) view(st styles) string {
	return w.in.View() + st.dim.Render("  "+w.label)
}
