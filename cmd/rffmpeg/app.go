package main

import (
	"context"
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// app carries what every mode needs: streams, environment and clock.
type app struct {
	stdin, stdout, stderr *os.File
	env                   config.Env
	now                   func() time.Time
}

func newApp() *app {
	return &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, env: os.LookupEnv, now: time.Now}
}

func (a *app) loadConfig() (*config.Config, error) { return config.Load(a.env) }

// logOptions is where and how much the configuration says to log.
func logOptions(c *config.Config) logging.Options {
	return logging.Options{
		ToFile: c.Logging.LogToFile, File: c.Logging.Logfile,
		Dated: c.Logging.DatedLogfiles, DatedDir: c.Logging.DatedLogDir,
		Debug: c.Logging.Debug,
	}
}

func (a *app) logger(c *config.Config) *logging.Logger {
	o := logOptions(c)
	o.Stderr, o.Now = a.stderr, a.now
	return logging.New(o)
}

func storeOptions(c *config.Config) state.Options {
	if c.Database.Type == config.Postgres {
		return state.Options{Backend: "postgresql", Host: c.Database.Host, Port: c.Database.Port,
			User: c.Database.User, Password: c.Database.Password, Name: c.Database.Name}
	}
	return state.Options{Backend: "sqlite", Path: c.DBPath()}
}

func openStore(ctx context.Context, c *config.Config) (*state.Store, error) {
	return state.Open(ctx, storeOptions(c))
}

// policy is the selection policy as configured, judging rows' writers alive
// or dead from this process's point of view.
func policy(c *config.Config, now time.Time) selector.Policy {
	return policyFor(c, now, owner.Self())
}

// policyFor is policy with this process's identity already known (the shim
// reads it once per call, not once per attempt).
func policyFor(c *config.Config, now time.Time, self owner.Identity) selector.Policy {
	chk := owner.Checker{Self: self, Lease: owner.Lease, Now: now}
	return selector.Policy{
		Now: now, BadTTL: time.Duration(c.Remote.BadMarkTTL) * time.Second,
		Fallback: c.Commands.Fallback, Dead: chk.Dead,
	}
}

// sshFor is how to reach a host under this configuration.
func sshFor(c *config.Config, hostname string) remote.SSH {
	return remote.SSH{
		Path: c.Commands.SSH, User: c.Remote.User, Host: hostname,
		ConnectTimeout: c.Remote.ConnectTimeout, Persist: c.Remote.Persist, PersistDir: c.Directories.Persist,
		KeepaliveEvery: c.Remote.KeepaliveEvery, KeepaliveCount: c.Remote.KeepaliveCount,
		HostKeys: c.Remote.HostKeys, KnownHosts: c.KnownHostsPath(), Extra: c.Remote.Args,
	}
}
