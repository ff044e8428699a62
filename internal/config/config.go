// Package config loads rffmpeg.yml the way the original Python rffmpeg does
// (same path, same keys, same defaults) and records where every effective
// value came from, so `rffmpeg config` can explain the configuration and a
// typo is reported instead of silently ignored.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// DefaultPath is where the original rffmpeg looks for its configuration.
const DefaultPath = "/etc/rffmpeg/rffmpeg.yml"

// Source tells where an effective value came from.
type Source string

const (
	FromDefault Source = "default"
	FromFile    Source = "file"
	FromEnv     Source = "env"
)

// Host-key policies (remote.host_keys).
const (
	HostKeysTOFU   = "tofu"   // record on first use in <state>/known_hosts, refuse a changed key
	HostKeysIgnore = "ignore" // the original: StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null
	HostKeysSSH    = "ssh"    // add nothing: the user's ssh_config decides
)

// Database backends (database.type).
const (
	SQLite   = "sqlite"
	Postgres = "postgresql"
)

// Config is the effective configuration. Field names follow the YAML keys.
type Config struct {
	Path string // the file read, "" when none was found
	// data is the file's bytes, as parsed (see Digest).
	data []byte

	Logging struct {
		LogToFile     bool
		Logfile       string
		DatedLogfiles bool
		DatedLogDir   string
		Debug         bool
	}
	Directories struct {
		State   string
		Persist string
		Owner   string
		Group   string
	}
	Remote struct {
		User           string
		Persist        int
		Args           []string
		HostKeys       string
		ConnectTimeout int
		CheckInterval  int
		BadMarkTTL     int
		KeepaliveEvery int
		KeepaliveCount int
		Env            []string
	}
	Commands struct {
		SSH             string
		Pre             []string
		FFmpeg          string
		FFprobe         string
		FallbackFFmpeg  string
		FallbackFFprobe string
		SpecialFlags    []string
		Fallback        bool
		StdoutRouting   string
		StallAfter      int  // seconds without progress before a job is flagged stalled; 0: never
		StopStalled     bool // stop a stalled job (TERM, then KILL)
	}
	History  History // history.go
	Database struct {
		Type     string
		Path     string
		Host     string
		Port     int
		Name     string
		User     string
		Password string
		Wait     int // seconds a job waits for a busy database before the fallback
		// FrontendID names this frontend among those sharing one
		// PostgreSQL ("": hostname and machine-id; see frontend.go).
		FrontendID string
		Lease      int // seconds another frontend's job counts as alive without a heartbeat
	}
	Scheduling Scheduling // see scheduler.go

	// Sources maps every key ("logging.debug") to where its value came from.
	Sources map[string]Source
	// Warnings are problems that did not stop loading (unknown keys).
	Warnings []string
}

// builtinSpecialFlags are the original's list of arguments asking for output
// the caller reads (under commands.stdout_routing: original, their presence
// sends ffmpeg's stdout to stdout); commands.special_flags adds to it.
var builtinSpecialFlags = []string{"-version", "-encoders", "-decoders", "-hwaccels", "-filters", "-h", "-muxers", "-fp_format"}

// SpecialFlags returns the built-in special flags plus the configured ones.
func (c *Config) SpecialFlags() []string {
	return append(append([]string(nil), builtinSpecialFlags...), c.Commands.SpecialFlags...)
}

// DBPath is the SQLite database file.
func (c *Config) DBPath() string {
	if c.Database.Path != "" {
		return c.Database.Path
	}
	return filepath.Join(c.Directories.State, "rffmpeg.db")
}

// KnownHostsPath is where host keys are recorded on first use.
func (c *Config) KnownHostsPath() string {
	return filepath.Join(c.Directories.State, "known_hosts")
}

type kind int

const (
	kBool kind = iota
	kInt
	kString
	kList
)

func (k kind) String() string {
	return [...]string{"a boolean (true/false)", "a whole number", "a string", "a list"}[k]
}

// field binds one YAML key to its place in Config and its default.
type field struct {
	key  string
	kind kind
	ptr  any
	def  any
	env  string // environment variable that overrides it, if any
	// check validates a value after loading; it returns a reason or "".
	check func(any) string
}

func positive(v any) string {
	if v.(int) <= 0 {
		return "must be greater than 0"
	}
	return ""
}

func nonNegative(v any) string {
	if v.(int) < 0 {
		return "must not be negative"
	}
	return ""
}

func oneOf(vals ...string) func(any) string {
	return func(v any) string {
		for _, ok := range vals {
			if v.(string) == ok {
				return ""
			}
		}
		return "must be one of " + strings.Join(vals, ", ")
	}
}

// fields lists every key, in the order `rffmpeg config` prints them.
func (c *Config) fields() []field {
	return append([]field{
		{key: "logging.log_to_file", kind: kBool, ptr: &c.Logging.LogToFile, def: true},
		{key: "logging.logfile", kind: kString, ptr: &c.Logging.Logfile, def: "/var/log/jellyfin/rffmpeg.log"},
		{key: "logging.datedlogfiles", kind: kBool, ptr: &c.Logging.DatedLogfiles, def: false},
		{key: "logging.datedlogdir", kind: kString, ptr: &c.Logging.DatedLogDir, def: "/var/log/jellyfin"},
		{key: "logging.debug", kind: kBool, ptr: &c.Logging.Debug, def: false},

		{key: "directories.state", kind: kString, ptr: &c.Directories.State, def: "/var/lib/rffmpeg"},
		{key: "directories.persist", kind: kString, ptr: &c.Directories.Persist, def: "/run/shm"},
		{key: "directories.owner", kind: kString, ptr: &c.Directories.Owner, def: "jellyfin"},
		{key: "directories.group", kind: kString, ptr: &c.Directories.Group, def: "sudo"},

		{key: "remote.user", kind: kString, ptr: &c.Remote.User, def: ""},
		{key: "remote.persist", kind: kInt, ptr: &c.Remote.Persist, def: 300, check: nonNegative},
		{key: "remote.args", kind: kList, ptr: &c.Remote.Args, def: []string{"-i", "/var/lib/jellyfin/.ssh/id_rsa"}},
		{key: "remote.host_keys", kind: kString, ptr: &c.Remote.HostKeys, def: HostKeysTOFU,
			check: oneOf(HostKeysTOFU, HostKeysIgnore, HostKeysSSH)},
		{key: "remote.connect_timeout", kind: kInt, ptr: &c.Remote.ConnectTimeout, def: 1, check: positive},
		{key: "remote.check_interval", kind: kInt, ptr: &c.Remote.CheckInterval, def: 60, check: nonNegative},
		{key: "remote.bad_mark_ttl", kind: kInt, ptr: &c.Remote.BadMarkTTL, def: 60, check: positive},
		{key: "remote.keepalive_interval", kind: kInt, ptr: &c.Remote.KeepaliveEvery, def: 2, check: positive},
		{key: "remote.keepalive_count", kind: kInt, ptr: &c.Remote.KeepaliveCount, def: 3, check: positive},
		// Variable names (a trailing * is a prefix) carried to the remote
		// ffmpeg besides the built-in FFREPORT, AV_LOG_FORCE_*, TZ, LANG, LC_*.
		{key: "remote.env", kind: kList, ptr: &c.Remote.Env, def: []string{}},

		{key: "commands.ssh", kind: kString, ptr: &c.Commands.SSH, def: "/usr/bin/ssh"},
		{key: "commands.pre", kind: kList, ptr: &c.Commands.Pre, def: []string{}},
		{key: "commands.ffmpeg", kind: kString, ptr: &c.Commands.FFmpeg, def: "/usr/lib/jellyfin-ffmpeg/ffmpeg"},
		{key: "commands.ffprobe", kind: kString, ptr: &c.Commands.FFprobe, def: "/usr/lib/jellyfin-ffmpeg/ffprobe"},
		{key: "commands.fallback_ffmpeg", kind: kString, ptr: &c.Commands.FallbackFFmpeg, def: "/usr/lib/jellyfin-ffmpeg/ffmpeg"},
		{key: "commands.fallback_ffprobe", kind: kString, ptr: &c.Commands.FallbackFFprobe, def: "/usr/lib/jellyfin-ffmpeg/ffprobe"},
		{key: "commands.special_flags", kind: kList, ptr: &c.Commands.SpecialFlags, def: []string{}},
		{key: "commands.fallback", kind: kBool, ptr: &c.Commands.Fallback, def: true},
		// exact: ffmpeg's stdout is the caller's stdout on every call.
		// original: the original's routing (ffmpeg's stdout to stderr unless
		// a special flag is present), for callers that relied on it.
		{key: "commands.stdout_routing", kind: kString, ptr: &c.Commands.StdoutRouting, def: "exact",
			check: oneOf("exact", "original")},
		// A running ffmpeg whose position (time=) has not advanced for this
		// many seconds is shown as stalled; stop_stalled also stops it.
		{key: "commands.stall_after", kind: kInt, ptr: &c.Commands.StallAfter, def: DefaultStallAfter, check: nonNegative},
		{key: "commands.stop_stalled", kind: kBool, ptr: &c.Commands.StopStalled, def: false},

		{key: "database.type", kind: kString, ptr: &c.Database.Type, def: SQLite, check: oneOf(SQLite, Postgres)},
		{key: "database.path", kind: kString, ptr: &c.Database.Path, def: ""},
		{key: "database.host", kind: kString, ptr: &c.Database.Host, def: "localhost", env: "RFFMPEG_POSTGRES_HOST"},
		{key: "database.port", kind: kInt, ptr: &c.Database.Port, def: 5432, env: "RFFMPEG_POSTGRES_PORT", check: positive},
		{key: "database.name", kind: kString, ptr: &c.Database.Name, def: "rffmpeg", env: "RFFMPEG_POSTGRES_DB"},
		{key: "database.user", kind: kString, ptr: &c.Database.User, def: "", env: "RFFMPEG_POSTGRES_USER"},
		{key: "database.password", kind: kString, ptr: &c.Database.Password, def: "", env: "RFFMPEG_POSTGRES_PASS"},
		// How long a job waits for a database someone else holds (a write
		// transaction, the write lock, a slow server) before it runs on
		// the fallback: Jellyfin's calls have no timeout of their own.
		{key: "database.wait", kind: kInt, ptr: &c.Database.Wait, def: 5, check: positive},
	}, append(append(c.historyFields(), c.schedulingFields()...), c.frontendFields()...)...)
}

// DefaultStallAfter is commands.stall_after's default: two minutes without
// progress is far past a slow start or a seek (Jellyfin's own segment
// requests time out sooner), so a flag means the job is stuck.
const DefaultStallAfter = 120

// Env is how Load sees the environment (os.LookupEnv in production).
type Env func(string) (string, bool)

// Load reads the configuration the way the original does: the file named by
// RFFMPEG_CONFIG, else /etc/rffmpeg/rffmpeg.yml; a missing file means all
// defaults. RFFMPEG_POSTGRES_* select and configure PostgreSQL.
func Load(env Env) (*Config, error) {
	path, explicit := env("RFFMPEG_CONFIG")
	if !explicit || path == "" {
		path = DefaultPath
	}
	data, err := readBounded(path)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist) && !explicit:
		data, path = nil, ""
	default:
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data, env)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Digest is the SHA-256 of the file's bytes (hex): with the environment
// (RFFMPEG_POSTGRES_*, libpq's PG*) they make the configuration. Computed
// when asked (the state helper's key), not by every call.
func (c *Config) Digest() string {
	sum := sha256.Sum256(c.data)
	return hex.EncodeToString(sum[:])
}

// Parse builds the effective configuration from a file's bytes (nil: no file)
// and the environment.
func Parse(data []byte, env Env) (*Config, error) {
	c := &Config{Sources: map[string]Source{}, data: data}
	fields := c.fields()
	for _, f := range fields {
		set(f, f.def)
		c.Sources[f.key] = FromDefault
	}
	if err := checkBounds(data); err != nil {
		return nil, err
	}
	if err := checkTabs(data); err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err)
	}
	if len(doc) > 0 {
		if err := c.apply(doc, data, fields); err != nil {
			return nil, err
		}
	}
	for _, f := range fields {
		if f.env == "" {
			continue
		}
		v, ok := env(f.env)
		if !ok {
			continue
		}
		if err := setString(f, v); err != nil {
			return nil, fmt.Errorf("%s: %w", f.env, err)
		}
		c.Sources[f.key] = FromEnv
	}
	// The original switches to PostgreSQL when RFFMPEG_POSTGRES_USER is set.
	if u, ok := env("RFFMPEG_POSTGRES_USER"); ok && u != "" {
		c.Database.Type = Postgres
		c.Sources["database.type"] = FromEnv
	}
	for _, f := range fields {
		if f.check == nil {
			continue
		}
		if why := f.check(get(f)); why != "" {
			if c.Sources[f.key] == FromFile {
				sec, k, _ := strings.Cut(f.key, ".")
				return nil, fmt.Errorf("%s: %s: %s", where(data, "$.rffmpeg."+quoteKey(sec)+"."+quoteKey(k)), f.key, why)
			}
			return nil, fmt.Errorf("%s (%s): %s", f.key, c.Sources[f.key], why)
		}
	}
	if c.Database.Type == Postgres && c.Database.User == "" && !libpqNames(env, "PGUSER") {
		return nil, fmt.Errorf("database.type is postgresql but no user is set (database.user or RFFMPEG_POSTGRES_USER)")
	}
	return c, nil
}

func (c *Config) apply(doc map[string]any, data []byte, fields []field) error {
	root, ok := doc["rffmpeg"]
	for k := range doc {
		if k != "rffmpeg" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: unknown top-level key %q ignored (everything goes under \"rffmpeg:\")", where(data, "$."+quoteKey(k)), k))
		}
	}
	if !ok || root == nil {
		return nil
	}
	sections, ok := root.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: rffmpeg must be a mapping of sections", where(data, "$.rffmpeg"))
	}
	byKey := map[string]field{}
	known := map[string]bool{}
	for _, f := range fields {
		byKey[f.key] = f
		known[strings.SplitN(f.key, ".", 2)[0]] = true
	}
	for _, sec := range sortedKeys(sections) {
		path := "$.rffmpeg." + quoteKey(sec)
		if !known[sec] {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: unknown section rffmpeg.%s ignored", where(data, path), sec))
			continue
		}
		if sections[sec] == nil {
			continue
		}
		keys, ok := sections[sec].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: rffmpeg.%s must be a mapping of keys", where(data, path), sec)
		}
		for _, k := range sortedKeys(keys) {
			f, ok := byKey[sec+"."+k]
			kpath := path + "." + quoteKey(k)
			if !ok {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: unknown key rffmpeg.%s.%s ignored", keyWhere(data, path, k, kpath), sec, k))
				continue
			}
			v := keys[k]
			if v == nil { // "key:" with no value keeps the default
				continue
			}
			conv, err := convert(f.kind, v)
			if err != nil {
				return fmt.Errorf("%s: rffmpeg.%s must be %s, not %s", where(data, kpath), f.key, f.kind, describe(v))
			}
			set(f, conv)
			c.Sources[f.key] = FromFile
		}
	}
	return nil
}

// checkTabs reports a tab in indentation with its position: YAML forbids it
// and the parser's own message ("cannot start any token") puzzles people.
func checkTabs(data []byte) error {
	for i, line := range strings.Split(string(data), "\n") {
		for col, r := range line {
			if r == '\t' {
				return fmt.Errorf("line %d column %d: tab character in indentation (YAML allows spaces only)", i+1, col+1)
			}
			if r != ' ' {
				break
			}
		}
	}
	return nil
}

func yamlError(err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Errorf("line %d column %d: invalid YAML: %s", p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Errorf("invalid YAML: %s", strings.SplitN(err.Error(), "\n", 2)[0])
}

// where returns "line L column C" for a YAML path, or the path when the
// position cannot be found.
func where(data []byte, path string) string {
	p, err := yaml.PathString(path)
	if err == nil {
		if f, err := parseFile(data); err == nil {
			if n, err := p.FilterFile(f); err == nil && n != nil && n.GetToken() != nil {
				pos := n.GetToken().Position
				return fmt.Sprintf("line %d column %d", pos.Line, pos.Column)
			}
		}
	}
	return strings.TrimPrefix(path, "$.")
}

// keyWhere is where key k of the mapping at path is written: the key
// itself, not its value (an admin looks for the misspelt word). Falls back
// to where(kpath).
func keyWhere(data []byte, path, k, kpath string) string {
	p, err := yaml.PathString(path)
	if err != nil {
		return where(data, kpath)
	}
	f, err := parseFile(data)
	if err != nil {
		return where(data, kpath)
	}
	n, err := p.FilterFile(f)
	m, ok := n.(*ast.MappingNode)
	if err != nil || !ok {
		return where(data, kpath)
	}
	for _, v := range m.Values {
		if t := v.Key.GetToken(); t != nil && t.Value == k {
			return fmt.Sprintf("line %d column %d", t.Position.Line, t.Position.Column)
		}
	}
	return where(data, kpath)
}

func parseFile(data []byte) (*ast.File, error) { return parser.ParseBytes(data, 0) }

func quoteKey(k string) string {
	if strings.ContainsAny(k, ".*[]'\" ") {
		return "'" + strings.ReplaceAll(k, "'", `\'`) + "'"
	}
	return k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describe(v any) string {
	switch v := v.(type) {
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case string:
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case float64:
		return fmt.Sprintf("the number %v", v)
	default:
		return fmt.Sprintf("%v", v)
	}
}

// convert turns a decoded YAML value into the field's Go type. Numbers are
// accepted where a string is expected (a user name "1000", a port in args).
func convert(k kind, v any) (any, error) {
	bad := errors.New("wrong type")
	switch k {
	case kBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kInt:
		switch n := v.(type) {
		case int64:
			return int(n), nil
		case uint64:
			return int(n), nil
		case int:
			return n, nil
		}
	case kString:
		if s, ok := scalarString(v); ok {
			return s, nil
		}
	case kList:
		items, ok := v.([]any)
		if !ok {
			return nil, bad
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := scalarString(it)
			if !ok {
				return nil, bad
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, bad
}

func scalarString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case int64, uint64, int:
		return fmt.Sprint(s), true
	}
	return "", false
}

func set(f field, v any) {
	switch p := f.ptr.(type) {
	case *bool:
		*p = v.(bool)
	case *int:
		*p = v.(int)
	case *string:
		*p = v.(string)
	case *[]string:
		*p = append([]string{}, v.([]string)...)
	}
}

func get(f field) any {
	switch p := f.ptr.(type) {
	case *bool:
		return *p
	case *int:
		return *p
	case *string:
		return *p
	case *[]string:
		return *p
	}
	return nil
}

func setString(f field, s string) error {
	switch f.kind {
	case kInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		set(f, n)
	default:
		set(f, s)
	}
	return nil
}

// Entry is one effective setting, for display.
type Entry struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source Source `json:"source"`
}

// Entries lists every setting with its effective value and source. The
// database password is masked.
func (c *Config) Entries() []Entry {
	var out []Entry
	for _, f := range c.fields() {
		v := get(f)
		if f.key == "database.password" && v.(string) != "" {
			v = "********"
		}
		out = append(out, Entry{Key: f.key, Value: v, Source: c.Sources[f.key]})
	}
	return out
}
