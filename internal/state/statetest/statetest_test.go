package statetest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The DSN survives values that need quoting: pgx parses back what was put in.
func TestPgDSNQuoting(t *testing.T) {
	for _, o := range []state.Options{
		{Host: "127.0.0.1", Port: 5432, User: "rffmpeg", Password: "plain", Name: "db"},
		{Host: "db.lan", Port: 6543, User: "o'brien", Password: `it's a \ secret with spaces`, Name: "my db"},
		{Host: "db.lan", Port: 5432, User: "u", Password: "", Name: "x"},
	} {
		cfg, err := pgconn.ParseConfig(PgDSN(o))
		if err != nil {
			t.Errorf("%+v: %v", o, err)
			continue
		}
		got := state.Options{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Password: cfg.Password, Name: cfg.Database}
		want := state.Options{Host: o.Host, Port: o.Port, User: o.User, Password: o.Password, Name: o.Name}
		if got != want {
			t.Errorf("PgDSN(%+v) parses back as %+v", o, got)
		}
	}
}
