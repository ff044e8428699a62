package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// Status is a check's verdict.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Sections, in the order the checks run.
const (
	SectionConfig   = "configuration and state"
	SectionJellyfin = "media server"
	SectionHosts    = "hosts"
	SectionPaths    = "shared paths"
)

// Check is one verdict. Host is "" for checks that concern no single host.
type Check struct {
	Section  string        `json:"section"`
	Name     string        `json:"name"`
	Host     string        `json:"host"`
	Status   Status        `json:"status"`
	Message  string        `json:"message"`
	Fix      string        `json:"fix"`
	Duration time.Duration `json:"-"`
	// Timed says Duration was measured (a check with no timing reports null).
	Timed bool `json:"-"`
}

// Report is every check, in the order it ran.
type Report struct {
	Checks []Check
}

// OK reports whether no check failed (warnings do not fail the run).
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Find returns the first check with that section, name and host.
func (r Report) Find(section, name, host string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Section == section && c.Name == name && c.Host == host {
			return c, true
		}
	}
	return Check{}, false
}

var statusWord = map[Status]string{OK: "ok  ", Warn: "warn", Fail: "FAIL"}

// WriteText writes the report for people: a heading per section (and per
// host), one line per check, the fix indented under a warning or failure.
// Everything that came from outside (host names, remote output, file
// names) is escaped.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	section, host := "", "\x00"
	for _, c := range r.Checks {
		if c.Section != section {
			if section != "" {
				b.WriteString("\n")
			}
			section, host = c.Section, "\x00"
			b.WriteString("== " + c.Section + "\n")
		}
		if c.Host != host {
			switch {
			case c.Host != "":
				b.WriteString("-- " + escape.Line(c.Host) + "\n")
			case host != "\x00":
				b.WriteString("-- all hosts\n") // after a host's checks
			}
			host = c.Host
		}
		line := fmt.Sprintf("%s %s: %s", statusWord[c.Status], escape.Line(c.Name), escape.Line(c.Message))
		if c.Timed {
			line += fmt.Sprintf(" (%s)", roundDuration(c.Duration))
		}
		b.WriteString(line + "\n")
		if c.Fix != "" && c.Status != OK {
			b.WriteString("       fix: " + escape.Line(c.Fix) + "\n")
		}
	}
	b.WriteString(fmt.Sprintf("\n%d ok, %d warnings, %d failures\n", r.Count(OK), r.Count(Warn), r.Count(Fail)))
	_, err := io.WriteString(w, b.String())
	return err
}

func roundDuration(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// jsonCheck is the stable JSON form of a check (schema 1).
type jsonCheck struct {
	Section    string   `json:"section"`
	Name       string   `json:"name"`
	Host       string   `json:"host"`
	Status     Status   `json:"status"`
	Message    string   `json:"message"`
	Fix        string   `json:"fix"`
	DurationMS *float64 `json:"duration_ms"`
}

// Schema is the version of the JSON output; it changes only when a field
// changes meaning or disappears.
const Schema = 1

// WriteJSON writes {"schema":1,"checks":[…]} for scripts: exact text (JSON
// escapes it), duration_ms null when the check has no timing.
func (r Report) WriteJSON(w io.Writer) error {
	out := struct {
		Schema int         `json:"schema"`
		OK     bool        `json:"ok"`
		Checks []jsonCheck `json:"checks"`
	}{Schema: Schema, OK: r.OK(), Checks: []jsonCheck{}}
	for _, c := range r.Checks {
		jc := jsonCheck{Section: c.Section, Name: c.Name, Host: c.Host, Status: c.Status, Message: c.Message, Fix: c.Fix}
		if c.Timed {
			ms := float64(c.Duration.Microseconds()) / 1000
			jc.DurationMS = &ms
		}
		out.Checks = append(out.Checks, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
