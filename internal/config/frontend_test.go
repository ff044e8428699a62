package config

import (
	"strings"
	"testing"
)

func TestFrontendKeys(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		env        map[string]string
		wantID     string
		wantLease  int
		wantSource Source
		wantErr    string
	}{
		{name: "defaults", wantLease: DefaultLease, wantSource: FromDefault},
		{name: "file", file: "rffmpeg:\n  database:\n    frontend_id: jf-a\n    lease: 20\n", wantID: "jf-a", wantLease: 20, wantSource: FromFile},
		{name: "env wins", file: "rffmpeg:\n  database:\n    frontend_id: jf-a\n", env: map[string]string{"RFFMPEG_FRONTEND_ID": "emby.2"},
			wantID: "emby.2", wantLease: DefaultLease, wantSource: FromEnv},
		{name: "separator refused", env: map[string]string{"RFFMPEG_FRONTEND_ID": "a|b"}, wantErr: "database.frontend_id (env): only letters"},
		{name: "space refused", file: "rffmpeg:\n  database:\n    frontend_id: a b\n", wantErr: "only letters"},
		{name: "too long", file: "rffmpeg:\n  database:\n    frontend_id: " + strings.Repeat("x", 65) + "\n", wantErr: "at most 64"},
		{name: "lease zero", file: "rffmpeg:\n  database:\n    lease: 0\n", wantErr: "line 3 column 12: database.lease: must be 1 to 86400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.file), envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Database.FrontendID; got != tt.wantID {
				t.Errorf("frontend_id = %q, want %q", got, tt.wantID)
			}
			if got := c.Database.Lease; got != tt.wantLease {
				t.Errorf("lease = %d, want %d", got, tt.wantLease)
			}
			if got := c.Sources["database.frontend_id"]; got != tt.wantSource {
				t.Errorf("source = %q, want %q", got, tt.wantSource)
			}
		})
	}
}

// A PostgreSQL user may come from libpq's environment (PGUSER, or a
// service file named by PGSERVICE) instead of rffmpeg's keys.
func TestPostgresUserFromLibpq(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr bool
	}{
		{map[string]string{}, true},
		{map[string]string{"PGUSER": "jf"}, false},
		{map[string]string{"PGSERVICE": "rffmpeg"}, false},
	}
	for _, tt := range tests {
		_, err := Parse([]byte("rffmpeg:\n  database:\n    type: postgresql\n"), envOf(tt.env))
		if got := err != nil; got != tt.wantErr {
			t.Errorf("env %v: err = %v, want error %v", tt.env, err, tt.wantErr)
		}
	}
}
