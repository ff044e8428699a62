package setup

import (
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Self is this process's identity as the configuration names its frontend
// (database.frontend_id or RFFMPEG_FRONTEND_ID; else this machine). Every
// row a process writes carries it, and every liveness judgement is made
// from it (Policy), so the two must come from here.
func Self(c *config.Config) owner.Identity {
	return owner.SelfAs(c.Database.FrontendID)
}

// Lease is how long another frontend's job counts as alive without a
// heartbeat (database.lease).
func Lease(c *config.Config) time.Duration {
	if c.Database.Lease <= 0 {
		return owner.Lease
	}
	return time.Duration(c.Database.Lease) * time.Second
}

// postgres is the PostgreSQL connection. A key left at its default is left
// to libpq's own settings when they name it: PGHOST, PGPORT, PGDATABASE,
// PGUSER, PGPASSWORD, or a service (PGSERVICE, with its service file), as
// psql and every libpq program read them; sslmode and the certificates come
// from the same place (PGSSLMODE, PGSSLROOTCERT, a service's sslmode=…).
// Without them the original's defaults hold (localhost:5432, database
// rffmpeg).
func postgres(c *config.Config, env func(string) (string, bool)) state.Options {
	libpq := func(key, variable string) bool {
		if c.Sources[key] != config.FromDefault {
			return false // the user set rffmpeg's key: it wins
		}
		for _, v := range []string{variable, "PGSERVICE"} {
			if s, ok := env(v); ok && s != "" {
				return true
			}
		}
		return false
	}
	o := state.Options{Backend: state.PostgreSQL, Host: c.Database.Host, Port: c.Database.Port,
		User: c.Database.User, Password: c.Database.Password, Name: c.Database.Name, Lease: Lease(c)}
	if libpq("database.host", "PGHOST") {
		o.Host = ""
	}
	if libpq("database.port", "PGPORT") {
		o.Port = 0
	}
	if libpq("database.name", "PGDATABASE") {
		o.Name = ""
	}
	if libpq("database.user", "PGUSER") {
		o.User = ""
	}
	if libpq("database.password", "PGPASSWORD") {
		o.Password = "" // and so may a ~/.pgpass (PGPASSFILE) entry
	}
	return o
}
