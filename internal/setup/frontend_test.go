package setup

import (
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
)

func parse(t *testing.T, yml string, env map[string]string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The policy judges rows as the configured frontend, with the configured
// lease: another frontend's job is alive until its heartbeat is older than
// database.lease; a job written under this frontend's name by a process
// that is gone is dead at once (its PID is judged here).
func TestPolicyFrontendAndLease(t *testing.T) {
	now := time.Now()
	c := parse(t, "rffmpeg:\n  database:\n    frontend_id: jf-a\n    lease: 10\n", nil)
	self := owner.Self()
	p := Policy(c, now, self)
	me := Self(c)
	if me.Machine != "jf-a" {
		t.Fatalf("Self(c).Machine = %q, want jf-a", me.Machine)
	}
	gone := owner.Identity{Machine: "jf-a", Boot: me.Boot, PID: 999999991, Start: 1}
	tests := []struct {
		name  string
		pid   int
		owner string
		hb    time.Time
		want  bool
	}{
		{"this process under its frontend", me.PID, me.String(), now, false},
		{"a gone process of this frontend", gone.PID, gone.String(), now, true},
		{"another frontend, fresh", 1, "jf-b|x|1", now.Add(-9 * time.Second), false},
		{"another frontend, past the lease", 1, "jf-b|x|1", now.Add(-11 * time.Second), true},
		{"this machine's default name is another frontend now", 1, owner.Machine() + "|x|1", now.Add(-time.Second), false},
	}
	for _, tt := range tests {
		if got := p.Dead(tt.pid, tt.owner, tt.hb); got != tt.want {
			t.Errorf("%s: Dead = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got, want := Store(c).Lease, 10*time.Second; got != want {
		t.Errorf("Store(c).Lease = %v, want %v", got, want)
	}
	if got, want := owner.HeartbeatFor(Store(c).Lease), 2500*time.Millisecond; got != want {
		t.Errorf("heartbeat = %v, want %v", got, want)
	}
}

// libpq's settings fill what rffmpeg's keys leave at their defaults; a key
// the user set wins.
func TestPostgresFromLibpq(t *testing.T) {
	tests := []struct {
		name           string
		yml            string
		env            map[string]string
		host, user, db string
		port           int
	}{
		{"original defaults", "", map[string]string{"RFFMPEG_POSTGRES_USER": "jf"}, "localhost", "jf", "rffmpeg", 5432},
		{"PGHOST and PGPORT", "", map[string]string{"RFFMPEG_POSTGRES_USER": "jf", "PGHOST": "db.lan", "PGPORT": "6432"}, "", "jf", "rffmpeg", 0},
		{"a service names everything", "rffmpeg:\n  database:\n    type: postgresql\n", map[string]string{"PGSERVICE": "rffmpeg"}, "", "", "", 0},
		{"rffmpeg's key wins", "rffmpeg:\n  database:\n    host: pg.lan\n", map[string]string{"RFFMPEG_POSTGRES_USER": "jf", "PGHOST": "db.lan"}, "pg.lan", "jf", "rffmpeg", 5432},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parse(t, tt.yml, tt.env)
			o := postgres(c, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if o.Host != tt.host || o.User != tt.user || o.Name != tt.db || o.Port != tt.port {
				t.Errorf("got host %q user %q name %q port %d, want %q %q %q %d", o.Host, o.User, o.Name, o.Port, tt.host, tt.user, tt.db, tt.port)
			}
		})
	}
}
