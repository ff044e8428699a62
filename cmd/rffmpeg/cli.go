package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/config"
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
		RunJob: a.runJobAdapter,
		TUI:    a.console,
	})
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runJobAdapter is cli.Env.RunJob over today's cmdRun (shim.go), until the
// shim's flow moves into its own package and exports it.
func (a *app) runJobAdapter(c *config.Config, prog string, args []string, stderrAsStdout bool) int {
	o := map[string]string{}
	if stderrAsStdout {
		o["stderr-as-stdout"] = "true"
	}
	err := cmdRun(a, c, o, append([]string{prog}, args...))
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	if err != nil {
		return cli.ExitError
	}
	return cli.ExitOK
}

// exitCode is how cmdRun (shim.go) returns the job's exit code; the CLI's
// own exit codes live in internal/cli.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }
