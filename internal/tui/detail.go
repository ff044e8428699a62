package tui

import (
	"fmt"
	"strconv"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hostDetailView is one host on the whole body: everything the store knows
// about it, its bad mark and last error in full, and its jobs. It follows
// the live data by the host's key, so it says so when the host is removed
// meanwhile instead of showing another.
type hostDetailView struct {
	host state.HostKey
}

func (d hostDetailView) find(v selector.View) *selector.HostView {
	for i := range v.Hosts {
		if v.Hosts[i].Key() == d.host {
			return &v.Hosts[i]
		}
	}
	return nil
}

// when is a time and how long ago, or "never".
func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("2006-01-02 15:04:05") + " (" + age(now.Sub(t)) + " ago)"
}

func (d hostDetailView) view(f frame, v selector.View, height int) []string {
	h := d.find(v)
	if h == nil {
		out := []string{f.title(true, fmt.Sprintf("Host %d", d.host.ID))}
		return append(out, f.wrapErr("host "+escape.Line(d.host.Servername)+" no longer exists (removed meanwhile)")...)
	}
	out := []string{f.title(true, fmt.Sprintf("Host %s (id %d)", escape.Line(h.Servername), h.ID))}
	field := func(name, value string) {
		out = append(out, fit(f.st.dim.Render(fmt.Sprintf("%-12s", name))+value, f.w))
	}
	field("hostname", escape.Line(h.Hostname))
	field("state", f.st.state(h.State).Render(h.State))
	field("weight", strconv.Itoa(h.Weight))
	field("load", fmt.Sprintf("%d (%s // weight %d)", h.Load, plural(len(h.Processes), "job"), h.Weight))
	field("added", when(h.Created, f.now))
	field("checked", when(h.CheckedAt, f.now))
	if h.Bad != nil {
		retry := "when PID " + strconv.Itoa(h.Bad.PID) + " ends"
		if !h.BadUntil.IsZero() {
			retry = "in " + age(h.BadUntil.Sub(f.now))
		}
		field("bad mark", fmt.Sprintf("set by PID %d, %s; retried %s", h.Bad.PID, when(h.Bad.Created, f.now), retry))
		out = append(out, f.detail(escape.Line(h.Bad.Reason))...)
	}
	if h.LastError != "" && (h.Bad == nil || h.LastError != h.Bad.Reason) {
		field("last error", when(h.LastErrAt, f.now))
		out = append(out, f.detail(escape.Line(h.LastError))...)
	}
	out = append(out, "", f.st.colHead.Render(fit(fmt.Sprintf("Jobs (%d)", len(h.Processes)), f.w)))
	if len(h.Processes) == 0 {
		out = append(out, f.st.dim.Render(fit("no running jobs", f.w)))
	}
	widths := columns(f.w, 7, 8)
	for _, p := range h.Processes {
		a := "?"
		if !p.Started.IsZero() {
			a = age(f.now.Sub(p.Started))
		}
		out = append(out, f.row([]string{strconv.Itoa(p.PID), a, escape.Line(p.Cmd)}, widths))
	}
	return out[:min(len(out), max(height, 0))]
}
