package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/tui"
)

// console is cli.Env.TUI: the live console under configuration c.
func (a *app) console(c *config.Config, o cli.TUIOptions) error {
	lo := setup.Log(c)
	exe, _ := os.Executable()
	return tui.Run(tui.Config{
		ReadOnly:   o.ReadOnly,
		StallAfter: time.Duration(c.Commands.StallAfter) * time.Second,
		// The same checks as `rffmpeg doctor HOST`, which loads the
		// configuration itself (a broken one is its first failed check).
		Doctor: func(ctx context.Context, hosts []string) doctor.Report {
			return doctor.Run(ctx, doctor.Options{Env: a.env, Hosts: hosts, Exe: exe})
		},
		Kill: func(ctx context.Context, pid int, jobID int64) (string, error) {
			return killJob(ctx, c, pid, jobID)
		},
		Open:     func(ctx context.Context) (tui.Ops, error) { return setup.OpenStore(ctx, c) },
		Database: setup.Store(c).Describe(),
		Policy:   func(now time.Time) selector.Policy { return setup.Policy(c, now, owner.Self()) },
		LogPath:  func(now time.Time) string { return logging.Path(lo, now) },
		Now:      time.Now,

		// The add form checks a host and probes it as `rffmpeg add` does.
		CheckHost:    func(ctx context.Context, h state.Host) (string, error) { return setup.HostVersion(ctx, c, h) },
		CheckTimeout: setup.CheckTimeout(c),
		ProbeHost:    func(ctx context.Context, h state.Host) ([]string, error) { return setup.ProbeHost(ctx, c, h) },
	})
}

// killJob is the console's kill key: `rffmpeg kill --id` of the job.
func killJob(ctx context.Context, c *config.Config, pid int, jobID int64) (string, error) {
	s, err := setup.OpenStore(ctx, c)
	if err != nil {
		return "", err
	}
	defer s.Close()
	res, err := cli.KillJob(ctx, s, cli.KillRequest{PID: pid, JobID: jobID, By: cli.WhoAmI(os.LookupEnv).Killer(), Now: time.Now(),
		Self: setup.Self(c), Lease: setup.Lease(c)})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("killed PID %d on %s (%s)", res.PID, res.Servername, res.Signal), nil
}
