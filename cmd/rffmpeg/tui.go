package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/tui"
)

func cmdTUI(a *app, c *config.Config, _ map[string]string, _ []string) error {
	if fi, err := a.stdout.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return errors.New("tui needs a terminal; use 'rffmpeg status' (or --json) in scripts")
	}
	lo := setup.Log(c)
	return tui.Run(tui.Config{
		Open:     func(ctx context.Context) (tui.Ops, error) { return setup.OpenStore(ctx, c) },
		Database: setup.Store(c).Describe(),
		Policy:   func(now time.Time) selector.Policy { return setup.Policy(c, now, owner.Self()) },
		LogPath:  func(now time.Time) string { return logging.Path(lo, now) },
		Now:      time.Now,
	})
}
