package selector

import (
	"strconv"
	"strings"
	"time"
)

// BadNote describes the bad mark in force on h for a person, its parts
// joined by sep: why (when known), who set it, how long ago, and when the
// host is tried again (absent for the original's marks, which last as long
// as their writer). dur formats the two durations (nil: rounded to the
// second, as time.Duration prints). "" when h is not bad. The text is raw
// (the reason is a remote host's stderr): escape it for display. `rffmpeg
// status` and the console both describe marks through here.
//
//	connection refused, by PID 4242, 1m5s ago, retry in 55s
func (h HostView) BadNote(now time.Time, sep string, dur func(time.Duration) string) string {
	if h.Bad == nil {
		return ""
	}
	if dur == nil {
		dur = func(d time.Duration) string { return d.Round(time.Second).String() }
	}
	var parts []string
	if h.Bad.Reason != "" {
		parts = append(parts, h.Bad.Reason)
	}
	parts = append(parts, "by PID "+strconv.Itoa(h.Bad.PID))
	if !h.Bad.Created.IsZero() {
		parts = append(parts, dur(now.Sub(h.Bad.Created))+" ago")
	}
	if !h.BadUntil.IsZero() {
		parts = append(parts, "retry in "+dur(h.BadUntil.Sub(now)))
	}
	return strings.Join(parts, sep)
}

// CapsSummary is the device types among caps and how many hardware codecs
// and filters besides ("cuda,vaapi +7"); "" when there are none.
func CapsSummary(caps []string) string {
	var devs []string
	more := 0
	for _, c := range caps {
		if strings.Contains(c, ":") {
			more++
		} else {
			devs = append(devs, c)
		}
	}
	s := strings.Join(devs, ",")
	if more > 0 {
		s = strings.TrimSpace(s + " +" + strconv.Itoa(more))
	}
	return s
}
