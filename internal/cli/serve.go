package cli

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
)

func serveCommand() command {
	return command{name: "serve", short: "Keep the state database open for this account's ffmpeg calls (optional)",
		long: "The state helper: each ffmpeg call of this account then asks it to select its host and\n" +
			"to record the job's end, instead of opening the database itself (measured: a few tenths\n" +
			"of a millisecond and about 1.7 MiB less per call, and no queue for the writers' lock\n" +
			"in a library scan).\n" +
			"Run it as the account the media server runs as (e.g. sudo -u jellyfin rffmpeg serve,\n" +
			"or a systemd unit with User=jellyfin); it serves until interrupted. Calls work without\n" +
			"it, and on their own whenever it does not answer; restart it after an upgrade or a\n" +
			"configuration change (until then calls work on their own, and the log says why).",
		run: func(x *verb) error { return x.serve() }}
}

func (x *verb) serve() error {
	if x.env.Serve == nil {
		return errors.New("serve is not available in this build")
	}
	uid := x.env.Geteuid()
	if owner := x.cfg.Directories.Owner; uid == 0 && owner != "" && owner != "root" {
		// Root's helper answers root's calls only: each account has its own
		// private socket directory.
		fmt.Fprintf(x.env.Stderr, "rffmpeg: serving root's calls only; the media server's calls need 'sudo -u %s rffmpeg serve'\n", owner)
	}
	ctx, stop := x.env.Interrupted()
	defer stop()
	return x.env.Serve(ctx, x.cfg, func(path string) {
		who := strconv.Itoa(uid)
		if u, err := user.LookupId(who); err == nil {
			who = u.Username
		}
		fmt.Fprintf(x.env.Stderr, "rffmpeg: serving the state database to %s's calls on %s\n", who, path)
	})
}
