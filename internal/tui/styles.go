package tui

import (
	"charm.land/lipgloss/v2"
)

// styles is every style the console uses, built for a dark or a light
// background. NO_COLOR and plain terminals are handled by Bubble Tea's
// colour profile, which drops the colours on output but keeps bold and
// reverse: without colours the selected row is shown in reverse video.
type styles struct {
	header, dim, title, titleFocus, colHead, selected, status, statusErr lipgloss.Style
	idle, active, bad, draining                                          lipgloss.Style
	formBox, formLabel, formErr, confirm                                 lipgloss.Style
}

func newStyles(dark, noColor bool) styles {
	ld := lipgloss.LightDark(dark)
	accent := ld(lipgloss.Color("#5A3FC0"), lipgloss.Color("#B8A6FF"))
	faint := ld(lipgloss.Color("#6B6B6B"), lipgloss.Color("#8A8A8A"))
	selBg := ld(lipgloss.Color("#E4DEFF"), lipgloss.Color("#3A3160"))
	green := ld(lipgloss.Color("#1B7F3B"), lipgloss.Color("#5FD38D"))
	red := ld(lipgloss.Color("#B42318"), lipgloss.Color("#FF7A6E"))
	amber := ld(lipgloss.Color("#9A6700"), lipgloss.Color("#F5C451"))
	selected := lipgloss.NewStyle().Background(selBg).Bold(true)
	if noColor {
		selected = lipgloss.NewStyle().Reverse(true)
	}
	return styles{
		header:     lipgloss.NewStyle().Bold(true).Foreground(accent),
		dim:        lipgloss.NewStyle().Foreground(faint),
		title:      lipgloss.NewStyle().Bold(true).Foreground(faint),
		titleFocus: lipgloss.NewStyle().Bold(true).Foreground(accent),
		colHead:    lipgloss.NewStyle().Foreground(faint).Underline(true),
		selected:   selected,
		status:     lipgloss.NewStyle().Foreground(green),
		statusErr:  lipgloss.NewStyle().Foreground(red).Bold(true),
		idle:       lipgloss.NewStyle().Foreground(faint),
		active:     lipgloss.NewStyle().Foreground(green).Bold(true),
		bad:        lipgloss.NewStyle().Foreground(red).Bold(true),
		draining:   lipgloss.NewStyle().Foreground(amber).Bold(true),
		formBox:    lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		formLabel:  lipgloss.NewStyle().Bold(true),
		formErr:    lipgloss.NewStyle().Foreground(red),
		confirm:    lipgloss.NewStyle().Foreground(amber).Bold(true),
	}
}

func (s styles) state(st string) lipgloss.Style {
	switch st {
	case "active":
		return s.active
	case "bad":
		return s.bad
	case "draining":
		return s.draining
	}
	return s.idle
}
