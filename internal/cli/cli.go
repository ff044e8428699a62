// Package cli is rffmpeg's admin command line (`rffmpeg status`, `add`, …):
// every verb as an options struct, over injectable streams, environment and
// clock, so each one is tested in process. What the CLI cannot own — running
// a job through the shim's flow (`rffmpeg run`) and the console (`rffmpeg
// tui`) — comes in as hooks from cmd/rffmpeg, which wires them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// Env is everything the CLI reads from or writes to the world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTTY and StdoutTTY say whether those streams are terminals: init
	// asks for confirmation only on one, log pages only to one, tui needs one.
	StdinTTY, StdoutTTY bool
	LookupEnv           func(string) (string, bool) // os.LookupEnv in production
	Now                 func() time.Time
	// Interrupted returns a context that ends when the user interrupts
	// (SIGINT, SIGTERM): `log -f` ends there cleanly. Nil: never.
	Interrupted func() (context.Context, context.CancelFunc)
	// Who ran the command, for the audit lines admin actions write to the
	// log. Nil: this process's real user (and SUDO_USER).
	Who func() Who
	// Geteuid is the effective uid (init checks for root). Nil: os.Geteuid.
	Geteuid func() int
	// Version is the release (set with -ldflags -X in cmd/rffmpeg); "" is "dev".
	Version string
	// Commit is the source revision when the build names it (-ldflags -X,
	// for builds outside a git checkout); "" reads the Go toolchain's stamp.
	Commit string
	// RunJob runs prog with args on the host the shim's policy selects
	// (`rffmpeg run`) under configuration c and returns its exit code; with
	// stderrAsStdout the command's stdout goes to stderr.
	RunJob func(c *config.Config, prog string, args []string, stderrAsStdout bool) int
	// TUI runs the console under configuration c until the user quits.
	TUI func(c *config.Config, o TUIOptions) error
	// Serve runs the state helper (`rffmpeg serve`) under configuration c
	// until ctx ends; ready gets its socket's path once it listens.
	Serve func(ctx context.Context, c *config.Config, ready func(path string)) error
	// CheckHelper asks the state helper of configuration c whether it
	// would answer this account's calls: its socket's path, running false
	// when none listens, and why it would not answer.
	CheckHelper func(c *config.Config) (path string, running bool, err error)
}

// Exit codes of the admin CLI.
const (
	ExitOK    = 0
	ExitError = 1 // the operation failed (unknown host, bad weight, database trouble)
	ExitUsage = 2 // the command line was wrong
)

// UsageError is a mistake in the command line: one line and a hint, exit 2.
type UsageError struct {
	Cmd string // the verb, "" for rffmpeg itself
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ExitCode ends a command with a code and no message of its own (run
// passes the command's code through; the command spoke for itself).
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// errHelp asks for a command's help on stdout.
var errHelp = errors.New("help requested")

// Main runs the admin CLI on args (the arguments after the program name)
// and returns the exit code.
func Main(args []string, env Env) int {
	env = env.withDefaults()
	return report(env.Stderr, run(args, env))
}

// report prints err the one way each kind is printed and maps it to the
// exit code, once for every verb.
func report(stderr io.Writer, err error) int {
	var ue *UsageError
	var ee ExitCode
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return int(ee)
	case errors.As(err, &ue):
		prefix, help := "rffmpeg", "rffmpeg --help"
		if ue.Cmd != "" {
			prefix, help = "rffmpeg "+ue.Cmd, "rffmpeg "+ue.Cmd+" -h"
		}
		fmt.Fprintf(stderr, "%s: %s\nTry '%s'.\n", prefix, ue.Msg, help)
		return ExitUsage
	}
	// One line whatever the error carries (a host name, a remote's words).
	fmt.Fprintf(stderr, "rffmpeg: %s\n", escape.Line(err.Error()))
	return ExitError
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = eofReader{}
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.LookupEnv == nil {
		e.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Interrupted == nil {
		e.Interrupted = func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
	}
	if e.Who == nil {
		e.Who = func() Who { return WhoAmI(e.LookupEnv) }
	}
	if e.Geteuid == nil {
		e.Geteuid = os.Geteuid
	}
	if e.Version == "" {
		e.Version = "dev"
	}
	return e
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// run finds the verb, parses its options and runs it.
func run(args []string, env Env) error {
	if len(args) == 0 {
		writeUsage(env.Stderr)
		return ExitCode(ExitUsage)
	}
	switch args[0] {
	case "-h", "--help", "help":
		writeUsage(env.Stdout)
		return nil
	case "--version", "-V":
		args = append([]string{"version"}, args[1:]...)
	}
	cmds := commands()
	cmd := find(cmds, args[0])
	if cmd == nil {
		return usagef("no such command %q", args[0])
	}
	pos, err := parse(args[1:], cmd.flags, cmd.stopAtPositional)
	if errors.Is(err, errHelp) {
		cmd.writeHelp(env.Stdout)
		return nil
	}
	if err == nil {
		err = cmd.checkArgs(pos)
	}
	if err == nil && cmd.bind != nil {
		err = cmd.bind(pos)
	}
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			ue.Cmd = cmd.name
		}
		return err
	}
	x := &verb{env: env, name: cmd.name, ctx: context.Background()}
	if !cmd.noConfig {
		if x.cfg, err = config.Load(env.LookupEnv); err != nil {
			return err
		}
		if cmd.name != "config" {
			for _, w := range x.cfg.Warnings {
				fmt.Fprintf(env.Stderr, "rffmpeg: warning: %s\n", w)
			}
		}
	}
	return cmd.run(x)
}

func find(cmds []command, name string) *command {
	for i := range cmds {
		if cmds[i].name == name {
			return &cmds[i]
		}
	}
	return nil
}

// verb is one running command: its environment, configuration and name.
type verb struct {
	env  Env
	cfg  *config.Config
	name string
	ctx  context.Context
}
