package tui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/escape"
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

// view is the question in as many lines as it needs (at most
// detailLines): what a change affects is the point of asking.
func (c confirmDialog) view(st styles, w int) []string {
	lines := wrap(c.question+"? [y/N]", w, detailLines)
	for i, l := range lines {
		lines[i] = st.confirm.Render(fit(l, w))
	}
	return lines
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

// propKind is which host property the prop input edits.
type propKind int

const (
	propMaxJobs propKind = iota
	propTags
)

// propInput types a host's max_jobs or tags. Enter does not write: it
// turns the value into a question that says what changes, which only y
// confirms (state.ValidateHostProps checks the value first, so a bad one
// is refused at once with the store's own words).
type propInput struct {
	in      textinput.Model
	kind    propKind
	host    state.HostKey
	label   string
	old     state.Host
	running int
	err     string
}

func newPropInput() propInput {
	in := textinput.New()
	in.CharLimit = 400
	in.SetWidth(40)
	return propInput{in: in}
}

// open starts editing property kind of row r, whose host runs jobs now.
func (p propInput) open(r hostRow, kind propKind) (propInput, tea.Cmd) {
	p.kind, p.host, p.label, p.old, p.running, p.err = kind, r.key(), r.label(), r.host.Host, len(r.host.Processes), ""
	switch kind {
	case propMaxJobs:
		p.in.Prompt, p.in.Placeholder = "max jobs: ", "0 = no limit"
		p.in.SetValue(strconv.Itoa(p.old.MaxJobs))
	case propTags:
		p.in.Prompt, p.in.Placeholder = "tags: ", "a,b replaces; +a,-b adds and removes; empty clears"
		p.in.SetValue(strings.Join(p.old.Tags, ","))
	}
	p.in.CursorEnd()
	return p, p.in.Focus()
}

func (p propInput) update(msg tea.KeyPressMsg, k keyMap) (propInput, tea.Cmd, outcome) {
	switch {
	case keyIs(msg, k.InputCancel):
		return p, nil, cancelled
	case keyIs(msg, k.InputNext):
		return p, nil, accepted
	}
	var cmd tea.Cmd
	p.in, cmd = p.in.Update(msg)
	p.err = ""
	return p, cmd, stay
}

// props is the change typed, validated, and the question that names it.
func (p propInput) props() (state.HostProps, string, error) {
	v := strings.TrimSpace(p.in.Value())
	var hp state.HostProps
	switch p.kind {
	case propMaxJobs:
		n, err := strconv.Atoi(v)
		if err != nil {
			return hp, "", fmt.Errorf("max jobs %q is not a whole number (0: no limit)", escape.Line(v))
		}
		hp.MaxJobs = &n
		if _, err := state.ValidateHostProps(hp); err != nil {
			return hp, "", err
		}
		q := fmt.Sprintf("set max jobs of %s from %s to %s: %s", p.label, limit(p.old.MaxJobs), limit(n), running(p.running))
		if n > 0 && p.running > n {
			q += fmt.Sprintf(", %d above the new limit: they finish, none is stopped", p.running-n)
		}
		return hp, q, nil
	}
	if err := tagEdit(&hp, v); err != nil {
		return hp, "", err
	}
	if _, err := state.ValidateHostProps(hp); err != nil {
		return hp, "", err
	}
	return hp, fmt.Sprintf("set the tags of %s from %s to %s", p.label, tagList(p.old.Tags), tagList(afterTags(p.old.Tags, hp))), nil
}

// tagEdit reads tags as `rffmpeg set HOST tags=…` does (state.EditTags),
// replacing any edit read before.
func tagEdit(hp *state.HostProps, v string) error {
	hp.Tags, hp.AddTags, hp.DelTags = nil, nil, nil
	if err := state.EditTags(hp, v); err != nil {
		return errors.New(escape.Line(err.Error()))
	}
	return nil
}

// afterTags is what the tags will be, for the question (the store applies
// the same edit to the tags it has at the time of writing).
func afterTags(old []string, hp state.HostProps) []string {
	out := old
	if hp.Tags != nil {
		out = *hp.Tags
	}
	out = append(slices.Clone(out), hp.AddTags...)
	out = slices.DeleteFunc(out, func(t string) bool { return slices.Contains(hp.DelTags, t) })
	slices.Sort(out)
	return slices.Compact(out)
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return escape.Line(strings.Join(tags, ","))
}

func limit(n int) string {
	if n == 0 {
		return "no limit"
	}
	return strconv.Itoa(n)
}

func (p propInput) view(st styles) string {
	return p.in.View() + st.dim.Render("  "+p.label)
}
