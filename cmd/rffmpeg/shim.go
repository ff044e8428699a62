package main

import (
	"context"
	"path/filepath"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/shim"
)

// shim is the ffmpeg/ffprobe face: behave exactly like the real tool.
func (a *app) shim(tool string, argv []string) int {
	c, cerr := a.loadConfig()
	if cerr != nil {
		// A broken configuration must not stop playback: run the local tool
		// with the default paths, and say why where someone will look.
		c, _ = config.Parse(nil, func(string) (string, bool) { return "", false })
	}
	o := shim.FromConfig(c)
	o.ConfigErr = cerr
	j := o.ToolJob(tool, argv[1:])
	j.As = filepath.Base(argv[0])
	return a.runShim(c, o, j)
}

// serve is cli.Env.Serve: the state helper, logging where the calls log.
func (a *app) serve(ctx context.Context, c *config.Config, ready func(string)) error {
	log := a.logger(c)
	defer log.Close()
	return shim.Serve(ctx, shim.FromConfig(c), log, ready)
}

// runShim runs a job through the shim's flow with this process's streams.
func (a *app) runShim(c *config.Config, o shim.Options, j shim.Job) int {
	log := a.logger(c)
	defer log.Close()
	env := shim.NewEnv(log, a.now, setup.Self(c)) // its rows name the configured frontend
	return shim.Run(context.Background(), o, env, j, shim.Streams{Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr})
}
