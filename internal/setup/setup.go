// Package setup turns the configuration into the typed options each part of
// rffmpeg takes, once, in one place: the state store's connection, the
// logger's destination, the selection policy. The shim, the admin CLI and
// the console all build theirs here, so they never disagree about what the
// configuration means.
package setup

import (
	"context"
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Log is where and how much the configuration says to log.
func Log(c *config.Config) logging.Options {
	return logging.Options{
		ToFile: c.Logging.LogToFile, File: c.Logging.Logfile,
		Dated: c.Logging.DatedLogfiles, DatedDir: c.Logging.DatedLogDir,
		Debug: c.Logging.Debug, OwnerOf: []string{c.DBPath(), c.Directories.State},
	}
}

// Store is which database the configuration names, its job history
// bounded by history.retention_days and history.max_rows (the shim opens
// what this returns, so the bound reaches RecordJob without more wiring).
func Store(c *config.Config) state.Options {
	o := database(c)
	o.History = state.Retention{Days: c.History.RetentionDays, MaxRows: c.History.MaxRows}
	return o
}

// database is the connection part of Store.
func database(c *config.Config) state.Options {
	if c.Database.Type == config.Postgres {
		return postgres(c, os.LookupEnv)
	}
	return state.Options{Backend: state.SQLite, Path: c.DBPath(), Lease: Lease(c)}
}

// OpenStore opens the configured database.
func OpenStore(ctx context.Context, c *config.Config) (*state.Store, error) {
	return state.Open(ctx, Store(c))
}

// Policy is the selection policy as configured, judging rows' writers alive
// or dead from the point of view of self (the calling process; the shim
// reads its identity once per call, not once per attempt).
//
// self is judged as the configured frontend (database.frontend_id), so
// callers that pass owner.Self() agree with the shim, which writes its rows
// under that name (see Self).
func Policy(c *config.Config, now time.Time, self owner.Identity) selector.Policy {
	chk := owner.Checker{Self: self.As(c.Database.FrontendID), Lease: Lease(c), Now: now, Starts: map[int]uint64{}}
	return selector.Policy{
		Now: now, BadTTL: time.Duration(c.Remote.BadMarkTTL) * time.Second,
		Fallback: c.Commands.Fallback, Dead: chk.Dead,
	}
}
