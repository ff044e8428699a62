package state_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// Values the options leave empty come from libpq's settings: here a
// service file names the server, the account and the database, and its
// sslmode is honoured: the test rig's server offers TLS (as Debian's does
// by default) and libpq's default (prefer) would use it; the service says
// disable, so the store's connection is plain. verify-full with a root
// certificate that is not there fails, naming it.
func TestLibpqService(t *testing.T) {
	if _, ok := statetest.PostgresAdmin(); !ok {
		t.Skip("PostgreSQL not configured")
	}
	o := statetest.NewPostgres(t)
	initStore(t, o)
	file := filepath.Join(t.TempDir(), "pg_service.conf")
	service := "[rffmpeg]\nhost=" + o.Host + "\nport=" + strconv.Itoa(o.Port) + "\nuser=" + o.User +
		"\npassword=" + o.Password + "\ndbname=" + o.Name + "\nsslmode=disable\napplication_name=rffmpeg-service-test\n" +
		"[strict]\nhost=" + o.Host + "\nport=" + strconv.Itoa(o.Port) + "\nuser=" + o.User +
		"\npassword=" + o.Password + "\ndbname=" + o.Name + "\nsslmode=verify-full\nsslrootcert=" + filepath.Join(t.TempDir(), "none.crt") + "\n"
	if err := os.WriteFile(file, []byte(service), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", file)
	t.Setenv("PGSERVICE", "rffmpeg")
	s, err := state.Open(ctx, state.Options{Backend: state.PostgreSQL})
	if err != nil {
		t.Fatalf("open through the service: %v", err)
	}
	defer s.Close()
	if _, err := s.AddHost(ctx, "h1", "", 1, now); err != nil {
		t.Fatal(err)
	}
	var ssl, any bool
	raw := statetest.Raw(t, o)
	defer raw.Close()
	// The store's own connection: is it encrypted?
	snap, err := s.Snapshot(ctx)
	if err != nil || len(snap.Hosts) != 1 {
		t.Fatalf("snapshot through the service: %v %v", snap.Hosts, err)
	}
	if err := raw.QueryRow(`SELECT count(*) > 0, coalesce(bool_or(s.ssl), false) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
		WHERE a.datname = $1 AND a.application_name = 'rffmpeg-service-test'`, o.Name).Scan(&any, &ssl); err != nil {
		t.Fatal(err)
	}
	if !any || ssl {
		t.Errorf("sslmode=disable from the service file: store connected %v, over TLS %v; want connected, not TLS", any, ssl)
	}
	t.Setenv("PGSERVICE", "strict")
	if _, err := state.Open(ctx, state.Options{Backend: state.PostgreSQL}); err == nil || !strings.Contains(err.Error(), "none.crt") {
		t.Errorf("sslmode=verify-full with a missing root certificate: err = %v, want it named", err)
	}
}
