package main

import (
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
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
