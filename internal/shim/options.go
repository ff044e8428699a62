package shim

import (
	"sync"
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
	LockDir         string // this machine's per-host check locks ("": none)
	// SocketErr is why the private socket directory was refused: calls
	// then run without a master connection and check locks.
	SocketErr error
	// MaxAttempts bounds re-selection after failed hosts (each failure marks
	// a host bad, so the policy reaches the fallback long before).
	MaxAttempts int
	// ReleaseWait bounds the release of a finished job's rows: past it the
	// call exits anyway and the rows are reaped as a dead writer's.
	ReleaseWait time.Duration
	// DBWait bounds how long a job waits for the database (opening it and
	// each selection) before it runs on the fallback (database.wait). A
	// special-flag call waits at most SpecialWait.
	DBWait time.Duration
	// Policy is the selection policy at a time, judging writers' liveness
	// from self's point of view.
	Policy func(now time.Time, self owner.Identity) selector.Policy
	// Rules are the scheduling rules (scheduling.*); RulesErr says why
	// they could not be read (the call then runs without them).
	Rules    selector.Rules
	RulesErr error
	// QueueTimeout bounds a wait for capacity (scheduling.when_full:
	// wait); QueueRetry is how often a waiting call tries again.
	QueueTimeout, QueueRetry time.Duration
	// OnDemand is the scheduling.on_demand hook ("": none), bounded by
	// OnDemandTimeout (see ondemand.go).
	OnDemand        string
	OnDemandTimeout time.Duration
	// Progress: how a remote job's progress is recorded, and stalls
	// (commands.stall_after, commands.stop_stalled).
	Progress ProgressOptions
	// KeeperKey is KeeperKey of the configuration (computed on first use).
	KeeperKey func() string
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
	// sessionMargin: per job already running on the host. One master
	// connection carries all of this machine's sessions to a host through
	// one ssh process here and one sshd process there; with a hundred
	// running (a library scan) a new session opens seconds late, and a
	// healthy host must not be marked bad (and its master ended, which
	// ends the hundred jobs) for being busy.
	sessionMargin = 50 * time.Millisecond
	// maxSessionMargin bounds what busyness adds: a frozen host is still
	// found within seconds.
	maxSessionMargin = 10 * time.Second
)

// StartFor is the start bound of a job on a host already running n jobs.
func (t Timeouts) StartFor(n int) time.Duration {
	return t.Start + min(time.Duration(max(n, 0))*sessionMargin, maxSessionMargin)
}

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

// SpecialWait bounds the database work of a call with a special flag
// (-version, -encoders, …): Jellyfin makes about twenty of them at startup
// with no timeout, and their answer is the same on every host, so past it
// they answer locally. With the job's own start it keeps them within 2 s.
const SpecialWait = 1200 * time.Millisecond

// specialRelease bounds the release of a special-flag call's rows.
const specialRelease = 500 * time.Millisecond

// Stdout routings (commands.stdout_routing).
const (
	RoutingExact    = "exact"
	RoutingOriginal = "original"
)

// FromConfig builds the options of every call from the configuration.
func FromConfig(c *config.Config) Options {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	rules, rerr := setup.Rules(c)
	var pre []string
	for _, w := range c.Commands.Pre {
		if w != "" {
			pre = append(pre, w)
		}
	}
	sshc, sockErr := setup.SSHChecked(c)
	lockDir := sshc.ControlDir
	if c.Remote.Persist == 0 {
		// No sockets wanted, but the check locks still need a private
		// place; without one checks run unserialized.
		lockDir, _ = setup.SocketDir(c.Directories.Persist)
	}
	store := setup.Store(c)
	// Each call's rows self-heal: no sync per call (state.Options.Hot).
	store.Hot = true
	return Options{
		Store:        store,
		SSH:          sshc,
		SocketErr:    sockErr,
		Pre:          pre,
		EnvAllow:     append(append([]string{}, remote.DefaultEnv...), c.Remote.Env...),
		RemoteFFmpeg: c.Commands.FFmpeg, RemoteFFprobe: c.Commands.FFprobe,
		LocalFFmpeg: c.Commands.FallbackFFmpeg, LocalFFprobe: c.Commands.FallbackFFprobe,
		SpecialFlags:    c.SpecialFlags(),
		OriginalRouting: c.Commands.StdoutRouting == RoutingOriginal,
		Fallback:        c.Commands.Fallback,
		CheckInterval:   sec(c.Remote.CheckInterval),
		Timeouts:        DeriveTimeouts(sec(c.Remote.ConnectTimeout), sshc.Shared()),
		LockDir:         lockDir,
		KeeperKey:       sync.OnceValue(func() string { return KeeperKey(c) }),
		MaxAttempts:     16,
		ReleaseWait:     2 * time.Second,
		DBWait:          sec(c.Database.Wait),
		Policy: func(now time.Time, self owner.Identity) selector.Policy {
			return setup.Policy(c, now, self)
		},
		Rules: rules, RulesErr: rerr,
		QueueTimeout: setup.QueueTimeout(c), QueueRetry: 250 * time.Millisecond,
		OnDemand: c.Scheduling.OnDemand, OnDemandTimeout: sec(c.Scheduling.OnDemandTimeout),
		Progress: ProgressOptions{StallAfter: sec(c.Commands.StallAfter), StopStalled: c.Commands.StopStalled},
	}
}

// ToolJob is a call of the ffmpeg or ffprobe shim with its arguments.
func (o Options) ToolJob(tool string, args []string) Job {
	j := Job{As: tool, RemoteProg: o.RemoteFFmpeg, LocalProg: o.LocalFFmpeg, Args: args,
		Label: tool + " " + remote.Join(args), Special: hasAny(args, o.SpecialFlags)}
	if tool == "ffprobe" {
		j.RemoteProg, j.LocalProg = o.RemoteFFprobe, o.LocalFFprobe
	} else if o.OriginalRouting {
		// The original sends ffmpeg's stdout to stderr unless a special
		// flag (-version, -encoders, …) asks for output the caller reads.
		j.StdoutToStderr = !j.Special
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
