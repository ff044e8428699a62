package main

import (
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/setup"
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

func (a *app) logger(c *config.Config) *logging.Logger {
	o := setup.Log(c)
	o.Stderr, o.Now = a.stderr, a.now
	return logging.New(o)
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
