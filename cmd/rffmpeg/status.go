package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// StatusSchema is the version of `status --json` output; fields are only
// ever added within a version.
const StatusSchema = 1

type jsonProcess struct {
	ID         int64      `json:"id"`
	PID        int        `json:"pid"`
	Command    string     `json:"command"`
	Started    *time.Time `json:"started"` // null for rows written by the original rffmpeg
	AgeSeconds *float64   `json:"age_seconds"`
}

type jsonBad struct {
	PID        int        `json:"pid"`
	Reason     string     `json:"reason"`
	Since      *time.Time `json:"since"`
	AgeSeconds *float64   `json:"age_seconds"`
	Until      *time.Time `json:"until"` // null: until its writer ends (the original's rule)
}

type jsonError struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

type jsonHost struct {
	ID         int64         `json:"id"`
	Hostname   string        `json:"hostname"`
	Servername string        `json:"servername"`
	Weight     int           `json:"weight"`
	State      string        `json:"state"`
	Drain      bool          `json:"drain"`
	Load       int           `json:"load"`
	Created    time.Time     `json:"created"`
	CheckedAt  *time.Time    `json:"checked_at"`
	Bad        *jsonBad      `json:"bad"`
	LastError  *jsonError    `json:"last_error"`
	Processes  []jsonProcess `json:"processes"`
}

type jsonStatus struct {
	Schema    int           `json:"schema"`
	Database  string        `json:"database"`
	Generated time.Time     `json:"generated"`
	Hosts     []jsonHost    `json:"hosts"`
	Fallback  []jsonProcess `json:"fallback_processes"`
	Orphans   []jsonProcess `json:"orphan_processes"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func agePtr(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	s := now.Sub(t).Round(time.Millisecond).Seconds()
	return &s
}

func jsonProcs(now time.Time, ps []state.Process) []jsonProcess {
	out := []jsonProcess{}
	for _, p := range ps {
		out = append(out, jsonProcess{ID: p.ID, PID: p.PID, Command: p.Cmd, Started: timePtr(p.Started), AgeSeconds: agePtr(now, p.Started)})
	}
	return out
}

// loadView reads the state and classifies it, deleting rows whose writers are
// gone (best effort: a reader without write access still sees the truth).
func loadView(ctx context.Context, s *state.Store, c *config.Config, now time.Time) (selector.View, error) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return selector.View{}, err
	}
	v := setup.Policy(c, now, owner.Self()).Classify(snap)
	s.Reap(ctx, v.DeadProcesses, v.DeadMarks)
	return v, nil
}

func cmdStatus(a *app, c *config.Config, o map[string]string, _ []string) error {
	return withStore(c, func(ctx context.Context, s *state.Store) error {
		now := a.now()
		v, err := loadView(ctx, s, c, now)
		if err != nil {
			return err
		}
		if o["json"] == "true" {
			return writeStatusJSON(a.stdout, s.Options().Describe(), now, v)
		}
		writeStatusText(a.stdout, now, v)
		return nil
	})
}

func writeStatusJSON(w io.Writer, db string, now time.Time, v selector.View) error {
	out := jsonStatus{Schema: StatusSchema, Database: db, Generated: now, Hosts: []jsonHost{},
		Fallback: jsonProcs(now, v.Fallback), Orphans: jsonProcs(now, v.Orphans)}
	for _, h := range v.Hosts {
		jh := jsonHost{ID: h.ID, Hostname: h.Hostname, Servername: h.Servername, Weight: h.Weight, State: h.State,
			Drain: h.Drain, Load: h.Load, Created: h.Created, CheckedAt: timePtr(h.CheckedAt), Processes: jsonProcs(now, h.Processes)}
		if h.Bad != nil {
			jh.Bad = &jsonBad{PID: h.Bad.PID, Reason: h.Bad.Reason, Since: timePtr(h.Bad.Created), AgeSeconds: agePtr(now, h.Bad.Created), Until: timePtr(h.BadUntil)}
		}
		if h.LastError != "" {
			jh.LastError = &jsonError{Reason: h.LastError, At: h.LastErrAt}
		}
		out.Hosts = append(out.Hosts, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeStatusText prints the original's table: Hostname, Servername, ID,
// Weight, State, Active Commands, one "PID n: cmd" per line.
func writeStatusText(w io.Writer, now time.Time, v selector.View) {
	type row struct {
		cells []string
		cmds  []string
	}
	var rows []row
	procLines := func(ps []state.Process) []string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprintf("PID %d: %s", p.PID, p.Cmd))
		}
		return out
	}
	for _, h := range v.Hosts {
		st := h.State
		if h.Bad != nil {
			st += " (" + badNote(now, h) + ")"
		}
		rows = append(rows, row{[]string{h.Hostname, h.Servername, strconv.FormatInt(h.ID, 10), strconv.Itoa(h.Weight), st}, procLines(h.Processes)})
	}
	if len(v.Fallback) > 0 {
		rows = append(rows, row{[]string{"localhost (fallback)", "localhost", "0", "0", state.StateActive}, procLines(v.Fallback)})
	}
	head := []string{"Hostname", "Servername", "ID", "Weight", "State", "Active Commands"}
	widths := make([]int, 5)
	for i := range widths {
		widths[i] = len(head[i])
		for _, r := range rows {
			widths[i] = max(widths[i], len(r.cells[i]))
		}
		widths[i] += 4
	}
	line := func(cells []string, last string) {
		var b strings.Builder
		for i, c := range cells {
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)))
		}
		b.WriteString(last)
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(head[:5], head[5])
	blank := make([]string, 5)
	for _, r := range rows {
		if len(r.cmds) == 0 {
			line(r.cells, "N/A")
			continue
		}
		line(r.cells, r.cmds[0])
		for _, c := range r.cmds[1:] {
			line(blank, c)
		}
	}
}

func badNote(now time.Time, h selector.HostView) string {
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
	return strings.Join(parts, ", ")
}
