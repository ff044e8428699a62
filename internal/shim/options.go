package shim

import (
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Options are everything a call needs from the configuration, typed and
// computed once.
type Options struct {
	Store state.Options // the state database
	// SSH is how every host is reached; the flow fills in Host.
	SSH remote.SSH
	// Pre are words put before the remote program (nice, sudo, …); empty
	// words are dropped (the original's sample config yields [""]).
	Pre []string
	// EnvAllow names the caller's variables carried to the remote job
	// (remote.DefaultEnv and remote.env; a trailing * is a prefix).
	EnvAllow                    []string
	RemoteFFmpeg, RemoteFFprobe string // on the transcode hosts
	LocalFFmpeg, LocalFFprobe   string // here (localhost hosts and the fallback)
	SpecialFlags                []string
	// OriginalRouting sends ffmpeg's stdout to stderr unless a special flag
	// is present, as the original does (commands.stdout_routing: original).
	OriginalRouting bool
	Fallback        bool          // run locally when no host is usable
	CheckInterval   time.Duration // how long a passed check is trusted
	Timeouts        Timeouts
	LockDir         string // this machine's per-host check locks
	// MaxAttempts bounds re-selection after failed hosts (each failure marks
	// a host bad, so the policy reaches the fallback long before).
	MaxAttempts int
	// ReleaseWait bounds the release of a finished job's rows: past it the
	// call exits anyway and the rows are reaped as a dead writer's.
	ReleaseWait time.Duration
	// Policy is the selection policy at a time, judging writers' liveness
	// from self's point of view.
	Policy func(now time.Time, self owner.Identity) selector.Policy
	// ConfigErr is why the configuration could not be loaded: the call then
	// runs the local program with the defaults and says why in the log.
	ConfigErr error
}

// Timeouts are the bounds derived from the connect timeout, by one rule:
// a step that talks to a host may take the connect timeout (which ssh
// itself enforces on connecting and on the banner) plus a fixed margin for
// what the step does once connected.
type Timeouts struct {
	Connect   time.Duration // ssh's ConnectTimeout
	Start     time.Duration // a remote job's start frame must arrive within this
	Check     time.Duration // a health check
	CheckLock time.Duration // waiting for another call's check of the same host
}

// Margins past the connect timeout (see Timeouts).
const (
	// startMargin: a warm master opens a channel and starts the wrapper in
	// milliseconds; the margin is for a loaded machine.
	startMargin = 1500 * time.Millisecond
	// handshakeMargin: without a persistent master every call pays a full
	// TCP and SSH handshake and authentication.
	handshakeMargin = 8 * time.Second
	// checkMargin: authentication and ffmpeg's start on a busy machine.
	checkMargin = 2 * time.Second
	// lockMargin: the other call's check, plus writing its result.
	lockMargin = time.Second
)

// DeriveTimeouts applies the rule to a connect timeout; persistent says
// whether calls share a master connection.
func DeriveTimeouts(connect time.Duration, persistent bool) Timeouts {
	t := Timeouts{Connect: connect, Start: connect + startMargin, Check: connect + checkMargin}
	if !persistent {
		t.Start += handshakeMargin
	}
	t.CheckLock = t.Check + lockMargin
	return t
}

// Stdout routings (commands.stdout_routing).
const (
	RoutingExact    = "exact"
	RoutingOriginal = "original"
)

// FromConfig builds the options of every call from the configuration.
func FromConfig(c *config.Config) Options {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	var pre []string
	for _, w := range c.Commands.Pre {
		if w != "" {
			pre = append(pre, w)
		}
	}
	return Options{
		Store: setup.Store(c),
		SSH: remote.SSH{
			Path: c.Commands.SSH, User: c.Remote.User,
			ConnectTimeout: c.Remote.ConnectTimeout, Persist: c.Remote.Persist, PersistDir: c.Directories.Persist,
			KeepaliveEvery: c.Remote.KeepaliveEvery, KeepaliveCount: c.Remote.KeepaliveCount,
			HostKeys: c.Remote.HostKeys, KnownHosts: c.KnownHostsPath(), Extra: c.Remote.Args,
		},
		Pre:          pre,
		EnvAllow:     append(append([]string{}, remote.DefaultEnv...), c.Remote.Env...),
		RemoteFFmpeg: c.Commands.FFmpeg, RemoteFFprobe: c.Commands.FFprobe,
		LocalFFmpeg: c.Commands.FallbackFFmpeg, LocalFFprobe: c.Commands.FallbackFFprobe,
		SpecialFlags:    c.SpecialFlags(),
		OriginalRouting: c.Commands.StdoutRouting == RoutingOriginal,
		Fallback:        c.Commands.Fallback,
		CheckInterval:   sec(c.Remote.CheckInterval),
		Timeouts:        DeriveTimeouts(sec(c.Remote.ConnectTimeout), c.Remote.Persist > 0),
		LockDir:         c.Directories.Persist,
		MaxAttempts:     16,
		ReleaseWait:     2 * time.Second,
		Policy: func(now time.Time, self owner.Identity) selector.Policy {
			return setup.Policy(c, now, self)
		},
	}
}

// ToolJob is a call of the ffmpeg or ffprobe shim with its arguments.
func (o Options) ToolJob(tool string, args []string) Job {
	j := Job{As: tool, RemoteProg: o.RemoteFFmpeg, LocalProg: o.LocalFFmpeg, Args: args,
		Label: tool + " " + remote.Join(args)}
	if tool == "ffprobe" {
		j.RemoteProg, j.LocalProg = o.RemoteFFprobe, o.LocalFFprobe
	} else if o.OriginalRouting {
		// The original sends ffmpeg's stdout to stderr unless a special
		// flag (-version, -encoders, …) asks for output the caller reads.
		j.StdoutToStderr = !hasAny(args, o.SpecialFlags)
	}
	return j
}

// CommandJob is `rffmpeg run`: any command (argv[0] and its arguments), the
// same program here and on the hosts.
func CommandJob(argv []string, stdoutToStderr bool) Job {
	return Job{As: "rffmpeg run", RemoteProg: argv[0], LocalProg: argv[0], Args: argv[1:],
		StdoutToStderr: stdoutToStderr, Label: remote.Join(argv), LogArgs: argv}
}

// hasAny reports whether any argument is one of flags.
func hasAny(args, flags []string) bool {
	for _, arg := range args {
		for _, f := range flags {
			if arg == f {
				return true
			}
		}
	}
	return false
}
