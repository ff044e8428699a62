package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsWithoutFile(t *testing.T) {
	c, err := Parse(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.DBPath(), "/var/lib/rffmpeg/rffmpeg.db"; got != want {
		t.Errorf("DBPath = %q, want %q", got, want)
	}
	if got, want := c.Remote.Args, []string{"-i", "/var/lib/jellyfin/.ssh/id_rsa"}; !reflect.DeepEqual(got, want) {
		t.Errorf("remote.args = %q, want %q", got, want)
	}
	if c.Remote.Persist != 300 || !c.Logging.LogToFile || c.Logging.Debug || c.Database.Type != SQLite {
		t.Errorf("unexpected defaults: %+v", c)
	}
	for _, e := range c.Entries() {
		if e.Source != FromDefault {
			t.Errorf("%s: source %s, want default", e.Key, e.Source)
		}
	}
}

// The sample file shipped with the original, trimmed: sections present,
// most keys commented out, a few set.
const originalStyle = `---
rffmpeg:
    logging:
        #log_to_file: true
        logfile: "/var/log/jellyfin/rffmpeg.log"
        debug: true
    directories:
        state: "/srv/rffmpeg"
    remote:
        user: "jellyfin"
        persist: 0
        args:
            - "-i"
            - "/var/lib/jellyfin/id_rsa"
            - "-p"
            - 2222
    commands:
        pre:
            - "nice"
        ffmpeg: "/usr/lib/jellyfin-ffmpeg/ffmpeg"
        special_flags:
            - "-muxers"
`

func TestOriginalStyleFile(t *testing.T) {
	c, err := Parse([]byte(originalStyle), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Logging.Debug || c.Remote.User != "jellyfin" || c.Remote.Persist != 0 {
		t.Errorf("file values not applied: %+v", c.Remote)
	}
	if got, want := c.Remote.Args, []string{"-i", "/var/lib/jellyfin/id_rsa", "-p", "2222"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	if got, want := c.DBPath(), "/srv/rffmpeg/rffmpeg.db"; got != want {
		t.Errorf("DBPath = %q, want %q", got, want)
	}
	if c.Sources["logging.debug"] != FromFile || c.Sources["logging.log_to_file"] != FromDefault {
		t.Errorf("sources wrong: %v", c.Sources)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
}

func TestPostgresFromEnvironment(t *testing.T) {
	c, err := Parse(nil, envOf(map[string]string{
		"RFFMPEG_POSTGRES_USER": "jf", "RFFMPEG_POSTGRES_PORT": "5433", "RFFMPEG_POSTGRES_HOST": "db.lan",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Type != Postgres || c.Database.User != "jf" || c.Database.Port != 5433 ||
		c.Database.Host != "db.lan" || c.Database.Name != "rffmpeg" {
		t.Errorf("database = %+v", c.Database)
	}
	if c.Sources["database.type"] != FromEnv || c.Sources["database.name"] != FromDefault {
		t.Errorf("sources: %v", c.Sources)
	}
}

func TestPostgresFromFile(t *testing.T) {
	c, err := Parse([]byte("rffmpeg:\n  database:\n    type: postgresql\n    user: me\n    password: secret\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Type != Postgres || c.Database.User != "me" {
		t.Errorf("database = %+v", c.Database)
	}
	for _, e := range c.Entries() {
		if e.Key == "database.password" && e.Value != "********" {
			t.Errorf("password shown: %v", e.Value)
		}
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	c, err := Parse([]byte("rffmpeg:\n  logging:\n    debgu: true\n  extra:\n    a: 1\nother: 2\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(c.Warnings, "\n")
	for _, want := range []string{"line 3 column 5: unknown key rffmpeg.logging.debgu", "unknown section rffmpeg.extra", "unknown top-level key \"other\""} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"tab", "rffmpeg:\n\tlogging:\n", nil, "line 2 column 1: tab character"},
		{"syntax", "rffmpeg:\n  logging:\n    debug: [\n", nil, "line 3 column 12: invalid YAML"},
		{"wrong type bool", "rffmpeg:\n  logging:\n    debug: yes please\n", nil, "line 3 column 12: rffmpeg.logging.debug must be a boolean"},
		{"wrong type int", "rffmpeg:\n  remote:\n    persist: \"lots\"\n", nil, "rffmpeg.remote.persist must be a whole number"},
		{"list expected", "rffmpeg:\n  remote:\n    args: -i key\n", nil, "rffmpeg.remote.args must be a list"},
		{"negative persist", "rffmpeg:\n  remote:\n    persist: -5\n", nil, "line 3 column 14: remote.persist: must not be negative"},
		{"bad host keys", "rffmpeg:\n  remote:\n    host_keys: maybe\n", nil, "must be one of tofu, ignore, ssh"},
		{"section not map", "rffmpeg:\n  logging: 3\n", nil, "rffmpeg.logging must be a mapping"},
		{"env port", "", map[string]string{"RFFMPEG_POSTGRES_USER": "x", "RFFMPEG_POSTGRES_PORT": "abc"}, "RFFMPEG_POSTGRES_PORT: \"abc\" is not a whole number"},
		{"pg without user", "rffmpeg:\n  database:\n    type: postgresql\n", nil, "no user is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), envOf(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.yml")
	if err := os.WriteFile(p, []byte("rffmpeg:\n  logging:\n    debug: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"RFFMPEG_CONFIG": p}))
	if err != nil || !c.Logging.Debug || c.Path != p {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	// An explicitly named file that does not exist is an error, not defaults.
	_, err = Load(envOf(map[string]string{"RFFMPEG_CONFIG": filepath.Join(dir, "missing.yml")}))
	if err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("missing explicit config: err = %v", err)
	}
}

// A value refused by a check says where it is written.
func TestCheckErrorPosition(t *testing.T) {
	_, err := Parse([]byte("rffmpeg:\n  database:\n    type: postgres\n"), envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "line 3 column 11: database.type: must be one of sqlite, postgresql") {
		t.Errorf("error %v: want the value's line and column", err)
	}
	// One key in a one-key section is still found (a single mapping value).
	c, err := Parse([]byte("rffmpeg:\n  logging:\n    bogus: 1\n"), envOf(nil))
	if err != nil || len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], "line 3 column 5: ") {
		t.Errorf("warnings %q (%v): want the key's line and column", c.Warnings, err)
	}
}
