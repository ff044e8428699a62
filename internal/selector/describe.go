package selector

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BadNote describes the bad mark in force on h for a person, its parts
// joined by sep: why (when known), who set it, how long ago, and when the
// host is tried again (absent for the original's marks, which last as long
// as their writer). "" when h is not bad. The text is raw (the reason is a
// remote host's stderr): escape it for display.
//
//	connection refused, by PID 4242, 1m5s ago, retry in 55s
func (h HostView) BadNote(now time.Time, sep string) string {
	if h.Bad == nil {
		return ""
	}
	var parts []string
	if h.Bad.Reason != "" {
		parts = append(parts, h.Bad.Reason)
	}
	parts = append(parts, "by PID "+strconv.Itoa(h.Bad.PID))
	if !h.Bad.Created.IsZero() {
		parts = append(parts, fmt.Sprintf("%s ago", now.Sub(h.Bad.Created).Round(time.Second)))
	}
	if !h.BadUntil.IsZero() {
		parts = append(parts, fmt.Sprintf("retry in %s", h.BadUntil.Sub(now).Round(time.Second)))
	}
	return strings.Join(parts, sep)
}
