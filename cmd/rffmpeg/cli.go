package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// command is one admin verb.
type command struct {
	name, args, short, long string
	opts                    []opt
	stopAtPositional        bool
	minArgs, maxArgs        int // maxArgs < 0: unlimited
	run                     func(a *app, c *config.Config, o map[string]string, args []string) error
}

func commands() []command {
	return []command{
		{name: "init", args: "[--no-root] [-y]", short: "Initialize the state database",
			long: "Creates the state directory and (re)creates the database tables: existing hosts and\n" +
				"state are deleted. Run as root: the directory is given to directories.owner and\n" +
				"directories.group (0770, database 0660). --no-root skips the root check and ownership.",
			opts: []opt{{long: "no-root"}, {short: "y", long: "yes"}}, run: cmdInit},
		{name: "status", args: "[--json]", short: "Show hosts, their state and running processes",
			opts: []opt{{long: "json"}}, run: cmdStatus},
		{name: "add", args: "[-w N] [-n NAME] HOST", short: "Add a transcode host",
			long: "HOST is a hostname or address (localhost or 127.0.0.1 run jobs here, without SSH).\n" +
				"NAME (default: HOST) must be unique; the same HOST may be added under several names.",
			opts:    []opt{{short: "w", long: "weight", value: true}, {short: "n", long: "name", value: true}},
			minArgs: 1, maxArgs: 1, run: cmdAdd},
		{name: "remove", args: "HOST", short: "Remove hosts (by id, else server name, else every host with that hostname)",
			minArgs: 1, maxArgs: 1, run: cmdRemove},
		{name: "weight", args: "HOST N", short: "Change a host's weight, keeping its id",
			minArgs: 2, maxArgs: 2, run: cmdWeight},
		{name: "drain", args: "HOST", short: "Send no new jobs to a host; running jobs finish",
			minArgs: 1, maxArgs: 1, run: cmdDrain(true)},
		{name: "undrain", args: "HOST", short: "Send jobs to a drained host again",
			minArgs: 1, maxArgs: 1, run: cmdDrain(false)},
		{name: "clear", args: "[--bad] [HOST]", short: "Delete process and state rows (all, or one host's)",
			long: "HOST as for remove; \"fallback\" (or 0) names the local fallback's rows.\n" +
				"--bad deletes only bad marks, so the host is tried again at once.",
			opts: []opt{{long: "bad"}}, maxArgs: 1, run: cmdClear},
		{name: "log", args: "[-f]", short: "Show the log in a pager, or follow it (-f)",
			opts: []opt{{short: "f", long: "follow"}}, run: cmdLog},
		{name: "run", args: "[--stderr-as-stdout] CMD [ARGS...]", short: "Run any command on the selected host",
			long: "Selects a host exactly as the ffmpeg shim does and runs CMD there (locally for\n" +
				"localhost and the fallback). --stderr-as-stdout sends the command's stdout to stderr,\n" +
				"as the shim does for ffmpeg (the original's option name).",
			opts: []opt{{long: "stderr-as-stdout"}}, stopAtPositional: true, minArgs: 1, maxArgs: -1, run: cmdRun},
		{name: "tui", args: "", short: "A live console of hosts, processes and the log, with keys to manage them",
			long: "Follows the state and the log as they change. Keys: tab switches panes, a adds a host,\n" +
				"d removes one, +/- and w change its weight, x drains it, b clears its bad mark,\n" +
				"c/C clear rows, / filters processes, ? shows every key, q quits.",
			run: cmdTUI},
		{name: "doctor", args: "[--path DIR[:DIR…]] [--json] [HOST…]", short: "Check the installation, the hosts and the shared paths",
			long: "Run as root: checks run as directories.owner. HOST: server names or host names (default:\n" +
				"every host). --path: directories that must be shared with the hosts. Exit 1 if a check fails.",
			opts: []opt{{long: "path", value: true}, {long: "json"}}, maxArgs: -1, run: cmdDoctor},
		{name: "config", args: "[--json]", short: "Show the effective configuration and where each value came from",
			opts: []opt{{long: "json"}}, run: cmdConfig},
	}
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: rffmpeg COMMAND [ARGS]...")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run ffmpeg and ffprobe on remote transcode hosts. Install ffmpeg and ffprobe")
	fmt.Fprintln(w, "symlinks to this binary and point the media server at the ffmpeg one.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration: /etc/rffmpeg/rffmpeg.yml or $RFFMPEG_CONFIG. 'rffmpeg COMMAND -h' for help.")
}

func (c command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: rffmpeg %s %s\n\n  %s\n", c.name, c.args, c.short)
	if c.long != "" {
		fmt.Fprintf(w, "\n  %s\n", strings.ReplaceAll(c.long, "\n", "\n  "))
	}
}

// Exit codes of the admin CLI.
const (
	exitOK    = 0
	exitError = 1 // the operation failed (unknown host, bad weight, database trouble)
	exitUsage = 2 // the command line was wrong
)

func (a *app) cli(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			a.usage(a.stderr)
			return exitUsage
		}
		a.usage(a.stdout)
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			c := c
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "rffmpeg: no such command %q\n\n", args[0])
		a.usage(a.stderr)
		return exitUsage
	}
	opts, pos, err := parseOpts(args[1:], cmd.opts, cmd.stopAtPositional)
	if errors.Is(err, errHelp) {
		cmd.usage(a.stdout)
		return exitOK
	}
	if err == nil && len(pos) < cmd.minArgs {
		err = usagef("missing argument: %s", cmd.args)
	}
	if err == nil && cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs {
		err = usagef("unexpected argument %q", pos[cmd.maxArgs])
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "rffmpeg %s: %v\n", cmd.name, err)
		cmd.usage(a.stderr)
		return exitUsage
	}
	c, err := a.loadConfig()
	if err != nil {
		fmt.Fprintf(a.stderr, "rffmpeg: %v\n", err)
		return exitError
	}
	if cmd.name != "config" {
		for _, w := range c.Warnings {
			fmt.Fprintf(a.stderr, "rffmpeg: warning: %s\n", w)
		}
	}
	if err := cmd.run(a, c, opts, pos); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(a.stderr, "rffmpeg %s: %v\n", cmd.name, err)
			cmd.usage(a.stderr)
			return exitUsage
		}
		fmt.Fprintf(a.stderr, "rffmpeg: %v\n", err)
		return exitError
	}
	return exitOK
}

// exitCode ends a command with a code and no message (run passes the
// command's own code through).
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

func withStore(c *config.Config, fn func(ctx context.Context, s *state.Store) error) error {
	ctx := context.Background()
	s, err := setup.OpenStore(ctx, c)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func cmdAdd(a *app, c *config.Config, o map[string]string, args []string) error {
	weight := 1
	if w, ok := o["weight"]; ok {
		n, err := strconv.Atoi(w)
		if err != nil {
			return usagef("weight %q is not a whole number", w)
		}
		weight = n
	}
	return withStore(c, func(ctx context.Context, s *state.Store) error {
		h, err := s.AddHost(ctx, args[0], o["name"], weight, a.now())
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Added host '%s' (%s) with id %d and weight %d\n", h.Hostname, h.Servername, h.ID, h.Weight)
		return nil
	})
}

func cmdRemove(a *app, c *config.Config, _ map[string]string, args []string) error {
	return withStore(c, func(ctx context.Context, s *state.Store) error {
		hosts, err := s.RemoveHosts(ctx, args[0])
		if err != nil {
			return err
		}
		for _, h := range hosts {
			fmt.Fprintf(a.stdout, "Removed host '%s' (%s) with id %d\n", h.Hostname, h.Servername, h.ID)
		}
		return nil
	})
}

func cmdWeight(a *app, c *config.Config, _ map[string]string, args []string) error {
	w, err := strconv.Atoi(args[1])
	if err != nil {
		return usagef("weight %q is not a whole number", args[1])
	}
	return withStore(c, func(ctx context.Context, s *state.Store) error {
		hosts, err := s.SetWeight(ctx, args[0], w)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			fmt.Fprintf(a.stdout, "Host '%s' (%s) with id %d now has weight %d\n", h.Hostname, h.Servername, h.ID, h.Weight)
		}
		return nil
	})
}

func cmdDrain(on bool) func(*app, *config.Config, map[string]string, []string) error {
	return func(a *app, c *config.Config, _ map[string]string, args []string) error {
		return withStore(c, func(ctx context.Context, s *state.Store) error {
			hosts, err := s.SetDrain(ctx, args[0], on)
			if err != nil {
				return err
			}
			for _, h := range hosts {
				if on {
					fmt.Fprintf(a.stdout, "Draining host '%s' (%s) with id %d: no new jobs, running ones finish\n", h.Hostname, h.Servername, h.ID)
				} else {
					fmt.Fprintf(a.stdout, "Host '%s' (%s) with id %d takes new jobs again\n", h.Hostname, h.Servername, h.ID)
				}
			}
			return nil
		})
	}
}

func cmdClear(a *app, c *config.Config, o map[string]string, args []string) error {
	ref := ""
	if len(args) == 1 {
		ref = args[0]
	}
	return withStore(c, func(ctx context.Context, s *state.Store) error {
		n, err := s.Clear(ctx, ref, o["bad"] == "true")
		if err != nil {
			return err
		}
		what := "all hosts"
		if ref != "" {
			what = strconv.Quote(ref)
		}
		fmt.Fprintf(a.stdout, "Cleared %d process rows and %d state rows of %s\n", n.Processes, n.States, what)
		return nil
	})
}

func cmdConfig(a *app, c *config.Config, o map[string]string, _ []string) error {
	if o["json"] == "true" {
		out := struct {
			File     string         `json:"file"`
			Settings []config.Entry `json:"settings"`
			Warnings []string       `json:"warnings"`
		}{c.Path, c.Entries(), append([]string{}, c.Warnings...)}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	file := c.Path
	if file == "" {
		file = config.DefaultPath + " (not found: all defaults)"
	}
	fmt.Fprintf(a.stdout, "# configuration file: %s\n", file)
	for _, e := range c.Entries() {
		v, _ := json.Marshal(e.Value)
		fmt.Fprintf(a.stdout, "%-28s %-44s # %s\n", e.Key, v, e.Source)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(a.stdout, "# warning: %s\n", w)
	}
	return nil
}

func cmdInit(a *app, c *config.Config, o map[string]string, _ []string) error {
	root := o["no-root"] != "true"
	if root && os.Geteuid() != 0 {
		return errors.New("init must run as root to set ownership (use sudo), or pass --no-root")
	}
	var uid, gid int
	if root {
		u, err := user.Lookup(c.Directories.Owner)
		if err != nil {
			return fmt.Errorf("directories.owner %q: no such user; set it in the configuration or use --no-root", c.Directories.Owner)
		}
		g, err := user.LookupGroup(c.Directories.Group)
		if err != nil {
			return fmt.Errorf("directories.group %q: no such group; set it in the configuration or use --no-root", c.Directories.Group)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(g.Gid)
	}
	opts := setup.Store(c)
	ctx := context.Background()
	// Say what would be lost before losing it.
	if s, err := state.Open(ctx, opts); err == nil {
		snap, serr := s.Snapshot(ctx)
		s.Close()
		if serr == nil && len(snap.Hosts) > 0 && o["yes"] != "true" {
			if !a.confirm(fmt.Sprintf("%s holds %d hosts; re-initializing deletes them. Continue? [y/N] ", opts.Describe(), len(snap.Hosts))) {
				return errors.New("init cancelled: nothing was changed (pass -y to confirm without a prompt)")
			}
		}
	} else if !errors.Is(err, state.ErrNotInitialized) && o["yes"] != "true" {
		if !a.confirm(fmt.Sprintf("%v\nRe-initialize it anyway? [y/N] ", err)) {
			return errors.New("init cancelled: nothing was changed")
		}
	}
	if opts.Backend == "sqlite" {
		dir := filepath.Dir(opts.Path)
		if err := os.MkdirAll(dir, 0o770); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
	}
	s, err := state.Init(ctx, opts)
	if err != nil {
		return fmt.Errorf("initialize %s: %w", opts.Describe(), err)
	}
	s.Close()
	if opts.Backend == "sqlite" && root {
		dir := filepath.Dir(opts.Path)
		for _, p := range []struct {
			path string
			mode os.FileMode
		}{{dir, 0o770}, {opts.Path, 0o660}, {opts.Path + "-wal", 0o660}, {opts.Path + "-shm", 0o660}} {
			if _, err := os.Stat(p.path); err != nil {
				continue
			}
			if err := os.Chown(p.path, uid, gid); err != nil {
				return fmt.Errorf("chown %s: %w", p.path, err)
			}
			if err := os.Chmod(p.path, p.mode); err != nil {
				return fmt.Errorf("chmod %s: %w", p.path, err)
			}
		}
	}
	fmt.Fprintf(a.stdout, "Initialized %s\n", opts.Describe())
	return nil
}

// confirm asks on the terminal; without one (a script) the answer is no.
func (a *app) confirm(question string) bool {
	if fi, err := a.stdin.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	fmt.Fprint(a.stderr, question)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}

func cmdLog(a *app, c *config.Config, o map[string]string, _ []string) error {
	lo := setup.Log(c)
	if !lo.ToFile {
		return errors.New("logging.log_to_file is false: rffmpeg logs to the caller's stderr, there is no file to show")
	}
	if o["follow"] == "true" {
		return a.follow(lo)
	}
	path := logging.Path(lo, a.now())
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if fi, err := a.stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		pager := os.Getenv("PAGER")
		if pager == "" {
			pager = "less"
		}
		cmd := exec.Command("sh", "-c", pager+` "$1"`, "pager", path)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
		if err := cmd.Run(); err == nil {
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer f.Close()
	_, err = io.Copy(a.stdout, f)
	return err
}

// follow prints lines appended to the log from now on (tail -0 -f), moving to
// the next day's file when dated logs roll over, until interrupted.
func (a *app) follow(lo logging.Options) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	path := logging.Path(lo, a.now())
	var off int64
	if fi, err := os.Stat(path); err == nil {
		off = fi.Size()
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if p := logging.Path(lo, a.now()); p != path {
			path, off = p, 0
		}
		if f, err := os.Open(path); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				off = 0 // truncated or replaced
			}
			f.Seek(off, io.SeekStart)
			n, _ := io.Copy(a.stdout, f)
			off += n
			f.Close()
		}
		select {
		case <-sig:
			return nil
		case <-tick.C:
		}
	}
}

// cmdDoctor runs every check; exit 1 when one fails.
func cmdDoctor(a *app, _ *config.Config, o map[string]string, args []string) error {
	exe, _ := os.Executable()
	opts := doctor.Options{Env: a.env, Hosts: args, Exe: exe}
	if o["path"] != "" {
		opts.Paths = filepath.SplitList(o["path"])
	}
	r := doctor.Run(context.Background(), opts)
	if o["json"] == "true" {
		r.WriteJSON(a.stdout)
	} else {
		r.WriteText(a.stdout)
	}
	if !r.OK() {
		return exitCode(exitError)
	}
	return nil
}
