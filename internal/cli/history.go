package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// HistorySchema is the version of `history --json` output; fields are only
// ever added within a version.
const HistorySchema = 1

// HistoryOptions select the finished jobs `rffmpeg history` shows.
type HistoryOptions struct {
	JSON   bool
	Limit  int
	Host   string // an id ("fallback" or 0: the local fallback), else a recorded server name or hostname
	Failed bool
}

type jsonJob struct {
	ID              int64     `json:"id"`
	HostID          int64     `json:"host_id"`
	Servername      string    `json:"servername"`
	Hostname        string    `json:"hostname"`
	Frontend        string    `json:"frontend"`
	Class           string    `json:"class"`
	Command         string    `json:"command"`
	PID             int       `json:"pid"`
	Started         time.Time `json:"started"`
	DurationSeconds float64   `json:"duration_seconds"`
	ExitCode        int       `json:"exit_code"`
	Outcome         string    `json:"outcome"` // ok, a failure class, or error
	Failure         string    `json:"failure"` // "" for success
	KilledBy        string    `json:"killed_by"`
}

type jsonHistory struct {
	Schema   int       `json:"schema"`
	Database string    `json:"database"`
	Jobs     []jsonJob `json:"jobs"`
}

// query turns the options into the store's query: a whole number (or
// "fallback") is a host id, anything else a recorded name.
func (o HistoryOptions) query() (state.HistoryQuery, error) {
	if o.Limit < 0 {
		return state.HistoryQuery{}, usagef("-n %d: the number of jobs must not be negative", o.Limit)
	}
	q := state.HistoryQuery{Limit: o.Limit, Failed: o.Failed}
	if o.Host == "fallback" {
		o.Host = "0"
	}
	if id, err := strconv.ParseInt(o.Host, 10, 64); err == nil {
		q.HostID = &id
	} else {
		q.HostName = o.Host
	}
	return q, nil
}

func (x *verb) history(o HistoryOptions) error {
	q, err := o.query()
	if err != nil {
		return err
	}
	return x.withStore(func(s *state.Store) error {
		jobs, err := s.History(x.ctx, q)
		if err != nil {
			return err
		}
		if o.JSON {
			return writeHistoryJSON(x.env.Stdout, s.Options().Describe(), jobs)
		}
		writeHistoryText(x.env.Stdout, x.env.Now().Location(), jobs)
		return nil
	})
}

// writeHistoryJSON is the machine-readable history: exact, never escaped,
// times in UTC.
func writeHistoryJSON(w io.Writer, db string, jobs []state.JobRecord) error {
	out := jsonHistory{Schema: HistorySchema, Database: db, Jobs: []jsonJob{}}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, jsonJob{ID: j.ID, HostID: j.HostID, Servername: j.Servername, Hostname: j.Hostname,
			Frontend: j.Frontend, Class: j.Class, Command: j.Command, PID: j.PID, Started: j.Started.UTC(),
			DurationSeconds: j.Duration.Seconds(), ExitCode: j.ExitCode, Outcome: j.Outcome(), Failure: j.Failure, KilledBy: j.KilledBy})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// shortDuration is a duration as a person reads it: 0.4s, 12.3s, 4m05s, 1h02m.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// outcomeText is the outcome column: ok, the failure class, who killed it.
func outcomeText(j state.JobRecord) string {
	s := j.Outcome()
	if j.KilledBy != "" {
		s += " by " + j.KilledBy
	}
	return s
}

// writeHistoryText prints one line per job, newest first, every cell
// escaped: host names, frontends and commands are data.
func writeHistoryText(w io.Writer, loc *time.Location, jobs []state.JobRecord) {
	if len(jobs) == 0 {
		fmt.Fprintln(w, "No finished jobs recorded.")
		return
	}
	head := []string{"ID", "Started", "Host", "Frontend", "Class", "Duration", "Exit", "Outcome", "Command"}
	rows := [][]string{head}
	for _, j := range jobs {
		rows = append(rows, []string{strconv.FormatInt(j.ID, 10), j.Started.In(loc).Format("2006-01-02 15:04:05"),
			escape.Line(j.Servername), escape.Line(j.Frontend), escape.Line(j.Class), shortDuration(j.Duration),
			strconv.Itoa(j.ExitCode), escape.Line(outcomeText(j)), escape.Line(j.Command)})
	}
	widths := make([]int, len(head)-1)
	for _, r := range rows {
		for i := range widths {
			widths[i] = max(widths[i], len(r[i]))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r[:len(r)-1] {
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)+2))
		}
		b.WriteString(r[len(r)-1])
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func historyCommand() command {
	var o HistoryOptions
	return command{name: "history", args: "[--json] [-n N] [--host HOST] [--failed]", short: "Show finished jobs, newest first",
		long: "Every finished job is kept with its host, class, duration, exit code and failure class,\n" +
			"for history.retention_days days and at most history.max_rows jobs. HOST: a host id\n" +
			"(\"fallback\" or 0: the local fallback), else a server name or hostname as recorded.",
		flags: []flag{
			boolFlag("", "json", &o.JSON, "print a JSON document (schema 1) instead of the table"),
			intFlag("n", "limit", "N", &o.Limit, 20, "number of jobs", "show the newest N jobs (0: every retained job)"),
			stringFlag("", "host", "HOST", &o.Host, "", "only jobs that ran on HOST"),
			boolFlag("", "failed", &o.Failed, "only jobs that failed"),
		},
		run: func(x *verb) error { return x.history(o) }}
}
