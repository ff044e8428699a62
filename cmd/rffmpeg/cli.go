package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/shim"
)

// version and commit are set at build time (a build from a git checkout
// names its commit by itself):
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/rffmpeg
var version, commit = "dev", ""

// cli runs the admin CLI (internal/cli) on this process's streams, wiring
// the two things it cannot own: running a job through the shim's flow
// (`rffmpeg run`) and the console (`rffmpeg tui`).
func (a *app) cli(args []string) int {
	return cli.Main(args, cli.Env{
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr,
		StdinTTY: isTerminal(a.stdin), StdoutTTY: isTerminal(a.stdout),
		LookupEnv: a.env, Now: a.now,
		Interrupted: func() (context.Context, context.CancelFunc) {
			return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		},
		Version: version, Commit: commit,
		RunJob: a.runJob,
		TUI:    a.console,
		Serve:  a.serve,
		CheckHelper: func(c *config.Config) (string, bool, error) {
			path, err := shim.Ping(shim.FromConfig(c))
			if errors.Is(err, shim.ErrNoHelper) {
				return path, false, nil
			}
			return path, true, err
		},
	})
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runJob is cli.Env.RunJob: `rffmpeg run`, any command through the
// shim's flow with this process's streams.
func (a *app) runJob(c *config.Config, prog string, args []string, stderrAsStdout bool) int {
	return a.runShim(c, shim.FromConfig(c), shim.CommandJob(append([]string{prog}, args...), stderrAsStdout))
}
