package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// helpScreen is the ? screen: every key of the main view by where it
// works, generated from the keymap, with the keys that do nothing where the
// user stands dimmed. Any key closes it (q still quits: the root sees it
// first).
type helpScreen struct{ shown bool }

func (h helpScreen) update(tea.KeyPressMsg) helpScreen {
	h.shown = false
	return h
}

// view renders the screen in height lines; k is the keymap as enabled for
// the main view behind the help.
func (h helpScreen) view(f frame, k keyMap, height int) []string {
	var cols []string
	for _, g := range k.FullHelp() {
		lines := []string{f.st.formLabel.Render(g.title)}
		kw := 0
		for _, b := range g.keys {
			kw = max(kw, ansi.StringWidth(b.Help().Key))
		}
		for _, b := range g.keys {
			st := lipgloss.NewStyle()
			if !b.Enabled() {
				st = f.st.dim
			}
			lines = append(lines, st.Render(fit(b.Help().Key, kw)+"  "+b.Help().Desc))
		}
		cols = append(cols, lipgloss.NewStyle().PaddingRight(3).Render(strings.Join(lines, "\n")))
	}
	out := []string{f.st.titleFocus.Render(fit("▌ Keys", f.w)), ""}
	// Columns side by side while they fit the width, then a new band.
	for len(cols) > 0 {
		n := 1
		for n < len(cols) && lipgloss.Width(lipgloss.JoinHorizontal(lipgloss.Top, cols[:n+1]...)) <= f.w {
			n++
		}
		out = append(out, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, cols[:n]...), "\n")...)
		cols = cols[n:]
		if len(cols) > 0 {
			out = append(out, "")
		}
	}
	hint := "Dimmed keys do nothing here: select a host, or move to their pane with tab."
	if f.readOnly {
		hint = "Read-only screen: the keys that write are off."
	}
	out = append(out, "", f.st.dim.Render(fit(hint, f.w)))
	for i := range out {
		out[i] = fit(out[i], f.w)
	}
	return out[:min(len(out), max(height, 0))]
}
