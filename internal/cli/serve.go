package cli

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// ServeOptions are `rffmpeg serve [--check]`.
type ServeOptions struct {
	Check bool // ask a running helper instead of being one
}

// ExitNoHelper is `serve --check`'s exit code when no helper runs.
const ExitNoHelper = doctor.HelperNotRunning

func serveCommand() command {
	var o ServeOptions
	return command{name: "serve", args: "[--check]", short: "Keep the state database open for this account's ffmpeg calls (optional)",
		long: "The state helper: each ffmpeg call of this account then asks it to select its host and\n" +
			"to record the job's end, instead of opening the database itself (measured: a few tenths\n" +
			"of a millisecond and about 1.7 MiB less per call, and no queue for the writers' lock\n" +
			"in a library scan).\n" +
			"Run it as the account the media server runs as (e.g. sudo -u jellyfin rffmpeg serve,\n" +
			"or a systemd unit with User=jellyfin); it serves until interrupted. Calls work without\n" +
			"it, and on their own whenever it does not answer; restart it after an upgrade or a\n" +
			"configuration change (until then calls work on their own, and the log says why).\n" +
			"--check asks the running helper instead: exit 0 when it serves this account's calls,\n" +
			"3 when none runs, 1 when one runs but would not answer them (and says why).",
		flags: []flag{boolFlag("", "check", &o.Check, "ask the running helper whether it serves this account's calls")},
		run:   func(x *verb) error { return x.serve(o) }}
}

func (x *verb) serve(o ServeOptions) error {
	if o.Check {
		return x.checkHelper()
	}
	if x.env.Serve == nil {
		return errors.New("serve is not available in this build")
	}
	uid := x.env.Geteuid()
	if owner := x.cfg.Directories.Owner; uid == 0 && owner != "" && owner != "root" {
		// Root's helper answers root's calls only: each account has its own
		// private socket directory.
		fmt.Fprintf(x.env.Stderr, "rffmpeg: serving root's calls only; the media server's calls need 'sudo -u %s rffmpeg serve'\n", escape.Line(owner))
	}
	ctx, stop := x.env.Interrupted()
	defer stop()
	return x.env.Serve(ctx, x.cfg, func(path string) {
		who := strconv.Itoa(uid)
		if u, err := user.LookupId(who); err == nil {
			who = u.Username
		}
		fmt.Fprintf(x.env.Stderr, "rffmpeg: serving the state database to %s's calls on %s\n", escape.Line(who), escape.Line(path))
	})
}

// checkHelper is `serve --check`.
func (x *verb) checkHelper() error {
	if x.env.CheckHelper == nil {
		return errors.New("serve --check is not available in this build")
	}
	path, running, err := x.env.CheckHelper(x.cfg)
	switch {
	case !running:
		fmt.Fprintln(x.env.Stdout, "state helper: not running for this account (optional: rffmpeg serve)")
		return ExitCode(ExitNoHelper)
	case err != nil:
		fmt.Fprintf(x.env.Stdout, "state helper on %s: does not serve this account's calls: %s\n", escape.Line(path), escape.Line(err.Error()))
		return ExitCode(ExitError)
	}
	fmt.Fprintf(x.env.Stdout, "state helper: serving this account's calls on %s\n", escape.Line(path))
	return nil
}
