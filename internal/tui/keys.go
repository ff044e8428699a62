package tui

import "charm.land/bubbles/v2/key"

// keyMap is every key the console answers, in one place, for every mode:
// the main view, the add form, a confirmation, the weight and filter
// inputs, the help screen and the host detail. enable switches each binding on only where it
// works, so the footer and the help screen (both generated from here) never
// offer a key that does nothing, and a key never acts outside its context.
type keyMap struct {
	// Main view.
	Up, Down, Tab, ShiftTab, PageUp, PageDown         key.Binding
	Add, Remove, WeightUp, WeightDown, Weight, Drain  key.Binding
	ClearHost, ClearAll, ClearBad, Filter, Help, Quit key.Binding
	Sort, SortReverse, Level, Detail, ForceQuit       key.Binding
	History, MaxJobs, Tags, Doctor, Kill              key.Binding
	// The add form.
	FormNext, FormPrev, FormSubmit, FormCancel, FormToggle, CheckStop key.Binding
	// A confirmation: only y says yes; enter takes the default, no.
	Yes, No key.Binding
	// The weight input and the process filter.
	WeightSet, WeightCancel, FilterKeep, FilterClear key.Binding
	// The max_jobs and tags inputs (a confirmation follows).
	InputNext, InputCancel key.Binding
	// The help screen, the host detail, the history and the doctor's report.
	HelpClose, DetailClose, HistoryClose, FailedOnly, DoctorClose key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:          b([]string{"up", "k"}, "↑/k", "up"),
		Down:        b([]string{"down", "j"}, "↓/j", "down"),
		Tab:         b([]string{"tab"}, "tab", "next pane"),
		ShiftTab:    b([]string{"shift+tab"}, "shift+tab", "previous pane"),
		PageUp:      b([]string{"pgup"}, "pgup", "log back"),
		PageDown:    b([]string{"pgdown"}, "pgdn", "log forward"),
		Add:         b([]string{"a"}, "a", "add host"),
		Remove:      b([]string{"d", "delete"}, "d", "remove host"),
		WeightUp:    b([]string{"+", "="}, "+", "weight +1"),
		WeightDown:  b([]string{"-"}, "-", "weight -1"),
		Weight:      b([]string{"w"}, "w", "set weight"),
		Drain:       b([]string{"x"}, "x", "drain"),
		ClearHost:   b([]string{"c"}, "c", "clear host rows"),
		ClearAll:    b([]string{"C"}, "C", "clear all rows"),
		ClearBad:    b([]string{"b"}, "b", "clear bad mark"),
		Filter:      b([]string{"/"}, "/", "filter"),
		Sort:        b([]string{"s"}, "s", "sort by next column"),
		SortReverse: b([]string{"S"}, "S", "reverse sort"),
		Level:       b([]string{"l"}, "l", "log level filter"),
		Detail:      b([]string{"enter"}, "enter", "host detail"),
		History:     b([]string{"h"}, "h", "job history"),
		MaxJobs:     b([]string{"m"}, "m", "set max jobs"),
		Tags:        b([]string{"t"}, "t", "edit tags"),
		Doctor:      b([]string{"D"}, "D", "run the doctor"),
		Kill:        b([]string{"K"}, "K", "kill job (processes)"),
		Help:        b([]string{"?"}, "?", "all keys"),
		Quit:        b([]string{"q"}, "q", "quit"),
		ForceQuit:   b([]string{"ctrl+c"}, "ctrl+c", "quit"),

		FormNext:   b([]string{"tab", "down"}, "tab/↓", "next field"),
		FormPrev:   b([]string{"shift+tab", "up"}, "shift+tab/↑", "previous field"),
		FormSubmit: b([]string{"enter"}, "enter", "next field / add"),
		FormCancel: b([]string{"esc"}, "esc", "cancel"),
		FormToggle: b([]string{"space"}, "space", "tick / untick"),
		CheckStop:  b([]string{"esc"}, "esc", "stop the check"),

		Yes: b([]string{"y", "Y"}, "y", "yes"),
		No:  b([]string{"n", "N", "esc", "enter"}, "n/esc/enter", "no"),

		WeightSet:    b([]string{"enter"}, "enter", "set weight"),
		WeightCancel: b([]string{"esc"}, "esc", "cancel"),
		FilterKeep:   b([]string{"enter"}, "enter", "keep filter"),
		FilterClear:  b([]string{"esc"}, "esc", "clear filter"),

		InputNext:   b([]string{"enter"}, "enter", "review"),
		InputCancel: b([]string{"esc"}, "esc", "cancel"),

		HelpClose:    b([]string{"esc", "?"}, "esc/?", "back"),
		DetailClose:  b([]string{"esc", "enter"}, "esc/enter", "back"),
		HistoryClose: b([]string{"esc", "h"}, "esc/h", "back"),
		FailedOnly:   b([]string{"f"}, "f", "failed only / all"),
		DoctorClose:  b([]string{"esc"}, "esc", "back"),
	}
}

// keyContext is what decides which keys work.
type keyContext struct {
	mode      mode
	helpShown bool
	focus     pane
	connected bool // the store is open: writes can run
	readOnly  bool // a shared screen: no writes at all
	host      bool // a real host is selected in the hosts pane
	row       bool // a host or the fallback row is selected
	bad       bool // the selected host has a bad mark
	rows      bool // there are rows to clear
	doctor    bool // the doctor can run (wired by the caller)
	job       bool // a running job (not a queued call) is selected in the processes pane
	kill      bool // killing can run (wired by the caller)
	// The add form: a check runs; the checkbox has the focus.
	checking, onCheckbox bool
}

// enable switches every binding on or off for c.
func (k *keyMap) enable(c keyContext) {
	main := c.mode == modeNormal && !c.helpShown
	writes := c.connected && !c.readOnly
	onHosts := main && c.focus == paneHosts && writes
	set := func(on bool, bs ...*key.Binding) {
		for _, b := range bs {
			b.SetEnabled(on)
		}
	}
	views := c.mode == modeDetail || c.mode == modeHistory || c.mode == modeDoctor
	set(main || views, &k.Up, &k.Down)
	set(main, &k.Tab, &k.ShiftTab, &k.Help)
	set(main || c.helpShown || views, &k.Quit)
	set(main && c.connected, &k.History)
	set(onHosts && c.host, &k.MaxJobs, &k.Tags)
	set((main && c.focus == paneHosts || c.mode == modeDetail) && c.doctor, &k.Doctor)
	set(main && writes, &k.Add)
	set(onHosts && c.host, &k.Remove, &k.WeightUp, &k.WeightDown, &k.Weight, &k.Drain)
	set(main && c.focus == paneHosts && c.host, &k.Detail)
	set(onHosts && c.row, &k.ClearHost)
	set(onHosts && c.rows, &k.ClearAll)
	set(onHosts && c.bad, &k.ClearBad)
	set(main && writes && c.focus == paneProcs && c.job && c.kill, &k.Kill)
	set(main && c.focus != paneHosts, &k.Filter)
	set(main && c.focus != paneLog, &k.Sort, &k.SortReverse)
	set(main && c.focus == paneLog, &k.Level)
	set(main && c.focus == paneLog || views, &k.PageUp, &k.PageDown)
	form := c.mode == modeForm && !c.checking
	set(form, &k.FormNext, &k.FormPrev, &k.FormSubmit, &k.FormCancel)
	set(form && c.onCheckbox, &k.FormToggle)
	set(c.mode == modeForm && c.checking, &k.CheckStop)
	set(c.mode == modeConfirm, &k.Yes, &k.No)
	set(c.mode == modeWeight, &k.WeightSet, &k.WeightCancel)
	set(c.mode == modeFilter, &k.FilterKeep, &k.FilterClear)
	set(c.helpShown, &k.HelpClose)
	set(c.mode == modeDetail, &k.DetailClose)
	set(c.mode == modeHistory, &k.HistoryClose, &k.FailedOnly)
	set(c.mode == modeDoctor, &k.DoctorClose)
	set(c.mode == modeProp, &k.InputNext, &k.InputCancel)
}

// ShortHelp is the footer: the keys of the current mode, then moving, the
// keys of the focused pane, adding, help and quit. The footer shows the
// enabled ones and, when short of room, drops them from the end but keeps
// the last two.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		k.FormSubmit, k.FormToggle, k.FormNext, k.FormCancel, k.CheckStop, k.Yes, k.No, k.WeightSet, k.WeightCancel,
		k.FilterKeep, k.FilterClear, k.InputNext, k.InputCancel, k.HelpClose, k.DetailClose, k.HistoryClose, k.FailedOnly, k.DoctorClose,
		k.Tab, k.Filter, k.Level, k.Remove, k.WeightUp, k.Drain, k.ClearBad, k.Doctor, k.History, k.Add, k.Help, k.Quit,
	}
}

// helpGroup is a titled column of the help screen.
type helpGroup struct {
	title string
	keys  []key.Binding
}

// FullHelp is every key of the main view, grouped by where it works; the
// help screen shows the ones that do not work right now dimmed.
func (k keyMap) FullHelp() []helpGroup {
	return []helpGroup{
		{"Anywhere", []key.Binding{k.Up, k.Down, k.Tab, k.ShiftTab, k.History, k.Add, k.Help, k.Quit}},
		{"Hosts pane", []key.Binding{k.Detail, k.Doctor, k.Remove, k.WeightUp, k.WeightDown, k.Weight, k.MaxJobs, k.Tags}},
		{"Hosts: jobs, marks", []key.Binding{k.Drain, k.ClearBad, k.ClearHost, k.ClearAll}},
		{"Hosts · Processes", []key.Binding{k.Sort, k.SortReverse}},
		{"Processes · Log", []key.Binding{k.Filter, k.Kill}},
		{"Log", []key.Binding{k.Level, k.PageUp, k.PageDown}},
	}
}
