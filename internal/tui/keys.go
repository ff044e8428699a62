package tui

import "charm.land/bubbles/v2/key"

// keyMap is every binding of the main view, in one place; bindings that do
// not apply (no host selected, not on the hosts pane) are disabled so the
// help footer only offers what works.
type keyMap struct {
	Up, Down, Tab, ShiftTab                           key.Binding
	Add, Remove, WeightUp, WeightDown, Weight, Drain  key.Binding
	ClearHost, ClearAll, ClearBad, Filter, Help, Quit key.Binding
	PageUp, PageDown                                  key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Tab:        key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		ShiftTab:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Add:        key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add host")),
		Remove:     key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "remove host")),
		WeightUp:   key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "weight +1")),
		WeightDown: key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "weight -1")),
		Weight:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "set weight")),
		Drain:      key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "drain/undrain")),
		ClearHost:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear host rows")),
		ClearAll:   key.NewBinding(key.WithKeys("C"), key.WithHelp("C", "clear all rows")),
		ClearBad:   key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "clear bad mark")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter processes")),
		PageUp:     key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "log back")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "log forward")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the footer (help.KeyMap).
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Tab, k.Add, k.Remove, k.WeightUp, k.Drain, k.ClearBad, k.Filter, k.Help, k.Quit}
}

// FullHelp is the `?` view (help.KeyMap).
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Tab, k.ShiftTab, k.PageUp, k.PageDown},
		{k.Add, k.Remove, k.WeightUp, k.WeightDown, k.Weight, k.Drain},
		{k.ClearHost, k.ClearAll, k.ClearBad, k.Filter, k.Help, k.Quit},
	}
}

// enable turns bindings on and off for the current context.
func (k *keyMap) enable(onHosts, hasHost, hasBad, onProcs, onLog bool) {
	for _, b := range []*key.Binding{&k.Remove, &k.WeightUp, &k.WeightDown, &k.Weight, &k.Drain, &k.ClearHost} {
		b.SetEnabled(onHosts && hasHost)
	}
	k.ClearBad.SetEnabled(onHosts && hasBad)
	k.Filter.SetEnabled(onProcs)
	k.PageUp.SetEnabled(onLog)
	k.PageDown.SetEnabled(onLog)
}
