package state

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rows are read defensively. SQLite lets any tool write any value into any
// column (weight 'abc', drain 'yes', process_id 'abc'); such a row must not
// make every read fail. A row whose values cannot mean what the column
// says is left out of the snapshot and reported in Snapshot.Malformed; the
// rest keeps working, and RemoveHosts and Clear can still delete it.

// Malformed is a row left out of a snapshot, and why.
type Malformed struct {
	Table   string // hosts, processes or states
	ID      int64
	Problem string
}

func (m Malformed) String() string {
	return fmt.Sprintf("%s row %d: %s", m.Table, m.ID, m.Problem)
}

// CmdReadLimit caps how much of a processes row's command line a snapshot
// reads (a row written by another tool may hold megabytes; every call reads
// every row).
const CmdReadLimit = 64 << 10

// rowSource is a result being read: *sql.Rows, or a pipelined result on
// PostgreSQL (see pipeline), whose values are pgx's own types.
type rowSource interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// intOf reads an integer column: null reports SQL NULL, ok false a value
// that is not a whole number.
func intOf(v any) (n int64, null, ok bool) {
	switch v := v.(type) {
	case nil:
		return 0, true, true
	case int64:
		return v, false, true
	case int32: // pgx's own INTEGER, when pipelined
		return int64(v), false, true
	case int16:
		return int64(v), false, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), false, true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, false, err == nil
	case []byte:
		return intOf(string(v))
	case bool:
		if v {
			return 1, false, true
		}
		return 0, false, true
	}
	return 0, false, false
}

// textOf reads a text column whatever the value's type.
func textOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.Format("2006-01-02 15:04:05.999999")
	}
	return fmt.Sprint(v)
}

// shown quotes a bad value for a Malformed message, shortened.
func shown(v any) string {
	s := textOf(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// problems collects what is wrong with one row.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// wholeNumber reads an integer column, noting a value that is not one.
func (p *problems) wholeNumber(col string, v any) int64 {
	n, _, ok := intOf(v)
	if !ok {
		p.add("%s %s is not a whole number", col, shown(v))
	}
	return n
}

// millis reads one of our Unix-millisecond columns.
func (p *problems) millis(col string, v any) time.Time {
	n, null, ok := intOf(v)
	if !ok {
		p.add("%s %s is not a time in milliseconds", col, shown(v))
	}
	if null || !ok {
		return time.Time{}
	}
	return sane(time.UnixMilli(n))
}

// sane keeps times that every output can carry (JSON refuses years past
// 9999): anything else reads as unknown (zero).
func sane(t time.Time) time.Time {
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}

// hostSelect reads hosts with our columns; a row of ours counts only while
// its copies still match the host (see ourSchema). How each host is
// reached and its path maps come with it: the shim needs both for the host
// it chose, and reads them with the selection instead of one query each.
const hostSelect = `SELECT h.id, h.servername, h.hostname, h.weight, h.created, x.drain, x.checked_at, x.last_error, x.last_error_at,
	x.max_jobs, x.priority, x.tags, x.capabilities, x.probed_at, x.ffmpeg, x.ffprobe, x.wol_mac, x.wol_addr,
	x.ssh_port, x.ssh_user, a.mode, m.map
	FROM hosts h LEFT JOIN rffmpeg_hosts x ON x.host_id = h.id AND x.servername = h.servername AND x.created = h.created
	LEFT JOIN rffmpeg_access a ON a.host_id = h.id AND a.servername = h.servername
	LEFT JOIN rffmpeg_path_maps m ON m.host_id = h.id AND m.servername = h.servername`

// scanHost reads one hostSelect row; the problems say why it cannot be used.
func scanHost(rows rowSource) (Host, problems, error) {
	var h Host
	var id, servername, hostname, weight, created, drain, checked, lastErr, errAt any
	var pr hostPropValues
	var access, pathMaps any
	if err := rows.Scan(&id, &servername, &hostname, &weight, &created, &drain, &checked, &lastErr, &errAt,
		&pr.maxJobs, &pr.priority, &pr.tags, &pr.caps, &pr.probedAt, &pr.ffmpeg, &pr.ffprobe, &pr.wolMAC, &pr.wolAddr,
		&pr.sshPort, &pr.sshUser, &access, &pathMaps); err != nil {
		return h, nil, err
	}
	h.Access, h.pathMaps = accessMode(textOf(access)), textOf(pathMaps)
	var p problems
	h.ID = p.wholeNumber("id", id)
	h.Hostname = textOf(hostname)
	if err := validName("hostname", h.Hostname); err != nil {
		p.add("%v", err)
	}
	h.Servername = textOf(servername)
	if h.Servername == "" {
		h.Servername = h.Hostname
	}
	w, null, ok := intOf(weight)
	switch {
	case !ok:
		p.add("weight %s is not a whole number", shown(weight))
	case null || w < 1 || w > math.MaxInt32:
		w = 1 // the original's default; never divide by zero
	}
	h.Weight = int(max(w, 1))
	h.Created = parseCreated(created)
	switch d, _, ok := intOf(drain); {
	case !ok || d < 0 || d > 1:
		p.add("drain %s is neither 0 nor 1", shown(drain))
	default:
		h.Drain = d == 1
	}
	h.CheckedAt = p.millis("checked_at", checked)
	h.LastError = textOf(lastErr)
	h.LastErrAt = p.millis("last_error_at", errAt)
	pr.read(&h, &p)
	return h, p, nil
}

// scanHosts reads hostSelect rows. strict leaves malformed rows out (and
// reports them); otherwise they come back as well as they read, so that
// remove, weight and drain can still name and fix them.
func scanHosts(rows rowSource, strict bool) ([]Host, []Malformed, error) {
	defer rows.Close()
	var out []Host
	var bad []Malformed
	for rows.Next() {
		h, p, err := scanHost(rows)
		if err != nil {
			return nil, nil, err
		}
		if strict && len(p) > 0 {
			bad = append(bad, Malformed{"hosts", h.ID, strings.Join(p, "; ")})
			continue
		}
		out = append(out, h)
	}
	return out, bad, rows.Err()
}

// processSelect reads at most CmdReadLimit (65536) characters of a command.
const processSelect = processFrom + ` ORDER BY p.id`

// processFrom is processSelect before its order, for a WHERE (see leanSnapshot).
const processFrom = `SELECT p.id, p.host_id, p.process_id, substr(p.cmd, 1, 65536), x.started, x.owner, x.heartbeat
	FROM processes p LEFT JOIN rffmpeg_processes x ON x.id = p.id AND x.host_id = p.host_id AND x.process_id = p.process_id`

func scanProcess(rows rowSource) (Process, problems, error) {
	var v processValues
	if err := rows.Scan(v.dest()...); err != nil {
		return Process{}, nil, err
	}
	pr, p := v.read()
	return pr, p, nil
}

// processValues are a processSelect row's columns as read.
type processValues struct{ id, host, pid, cmd, started, owner, hb any }

func (v *processValues) dest() []any {
	return []any{&v.id, &v.host, &v.pid, &v.cmd, &v.started, &v.owner, &v.hb}
}

func (v *processValues) read() (Process, problems) {
	var pr Process
	var p problems
	pr.ID = p.wholeNumber("id", v.id)
	pr.HostID = p.wholeNumber("host_id", v.host)
	pr.PID = int(p.wholeNumber("process_id", v.pid))
	pr.Cmd, pr.Owner = textOf(v.cmd), textOf(v.owner)
	pr.Started, pr.Heartbeat = p.millis("started", v.started), p.millis("heartbeat", v.hb)
	return pr, p
}

const markSelect = markFrom + ` ORDER BY s.id`

const markFrom = `SELECT s.id, s.host_id, s.process_id, s.state, x.created, x.reason, x.owner
	FROM states s LEFT JOIN rffmpeg_states x ON x.id = s.id AND x.host_id = s.host_id AND x.process_id = s.process_id`

func scanMark(rows rowSource) (Mark, problems, error) {
	var m Mark
	var id, host, pid, st, created, reason, owner any
	if err := rows.Scan(&id, &host, &pid, &st, &created, &reason, &owner); err != nil {
		return m, nil, err
	}
	var p problems
	m.ID = p.wholeNumber("id", id)
	m.HostID = p.wholeNumber("host_id", host)
	m.PID = int(p.wholeNumber("process_id", pid))
	m.State, m.Reason, m.Owner = textOf(st), textOf(reason), textOf(owner)
	m.Created = p.millis("created", created)
	return m, p, nil
}

// scanAll reads every row with scan, leaving malformed ones out.
func scanAll[T any](rows rowSource, table string, scan func(rowSource) (T, problems, error), id func(T) int64) ([]T, []Malformed, error) {
	defer rows.Close()
	var out []T
	var bad []Malformed
	for rows.Next() {
		v, p, err := scan(rows)
		if err != nil {
			return nil, nil, err
		}
		if len(p) > 0 {
			bad = append(bad, Malformed{table, id(v), strings.Join(p, "; ")})
			continue
		}
		out = append(out, v)
	}
	return out, bad, rows.Err()
}
