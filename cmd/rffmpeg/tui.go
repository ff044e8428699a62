package main

import (
	"context"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/tui"
)

// console is cli.Env.TUI: the live console under configuration c.
func (a *app) console(c *config.Config) error {
	lo := setup.Log(c)
	return tui.Run(tui.Config{
		Open:     func(ctx context.Context) (tui.Ops, error) { return setup.OpenStore(ctx, c) },
		Database: setup.Store(c).Describe(),
		Policy:   func(now time.Time) selector.Policy { return setup.Policy(c, now, owner.Self()) },
		LogPath:  func(now time.Time) string { return logging.Path(lo, now) },
		Now:      time.Now,
	})
}
