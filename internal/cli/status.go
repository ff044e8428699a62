package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/logging"
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
	// Frontend is the media server that runs the job (database.frontend_id,
	// else hostname:machine-id); null for the original rffmpeg's rows.
	Frontend *string `json:"frontend"`
	// Progress (ffmpeg jobs whose stderr the shim reads; null until the job reported any).
	PositionSeconds *float64   `json:"position_seconds"`
	Speed           *float64   `json:"speed"`
	FPS             *float64   `json:"fps"`
	ProgressAt      *time.Time `json:"progress_at"` // when it was last recorded
	AdvancedAt      *time.Time `json:"advanced_at"` // when the position last moved
	Stalled         bool       `json:"stalled"`     // no advance for commands.stall_after
	KillRequestedBy *string    `json:"kill_requested_by"`
}

// jobProgress is what status shows of the jobs' progress.
type jobProgress struct {
	byID       map[int64]state.JobProgress
	stallAfter time.Duration
}

// add fills a job's progress fields.
func (pv jobProgress) add(now time.Time, jp *jsonProcess) {
	p, ok := pv.byID[jp.ID]
	if !ok || p.PID != jp.PID {
		return
	}
	jp.KillRequestedBy = strPtr(p.KillBy)
	if !p.HasProgress() {
		return
	}
	if p.HasPosition {
		s := p.Position.Seconds()
		jp.PositionSeconds = &s
	}
	speed, fps := p.Speed, p.FPS
	jp.Speed, jp.FPS, jp.ProgressAt, jp.AdvancedAt = &speed, &fps, timePtr(p.At), timePtr(p.AdvancedAt)
	jp.Stalled = p.Stalled(now, pv.stallAfter)
}

// line is a job's progress as the text status shows it under its command
// ("" when it reported none): "00:01:05 at 1.50x, 37 fps".
func (pv jobProgress) line(now time.Time, pr state.Process) string {
	p, ok := pv.byID[pr.ID]
	if !ok || p.PID != pr.PID {
		return ""
	}
	var parts []string
	if p.HasProgress() {
		parts = append(parts, fmt.Sprintf("%s at %.2fx, %.0f fps", p.Clock(), p.Speed, p.FPS))
		if p.Stalled(now, pv.stallAfter) {
			parts = append(parts, "STALLED: no progress for "+now.Sub(p.AdvancedAt).Round(time.Second).String())
		}
	}
	if p.KillBy != "" {
		parts = append(parts, "stopping: killed by "+p.KillBy)
	}
	return strings.Join(parts, ", ")
}

type jsonBad struct {
	PID        int        `json:"pid"`
	Reason     string     `json:"reason"`
	Class      string     `json:"class"` // connect, auth, hostkey, timeout, lost, remote-missing, …; "": none said
	Since      *time.Time `json:"since"`
	AgeSeconds *float64   `json:"age_seconds"`
	Until      *time.Time `json:"until"` // null: until its writer ends (the original's rule)
}

type jsonError struct {
	Reason string    `json:"reason"`
	Class  string    `json:"class"` // as jsonBad.Class
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
	// Routing (see rffmpeg set).
	MaxJobs      int        `json:"max_jobs"` // 0: no limit
	Capacity     string     `json:"capacity"` // "running/max_jobs", "2/-" with no limit
	Priority     int        `json:"priority"`
	Tags         []string   `json:"tags"`
	Capabilities []string   `json:"capabilities"` // null: never probed
	ProbedAt     *time.Time `json:"probed_at"`
	FFmpeg       *string    `json:"ffmpeg"` // null: commands.ffmpeg
	FFprobe      *string    `json:"ffprobe"`
	WoLMAC       *string    `json:"wol_mac"`
	WoLAddr      *string    `json:"wol_addr"`
	SSHUser      *string    `json:"ssh_user"` // null: remote.user
	SSHPort      *int       `json:"ssh_port"` // null: remote.args or ssh's default
}

type jsonMachine struct {
	Machine      string    `json:"machine"`
	Capabilities []string  `json:"capabilities"`
	ProbedAt     time.Time `json:"probed_at"`
}

// jsonWaiter is a call waiting for a full pool (scheduling.when_full: wait).
type jsonWaiter struct {
	ID         int64     `json:"id"`
	PID        int       `json:"pid"`
	Command    string    `json:"command"`
	Class      string    `json:"class"`
	Needs      []string  `json:"needs"`
	Since      time.Time `json:"since"`
	AgeSeconds *float64  `json:"age_seconds"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// routing fills a host's routing fields.
func (jh *jsonHost) routing(h selector.HostView) {
	jh.MaxJobs, jh.Capacity, jh.Priority = h.MaxJobs, h.Capacity(), h.Priority
	jh.Tags = append([]string{}, h.Tags...)
	if !h.ProbedAt.IsZero() {
		jh.Capabilities = append([]string{}, h.Capabilities...)
	}
	jh.ProbedAt = timePtr(h.ProbedAt)
	jh.FFmpeg, jh.FFprobe, jh.WoLMAC, jh.WoLAddr = strPtr(h.FFmpeg), strPtr(h.FFprobe), strPtr(h.WoLMAC), strPtr(h.WoLAddr)
	jh.SSHUser = strPtr(h.SSHUser)
	if h.SSHPort > 0 {
		jh.SSHPort = &h.SSHPort
	}
}

type jsonStatus struct {
	Schema    int           `json:"schema"`
	Database  string        `json:"database"`
	Generated time.Time     `json:"generated"`
	Hosts     []jsonHost    `json:"hosts"`
	Fallback  []jsonProcess `json:"fallback_processes"`
	Orphans   []jsonProcess `json:"orphan_processes"`
	Queue     []jsonWaiter  `json:"queue"`          // calls waiting for capacity, oldest first
	Machines  []jsonMachine `json:"machines"`       // frontends' own probed capabilities (the local fallback's)
	Malformed []jsonBadRow  `json:"malformed_rows"` // rows left out: remove or clear them
	Warnings  []string      `json:"warnings"`       // e.g. a read-only database
}

type jsonBadRow struct {
	Table   string `json:"table"`
	ID      int64  `json:"id"`
	Problem string `json:"problem"`
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

func jsonProcs(now time.Time, ps []state.Process, pv jobProgress) []jsonProcess {
	out := []jsonProcess{}
	for _, p := range ps {
		jp := jsonProcess{ID: p.ID, PID: p.PID, Command: p.Cmd, Started: timePtr(p.Started), AgeSeconds: agePtr(now, p.Started),
			Frontend: strPtr(owner.Frontend(p.Owner))}
		pv.add(now, &jp)
		out = append(out, jp)
	}
	return out
}

func (x *verb) status(o StatusOptions) error {
	return x.withStore(func(s *state.Store) error {
		now := x.env.Now()
		v, err := selector.Load(x.ctx, s, x.policy())
		if err != nil {
			return err
		}
		warnings := append(s.Warnings(), x.problems(s, now)...)
		// Best effort: without it the jobs are still listed.
		prog, _ := s.Progress(x.ctx)
		pv := jobProgress{byID: prog, stallAfter: time.Duration(x.cfg.Commands.StallAfter) * time.Second}
		if o.JSON {
			return writeStatusJSON(x.env.Stdout, s.Options().Describe(), now, v, pv, warnings)
		}
		writeStatusText(x.env.Stdout, now, v, pv, setup.Self(x.cfg).Machine)
		for _, m := range v.Malformed {
			fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: skipped a malformed row (%s); 'rffmpeg remove' or 'rffmpeg clear' deletes it\n", escape.Line(m.String()))
		}
		for _, w := range warnings {
			fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s\n", escape.Line(w))
		}
		return nil
	})
}

// problems are what status warns of besides the store's own warnings: this
// user's log file, and what calls (often as another user) reported.
func (x *verb) problems(s *state.Store, now time.Time) []string {
	var out []string
	if err := logging.Check(setup.Log(x.cfg)); err != nil {
		out = append(out, fmt.Sprintf("%v: this user's log lines are lost", err))
	}
	ps, err := s.Problems(x.ctx, now.Add(-state.ProblemWindow))
	if err != nil {
		return append(out, err.Error())
	}
	for _, p := range ps {
		out = append(out, p.Describe(now))
	}
	return out
}

// writeStatusJSON is the machine-readable status: exact, never escaped.
func writeStatusJSON(w io.Writer, db string, now time.Time, v selector.View, pv jobProgress, warnings []string) error {
	out := jsonStatus{Schema: StatusSchema, Database: db, Generated: now, Hosts: []jsonHost{},
		Fallback: jsonProcs(now, v.Fallback, pv), Orphans: jsonProcs(now, v.Orphans, pv),
		Malformed: []jsonBadRow{}, Warnings: append([]string{}, warnings...), Queue: []jsonWaiter{}, Machines: []jsonMachine{}}
	for _, m := range v.Machines {
		out.Machines = append(out.Machines, jsonMachine{Machine: m.Machine, Capabilities: append([]string{}, m.Capabilities...), ProbedAt: m.ProbedAt})
	}
	for _, w := range v.Queue {
		out.Queue = append(out.Queue, jsonWaiter{ID: w.ID, PID: w.PID, Command: w.Cmd, Class: w.Class,
			Needs: append([]string{}, w.Needs...), Since: w.Since, AgeSeconds: agePtr(now, w.Since)})
	}
	for _, m := range v.Malformed {
		out.Malformed = append(out.Malformed, jsonBadRow{Table: m.Table, ID: m.ID, Problem: m.Problem})
	}
	for _, h := range v.Hosts {
		jh := jsonHost{ID: h.ID, Hostname: h.Hostname, Servername: h.Servername, Weight: h.Weight, State: h.State,
			Drain: h.Drain, Load: h.Load, Created: h.Created, CheckedAt: timePtr(h.CheckedAt), Processes: jsonProcs(now, h.Processes, pv)}
		if h.Bad != nil {
			jh.Bad = &jsonBad{PID: h.Bad.PID, Reason: h.Bad.Reason, Class: selector.FailureClass(h.Bad.Reason), Since: timePtr(h.Bad.Created), AgeSeconds: agePtr(now, h.Bad.Created), Until: timePtr(h.BadUntil)}
		}
		if h.LastError != "" {
			jh.LastError = &jsonError{Reason: h.LastError, Class: selector.FailureClass(h.LastError), At: h.LastErrAt}
		}
		jh.routing(h)
		out.Hosts = append(out.Hosts, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// statusRow is one host of the text table with its "PID n: cmd" lines.
type statusRow struct {
	cells []string
	cmds  []string
}

// RemovedHost names the hosts of orphan jobs in the text status: jobs still
// running on a host that was removed from under them.
const RemovedHost = "(removed host)"

// writeStatusText prints the original's table: Hostname, Servername, ID,
// Weight, State, Active Commands, one "PID n: cmd" per line; then the local
// fallback and the jobs of removed hosts. Every cell is escaped: host names,
// commands and a remote host's stderr (the bad reason) are data.
func writeStatusText(w io.Writer, now time.Time, v selector.View, pv jobProgress, self string) {
	var rows []statusRow
	procLines := procLinesFor(v, self, now, pv)
	head := []string{"Hostname", "Servername", "ID", "Weight", "State"}
	// The routing columns appear once a host has routing properties, so
	// the original's table stays as it was for those who parse it.
	routing := showRouting(v.Hosts)
	if routing {
		head = append(head, "Jobs", "Priority", "Tags", "Capabilities")
	}
	for _, h := range v.Hosts {
		st := h.State
		if h.Bad != nil {
			st += " (" + h.BadNote(now, ", ", nil) + ")"
		}
		cells := []string{destination(h.Host), h.Servername, strconv.FormatInt(h.ID, 10), strconv.Itoa(h.Weight), st}
		if routing {
			cells = append(cells, h.Capacity(), strconv.Itoa(h.Priority), orDash(strings.Join(h.Tags, ",")), capsCell(h))
		}
		rows = append(rows, statusRow{cells, procLines(h.Processes)})
	}
	extra := make([]string, len(head)-5)
	for i := range extra {
		extra[i] = "-"
	}
	if len(v.Fallback) > 0 {
		rows = append(rows, statusRow{append([]string{"localhost (fallback)", "localhost", "0", "0", state.StateActive}, extra...), procLines(v.Fallback)})
	}
	for _, r := range orphanRows(v.Orphans, procLines) {
		r.cells = append(r.cells, extra...)
		rows = append(rows, r)
	}
	for _, r := range rows {
		for i := range r.cells {
			r.cells[i] = escape.Line(r.cells[i])
		}
	}
	writeTable(w, append(head, "Active Commands"), rows)
	writeQueue(w, now, v.Queue)
}

// showRouting: some host has a capacity, a priority, tags or probed capabilities.
func showRouting(hosts []selector.HostView) bool {
	for _, h := range hosts {
		if h.MaxJobs > 0 || h.Priority != 0 || len(h.Tags) > 0 || !h.ProbedAt.IsZero() {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// capsCell shows the device types a host has and how many hardware
// codecs and filters besides ("cuda,opencl +7"); "?" when never probed.
func capsCell(h selector.HostView) string {
	if h.ProbedAt.IsZero() {
		return "?"
	}
	s := selector.CapsSummary(h.Capabilities)
	return orDash(s)
}

// writeQueue lists the calls waiting for capacity, oldest first.
func writeQueue(w io.Writer, now time.Time, q []state.Waiter) {
	if len(q) == 0 {
		return
	}
	fmt.Fprintf(w, "\nQueued (%d, oldest first):\n", len(q))
	for i, wt := range q {
		what := wt.Class
		if len(wt.Needs) > 0 {
			what += " needing " + strings.Join(wt.Needs, ",")
		}
		fmt.Fprintf(w, "  %d. PID %d, waiting %s, %s: %s\n", i+1, wt.PID, now.Sub(wt.Since).Round(time.Second), escape.Line(orDash(what)), escape.Line(wt.Cmd))
	}
}

// procLinesFor returns how a view's jobs are listed: "PID n: cmd", as the
// original prints them, or "PID n (frontend F): cmd" once some job in
// view comes from a frontend other than self (several media servers
// sharing one PostgreSQL); each followed by the job's progress when it
// reported any (indented, so a reader of the original's lines can skip it).
func procLinesFor(v selector.View, self string, now time.Time, pv jobProgress) func([]state.Process) []string {
	shared := false
	for _, ps := range append([][]state.Process{v.Fallback, v.Orphans}, hostProcs(v.Hosts)...) {
		for _, p := range ps {
			if f := owner.Frontend(p.Owner); f != "" && f != self {
				shared = true
			}
		}
	}
	return func(ps []state.Process) []string {
		var out []string
		for _, p := range ps {
			if f := owner.Frontend(p.Owner); shared && f != "" {
				out = append(out, fmt.Sprintf("PID %d (frontend %s): %s", p.PID, escape.Line(f), escape.Line(p.Cmd)))
			} else {
				out = append(out, fmt.Sprintf("PID %d: %s", p.PID, escape.Line(p.Cmd)))
			}
			if l := pv.line(now, p); l != "" {
				out = append(out, "    "+escape.Line(l))
			}
		}
		return out
	}
}

func hostProcs(hosts []selector.HostView) [][]state.Process {
	out := make([][]state.Process, len(hosts))
	for i, h := range hosts {
		out[i] = h.Processes
	}
	return out
}

// orphanRows groups the jobs of removed hosts by the id they ran under.
func orphanRows(orphans []state.Process, procLines func([]state.Process) []string) []statusRow {
	byHost := map[int64][]state.Process{}
	for _, p := range orphans {
		byHost[p.HostID] = append(byHost[p.HostID], p)
	}
	ids := make([]int64, 0, len(byHost))
	for id := range byHost {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var rows []statusRow
	for _, id := range ids {
		rows = append(rows, statusRow{[]string{RemovedHost, RemovedHost, strconv.FormatInt(id, 10), "-", state.StateActive}, procLines(byHost[id])})
	}
	return rows
}

// writeTable prints rows under head; the last column (the commands) has
// one line per command.
func writeTable(w io.Writer, head []string, rows []statusRow) {
	n := len(head) - 1
	widths := make([]int, n)
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
	line(head[:n], head[n])
	blank := make([]string, n)
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

// destination is a host as ssh reaches it: [user@]host[:port], an IPv6
// address with a port in brackets.
func destination(h state.Host) string {
	d := h.Hostname
	if h.SSHPort > 0 {
		d = net.JoinHostPort(d, strconv.Itoa(h.SSHPort))
	}
	if h.SSHUser != "" {
		d = h.SSHUser + "@" + d
	}
	return d
}
