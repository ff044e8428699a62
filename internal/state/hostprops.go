package state

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Per-host properties (schema version 4): what routes a job to a host
// beyond the original's weight. They live in rffmpeg_hosts beside the
// other columns of ours; the original's hosts table is never touched.

// hostPropColumns are the columns migration 4 adds to rffmpeg_hosts, with
// their type per dialect (SQLite, PostgreSQL).
var hostPropColumns = []struct{ name, sqlite, postgres string }{
	{"max_jobs", "INTEGER", "INTEGER"},
	{"priority", "INTEGER", "INTEGER"},
	{"tags", "TEXT", "TEXT"},
	{"capabilities", "TEXT", "TEXT"},
	{"probed_at", "INTEGER", "BIGINT"},
	{"ffmpeg", "TEXT", "TEXT"},
	{"ffprobe", "TEXT", "TEXT"},
	{"wol_mac", "TEXT", "TEXT"},
	{"wol_addr", "TEXT", "TEXT"},
	{"ssh_port", "INTEGER", "INTEGER"}, // added by migration 8 (re-runs addHostProps)
	{"ssh_user", "TEXT", "TEXT"},
}

// addHostProps is migration 4: the per-host property columns, the job
// queue of the `wait` policy and each machine's own probed capabilities.
func addHostProps(ctx context.Context, tx *sql.Tx, d dialect) error {
	cols, err := d.columns(ctx, tx, "rffmpeg_hosts")
	if err != nil {
		return err
	}
	for _, c := range hostPropColumns {
		if cols[c.name] {
			continue
		}
		typ := c.sqlite
		if d.name() == PostgreSQL {
			typ = c.postgres
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE rffmpeg_hosts ADD COLUMN `+c.name+` `+typ); err != nil {
			return fmt.Errorf("add rffmpeg_hosts.%s: %w", c.name, err)
		}
	}
	id := "INTEGER PRIMARY KEY"
	if d.name() == PostgreSQL {
		id = "BIGSERIAL PRIMARY KEY"
	}
	for _, stmt := range []string{
		// One row per waiting call, oldest first by id (see Waiter).
		`CREATE TABLE IF NOT EXISTS rffmpeg_queue (id ` + id + `, process_id INTEGER, owner TEXT, cmd TEXT, class TEXT, needs TEXT, since BIGINT, heartbeat BIGINT)`,
		// One row per machine running shims: the local fallback's
		// capabilities differ between frontends sharing a PostgreSQL.
		`CREATE TABLE IF NOT EXISTS rffmpeg_machines (machine TEXT PRIMARY KEY, capabilities TEXT, probed_at BIGINT)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// HostProps are the per-host settings `rffmpeg set` changes. A nil field
// (and empty AddTags/RemoveTags) leaves that setting as it is.
type HostProps struct {
	MaxJobs  *int      // jobs at once, 0: no limit
	Priority *int      // tier: lower is tried first
	Tags     *[]string // replaces every tag
	AddTags  []string  // then these are added
	DelTags  []string  // and these removed
	FFmpeg   *string   // this host's ffmpeg ("": commands.ffmpeg)
	FFprobe  *string
	WoLMAC   *string // Wake-on-LAN MAC address ("": none)
	WoLAddr  *string // where the magic packet goes: host or host:port ("": the broadcast address)
	SSHPort  *int    // ssh port (0: remote.args or ssh's default)
	SSHUser  *string // ssh user ("": remote.user)
}

// Empty reports whether p changes nothing.
func (p HostProps) Empty() bool {
	return p.MaxJobs == nil && p.Priority == nil && p.Tags == nil && len(p.AddTags) == 0 && len(p.DelTags) == 0 &&
		p.FFmpeg == nil && p.FFprobe == nil && p.WoLMAC == nil && p.WoLAddr == nil && p.SSHPort == nil && p.SSHUser == nil
}

// ValidTag checks a tag: letters, digits and _ . : - , not starting with
// + or - (those add and remove), at most 64 bytes.
func ValidTag(t string) error {
	if t == "" || len(t) > 64 {
		return kindErr(ErrInvalid, "tag %q: must be 1 to 64 characters", t)
	}
	for i, r := range t {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_.:-", r))
		if !ok || i == 0 && r == '-' {
			return kindErr(ErrInvalid, "tag %q: only letters, digits, '_', '.', ':' and '-' (not first)", t)
		}
	}
	return nil
}

// ValidateHostProps checks p as SetHostProps will, and returns it with
// the MAC address in canonical form.
func ValidateHostProps(p HostProps) (HostProps, error) {
	if p.MaxJobs != nil && (*p.MaxJobs < 0 || *p.MaxJobs > math.MaxInt32) {
		return p, kindErr(ErrInvalid, "max_jobs %d: must be 0 (no limit) or more", *p.MaxJobs)
	}
	if p.Priority != nil && (*p.Priority < math.MinInt32 || *p.Priority > math.MaxInt32) {
		return p, kindErr(ErrInvalid, "priority %d: out of range", *p.Priority)
	}
	var all []string
	if p.Tags != nil {
		all = append(all, *p.Tags...)
	}
	for _, t := range append(append(all, p.AddTags...), p.DelTags...) {
		if err := ValidTag(t); err != nil {
			return p, err
		}
	}
	for _, c := range []struct {
		what string
		v    *string
	}{{"ffmpeg", p.FFmpeg}, {"ffprobe", p.FFprobe}} {
		if c.v != nil && *c.v != "" {
			if err := validName(c.what+" path", *c.v); err != nil {
				return p, err
			}
		}
	}
	if p.WoLMAC != nil && *p.WoLMAC != "" {
		mac, err := net.ParseMAC(*p.WoLMAC)
		if err != nil || len(mac) != 6 {
			return p, kindErr(ErrInvalid, "wol %q: not a MAC address (like 00:11:22:33:44:55)", *p.WoLMAC)
		}
		s := mac.String()
		p.WoLMAC = &s
	}
	if p.WoLAddr != nil && *p.WoLAddr != "" {
		if err := validAddr(*p.WoLAddr); err != nil {
			return p, err
		}
	}
	if p.SSHPort != nil && (*p.SSHPort < 0 || *p.SSHPort > 65535) {
		return p, kindErr(ErrInvalid, "port %d: must be 1 to 65535 (0: the default)", *p.SSHPort)
	}
	if p.SSHUser != nil && *p.SSHUser != "" && !ValidUser(*p.SSHUser) {
		return p, kindErr(ErrInvalid, "user %q: letters, digits, '_', '.', '-' (not first), at most 64", *p.SSHUser)
	}
	return p, nil
}

// ValidUser checks an ssh user name: a portable login name, so it is
// never read as an option or a second destination by ssh.
func ValidUser(u string) bool {
	if u == "" || len(u) > 64 || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-", r)) {
			return false
		}
	}
	return true
}

func validAddr(a string) error {
	host := a
	if h, port, err := net.SplitHostPort(a); err == nil {
		host = h
		var n int
		if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != port {
			return kindErr(ErrInvalid, "wol_addr %q: port must be 1 to 65535", a)
		}
	}
	if err := validName("wol_addr", host); err != nil || strings.ContainsAny(host, "/[]") {
		return kindErr(ErrInvalid, "wol_addr %q: not a host or host:port", a)
	}
	return nil
}

// SetHostProps changes the properties of the hosts ref names (see Resolve).
func (s *Store) SetHostProps(ctx context.Context, ref string, p HostProps) ([]Host, error) {
	p, err := ValidateHostProps(p)
	if err != nil {
		return nil, fmt.Errorf("set %q: %w", ref, err)
	}
	return s.updateHosts(ctx, "set", ref, s.setProps(ctx, p))
}

// SetHostPropsByKey changes host k's properties (see HostKey).
func (s *Store) SetHostPropsByKey(ctx context.Context, k HostKey, p HostProps) (Host, error) {
	p, err := ValidateHostProps(p)
	if err != nil {
		return Host{}, fmt.Errorf("set host %d: %w", k.ID, err)
	}
	return s.updateByKey(ctx, "set", k, s.setProps(ctx, p))
}

// setProps writes p to one host inside the caller's transaction. Tags
// are read and written in that transaction, so two admins adding a tag
// each keep both.
func (s *Store) setProps(ctx context.Context, p HostProps) func(*sql.Tx, int64) error {
	return func(tx *sql.Tx, id int64) error {
		var sets []string
		var args []any
		add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
		if p.MaxJobs != nil {
			add("max_jobs", *p.MaxJobs)
		}
		if p.Priority != nil {
			add("priority", *p.Priority)
		}
		if p.Tags != nil || len(p.AddTags) > 0 || len(p.DelTags) > 0 {
			tags, err := s.currentTags(ctx, tx, id)
			if err != nil {
				return err
			}
			if p.Tags != nil {
				tags = *p.Tags
			}
			tags = editTags(tags, p.AddTags, p.DelTags)
			add("tags", nullText(strings.Join(tags, ",")))
		}
		for _, c := range []struct {
			col string
			v   *string
		}{{"ffmpeg", p.FFmpeg}, {"ffprobe", p.FFprobe}, {"wol_mac", p.WoLMAC}, {"wol_addr", p.WoLAddr}} {
			if c.v != nil {
				add(c.col, nullText(*c.v))
			}
		}
		if p.SSHPort != nil {
			add("ssh_port", nullInt(*p.SSHPort))
		}
		if p.SSHUser != nil {
			add("ssh_user", nullText(*p.SSHUser))
		}
		if len(sets) == 0 {
			return nil
		}
		return s.setHostExtra(ctx, tx, id, strings.Join(sets, ", "), args...)
	}
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullText(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// currentTags reads a host's tags as stored (a stale row of ours counts as none).
func (s *Store) currentTags(ctx context.Context, tx *sql.Tx, id int64) ([]string, error) {
	hosts, err := s.hostsWhere(ctx, tx, `h.id = ?`, id)
	if err != nil || len(hosts) == 0 {
		return nil, err
	}
	return hosts[0].Tags, nil
}

// editTags adds and removes tags, keeping them sorted and unique.
func editTags(tags, add, del []string) []string {
	out := append(append([]string{}, tags...), add...)
	out = slices.DeleteFunc(out, func(t string) bool { return slices.Contains(del, t) })
	slices.Sort(out)
	return slices.Compact(out)
}

// AddHostWith registers a host with properties in one transaction (a job
// selected meanwhile never sees it without its max_jobs).
func (s *Store) AddHostWith(ctx context.Context, hostname, name string, weight int, p HostProps, now time.Time) (Host, error) {
	p, err := ValidateHostProps(p)
	if err != nil {
		return Host{}, fmt.Errorf("add host %q: %w", hostname, err)
	}
	return s.addHost(ctx, hostname, name, weight, now, s.setProps(ctx, p))
}

// SetCapabilities records what a probe of host k found (capability
// tokens, see package jobclass); nil caps records "probed, nothing".
func (s *Store) SetCapabilities(ctx context.Context, k HostKey, caps []string, now time.Time) (Host, error) {
	return s.updateByKey(ctx, "record capabilities of", k, func(tx *sql.Tx, id int64) error {
		return s.setHostExtra(ctx, tx, id, `capabilities = ?, probed_at = ?`, strings.Join(caps, ","), ms(now))
	})
}

// Machine is a machine running shims, with its own capabilities (what the
// local fallback and localhost hosts can do there).
type Machine struct {
	Machine      string // see owner.Machine
	Capabilities []string
	ProbedAt     time.Time
}

// SetMachineCapabilities records what a probe of this machine found.
func (s *Store) SetMachineCapabilities(ctx context.Context, machine string, caps []string, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_machines (machine, capabilities, probed_at) VALUES (?, ?, ?)`+
			` ON CONFLICT (machine) DO UPDATE SET capabilities = excluded.capabilities, probed_at = excluded.probed_at`),
			machine, strings.Join(caps, ","), ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("record capabilities of %q: %w", machine, err)
	}
	return nil
}

// splitList reads a comma-separated column ("" and NULL: none).
func splitList(v any) []string {
	s := textOf(v)
	if s == "" {
		return nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

const machineSelect = `SELECT machine, capabilities, probed_at FROM rffmpeg_machines ORDER BY machine`

func scanMachine(rows rowSource) (Machine, problems, error) {
	var m Machine
	var name, caps, at any
	if err := rows.Scan(&name, &caps, &at); err != nil {
		return m, nil, err
	}
	var p problems
	m.Machine, m.Capabilities = textOf(name), splitList(caps)
	m.ProbedAt = p.millis("probed_at", at)
	return m, p, nil
}

// hostPropValues are the raw property columns of a hostSelect row.
type hostPropValues struct {
	maxJobs, priority, tags, caps, probedAt, ffmpeg, ffprobe, wolMAC, wolAddr, sshPort, sshUser any
}

// read fills h's properties, noting values another tool wrote badly.
func (v hostPropValues) read(h *Host, p *problems) {
	if n := p.wholeNumber("max_jobs", v.maxJobs); n < 0 || n > math.MaxInt32 {
		p.add("max_jobs %d is negative or too large", n)
	} else {
		h.MaxJobs = int(n)
	}
	if n := p.wholeNumber("priority", v.priority); n < math.MinInt32 || n > math.MaxInt32 {
		p.add("priority %d is out of range", n)
	} else {
		h.Priority = int(n)
	}
	h.Tags, h.Capabilities = splitList(v.tags), splitList(v.caps)
	h.ProbedAt = p.millis("probed_at", v.probedAt)
	h.FFmpeg, h.FFprobe = textOf(v.ffmpeg), textOf(v.ffprobe)
	h.WoLMAC, h.WoLAddr = textOf(v.wolMAC), textOf(v.wolAddr)
	if n := p.wholeNumber("ssh_port", v.sshPort); n < 0 || n > 65535 {
		p.add("ssh_port %d is not a port", n)
	} else {
		h.SSHPort = int(n)
	}
	// A user another tool wrote that ssh could misread counts as a bad row.
	if h.SSHUser = textOf(v.sshUser); h.SSHUser != "" && !ValidUser(h.SSHUser) {
		p.add("ssh_user %q is not a user name", h.SSHUser)
		h.SSHUser = ""
	}
}

// EditTags reads a tag edit as `rffmpeg set HOST tags=…` and the console
// take it into p: "a,b" replaces the tags, "+a,-b" adds and removes, ""
// clears. Spaces around a tag are dropped.
func EditTags(p *HostProps, v string) error {
	var plain, add, del []string
	for _, t := range strings.Split(v, ",") {
		switch t = strings.TrimSpace(t); {
		case t == "":
		case strings.HasPrefix(t, "+"):
			add = append(add, t[1:])
		case strings.HasPrefix(t, "-"):
			del = append(del, t[1:])
		default:
			plain = append(plain, t)
		}
	}
	if len(plain) > 0 && len(add)+len(del) > 0 {
		return kindErr(ErrInvalid, "tags %q: either replace (a,b) or edit (+a,-b), not both", v)
	}
	if len(add)+len(del) == 0 {
		p.Tags = &plain
	}
	p.AddTags = append(p.AddTags, add...)
	p.DelTags = append(p.DelTags, del...)
	return nil
}
