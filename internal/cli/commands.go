package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// command is one admin verb: its help, its flags (bound to its options
// struct), how its positional arguments fill that struct, and what it does.
type command struct {
	name, args, short, long string
	flags                   []flag
	stopAtPositional        bool
	argNames                []string // required positional arguments, for "missing argument HOST"
	maxArgs                 int      // < 0: unlimited
	noConfig                bool     // runs without reading the configuration (version)
	bind                    func(pos []string) error
	run                     func(x *verb) error
}

// Options of each verb.
type (
	InitOptions struct {
		NoRoot, Yes bool
	}
	StatusOptions struct {
		JSON bool
	}
	AddOptions struct {
		Hostname, Name string
		Weight         int
		Props          state.HostProps // --max-jobs, --tag, --priority
		NoCheck        bool            // --no-check: do not reach the host (ssh, ffmpeg -version, capability probe)
	}
	// HostOptions name hosts: an id, else a server name, else every host
	// with that hostname (remove, drain, undrain).
	HostOptions struct {
		Ref string
	}
	WeightOptions struct {
		Ref    string
		Weight int
	}
	ClearOptions struct {
		Ref     string // "": every host's rows
		OnlyBad bool
	}
	LogOptions struct {
		Follow bool
	}
	RunOptions struct {
		Prog           string
		Args           []string
		StderrAsStdout bool
	}
	ConfigOptions struct {
		JSON bool
	}
	VersionOptions struct {
		JSON bool
	}
)

func one(p *string) func([]string) error {
	return func(pos []string) error {
		if len(pos) > 0 {
			*p = pos[0]
		}
		return nil
	}
}

// commands builds the verbs, each with a fresh options struct, in the
// order help lists them.
func commands() []command {
	cmds := stateCommands()
	cmds = append(cmds, hostCommands()...)
	cmds = append(cmds, setCommand())
	return append(cmds, toolCommands()...)
}

// stateCommands create and show the state.
func stateCommands() []command {
	var (
		ini InitOptions
		st  StatusOptions
	)
	return []command{
		{name: "init", args: "[--no-root] [-y]", short: "Initialize the state database",
			long: "Creates the state directory and (re)creates the database tables: existing hosts and\n" +
				"state are deleted. Run as root: the directory is given to directories.owner and\n" +
				"directories.group (0770, database 0660). --no-root skips the root check and ownership.",
			flags: []flag{
				boolFlag("", "no-root", &ini.NoRoot, "do not require root and do not change ownership"),
				boolFlag("y", "yes", &ini.Yes, "do not ask before deleting existing hosts (default: ask on a terminal, refuse elsewhere)"),
			},
			run: func(x *verb) error { return x.init(ini) }},
		{name: "status", args: "[--json]", short: "Show hosts, their state and running processes",
			flags: []flag{boolFlag("", "json", &st.JSON, "print a JSON document (schema 1) instead of the table")},
			run:   func(x *verb) error { return x.status(st) }},
		killCommand(),
		historyCommand(),
		metricsCommand(),
		serveCommand(),
	}
}

// hostCommands change the hosts and their rows.
func hostCommands() []command {
	var (
		add AddOptions
		rm  HostOptions
		wt  WeightOptions
		dr  HostOptions
		und HostOptions
		clr ClearOptions
	)
	return []command{
		{name: "add", args: "[-w N] [-n NAME] [-u USER] [-p PORT] [--max-jobs N] [--priority N] [--tag TAG]... [--no-check] [USER@]HOST[:PORT]", short: "Add a transcode host",
			long: "HOST is a hostname or address (localhost or 127.0.0.1 run jobs here, without SSH); an IPv6\n" +
				"address with a port is written [ADDR]:PORT. USER and PORT are this host's own (stored beside it;\n" +
				"the original's table keeps the plain HOST). NAME (default: HOST) must be unique; the same HOST may\n" +
				"be added under several names.\n" +
				"The new host is checked (ssh, ffmpeg -version) and its capabilities probed (hardware that\n" +
				"initialises, encoders that open); a host that does not answer is refused with the reason, unless\n" +
				"--no-check (a host not set up yet, or asleep until Wake-on-LAN).",
			flags: []flag{
				intFlag("w", "weight", "N", &add.Weight, 1, "weight", "the host's weight: it takes N times the jobs of a weight-1 host"),
				stringFlag("n", "name", "NAME", &add.Name, "HOST", "the server name, unique among hosts"),
				{short: "u", long: "user", value: "USER", help: "the host's ssh user (default: remote.user)", set: propFlag(&add.Props, "user")},
				{short: "p", long: "port", value: "PORT", help: "the host's ssh port (default: remote.args or 22)", set: propFlag(&add.Props, "port")},
				{long: "max-jobs", value: "N", help: "jobs at once on the host (default 0: no limit)", set: propFlag(&add.Props, "max_jobs")},
				{long: "priority", value: "N", help: "tier: lower is tried first (default 0)", set: propFlag(&add.Props, "priority")},
				{long: "tag", value: "TAG", help: "a tag (repeat for several)", set: propFlag(&add.Props, "tags", "+")},
				boolFlag("", "no-check", &add.NoCheck, "add it without reaching it (no ssh check, no capability probe)"),
			},
			argNames: []string{"HOST"}, maxArgs: 1, bind: one(&add.Hostname),
			run: func(x *verb) error { return x.add(add) }},
		{name: "remove", args: "HOST", short: "Remove hosts (by id, else server name, else every host with that hostname)",
			long:     "Running jobs on the host keep running; remove warns and lists them.",
			argNames: []string{"HOST"}, maxArgs: 1, bind: one(&rm.Ref),
			run: func(x *verb) error { return x.remove(rm) }},
		{name: "weight", args: "HOST N", short: "Change a host's weight, keeping its id",
			argNames: []string{"HOST", "N"}, maxArgs: 2,
			bind: func(pos []string) error {
				wt.Ref = pos[0]
				n, err := strconv.Atoi(pos[1])
				if err != nil {
					return usagef("weight %q is not a whole number", pos[1])
				}
				wt.Weight = n
				return nil
			},
			run: func(x *verb) error { return x.weight(wt) }},
		{name: "drain", args: "HOST", short: "Send no new jobs to a host; running jobs finish",
			argNames: []string{"HOST"}, maxArgs: 1, bind: one(&dr.Ref),
			run: func(x *verb) error { return x.drain(dr, true) }},
		{name: "undrain", args: "HOST", short: "Send jobs to a drained host again",
			argNames: []string{"HOST"}, maxArgs: 1, bind: one(&und.Ref),
			run: func(x *verb) error { return x.drain(und, false) }},
		{name: "clear", args: "[--bad] [HOST]", short: "Delete process and state rows (all, or one host's)",
			long: "HOST as for remove; \"fallback\" (or 0) names the local fallback's rows.\n" +
				"--bad deletes only bad marks, so the host is tried again at once.",
			flags:   []flag{boolFlag("", "bad", &clr.OnlyBad, "delete only bad marks (default: process and state rows)")},
			maxArgs: 1, bind: one(&clr.Ref),
			run: func(x *verb) error { return x.clear(clr) }},
	}
}

// toolCommands are the rest: the log, run, the console, the configuration
// and the version.
func toolCommands() []command {
	var (
		lg   LogOptions
		rn   RunOptions
		cf   ConfigOptions
		vers VersionOptions
		doc  DoctorOptions
		tu   TUIOptions
	)
	return []command{
		{name: "log", args: "[-f]", short: "Show the log in a pager, or follow it (-f)",
			long:  "Control characters in the log are shown escaped (\\x1b, \\r), never sent to the terminal.",
			flags: []flag{boolFlag("f", "follow", &lg.Follow, "print lines as they are written, like tail -f, until interrupted")},
			run:   func(x *verb) error { return x.log(lg) }},
		{name: "run", args: "[--stderr-as-stdout] CMD [ARGS...]", short: "Run any command on the selected host",
			long: "Selects a host exactly as the ffmpeg shim does and runs CMD there (locally for\n" +
				"localhost and the fallback). --stderr-as-stdout sends the command's stdout to stderr,\n" +
				"as the shim does for ffmpeg (the original's option name).",
			flags:            []flag{boolFlag("", "stderr-as-stdout", &rn.StderrAsStdout, "send the command's stdout to stderr")},
			stopAtPositional: true, argNames: []string{"CMD"}, maxArgs: -1,
			bind: func(pos []string) error { rn.Prog, rn.Args = pos[0], pos[1:]; return nil },
			run:  func(x *verb) error { return x.run(rn) }},
		{name: "tui", args: "[--readonly]", short: "A live console of hosts, processes and the log, with keys to manage them",
			long: "Follows the state and the log as they change. Keys: tab switches panes, a adds a host,\n" +
				"d removes one, +/- and w change its weight, m its max jobs, t its tags, x drains it,\n" +
				"b clears its bad mark, c/C clear rows, enter shows a host in detail, h the job history,\n" +
				"D runs the doctor, / filters processes, ? shows every key, q quits.",
			flags: []flag{boolFlag("", "readonly", &tu.ReadOnly, "a shared screen: every key that writes is off")},
			run:   func(x *verb) error { return x.tui(tu) }},
		{name: "config", args: "[--json]", short: "Show the effective configuration and where each value came from",
			flags: []flag{boolFlag("", "json", &cf.JSON, "print a JSON document instead of the table")},
			run:   func(x *verb) error { return x.config(cf) }},
		{name: "doctor", args: "[--path DIR]... [--json] [HOST...]", short: "Check the setup: state, Jellyfin's ffmpeg, hosts and shared paths",
			long: "Run as root: the checks run as directories.owner. HOST: server names or host names\n" +
				"(default: every host in the state). Exit 1 when a check fails.",
			flags: []flag{{long: "path", value: "DIR", help: "a directory that must be shared with the hosts (repeat for several)",
				set: func(s string) error { doc.Paths = append(doc.Paths, s); return nil }},
				boolFlag("", "json", &doc.JSON, "print a JSON document (schema 1) instead of the text")},
			maxArgs: -1, noConfig: true, bind: func(pos []string) error { doc.Hosts = pos; return nil },
			run: func(x *verb) error { return x.doctor(doc) }},
		{name: "version", args: "[--json]", short: "Show the version, commit, Go and SQLite versions",
			flags:    []flag{boolFlag("", "json", &vers.JSON, "print a JSON document")},
			noConfig: true, run: func(x *verb) error { return x.version(vers) }},
	}
}

// checkArgs counts the positional arguments.
func (c command) checkArgs(pos []string) error {
	if len(pos) < len(c.argNames) {
		return usagef("missing argument %s", strings.Join(c.argNames[len(pos):], " "))
	}
	if c.maxArgs >= 0 && len(pos) > c.maxArgs {
		return usagef("unexpected argument %q", pos[c.maxArgs])
	}
	return nil
}

func writeUsage(w io.Writer) {
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
	fmt.Fprintln(w, "Options:")
	fmt.Fprintln(w, "  -h, --help     show this help and exit")
	fmt.Fprintln(w, "  -V, --version  show the version and exit")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration: /etc/rffmpeg/rffmpeg.yml or $RFFMPEG_CONFIG. 'rffmpeg COMMAND -h' for help.")
}

func (c command) writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: rffmpeg %s\n\n  %s\n", strings.TrimSpace(c.name+" "+c.args), c.short)
	if c.long != "" {
		fmt.Fprintf(w, "\n  %s\n", strings.ReplaceAll(c.long, "\n", "\n  "))
	}
	writeFlags(w, c.flags)
}
