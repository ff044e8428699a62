package setup

import (
	"fmt"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Rules are the configured scheduling rules (the scheduling section); a
// rule that does not parse is an error naming it.
func Rules(c *config.Config) (selector.Rules, error) {
	r, err := selector.ParseRules(c.Scheduling.WhenFull, c.Scheduling.QueueMax, c.Scheduling.Rules)
	if err != nil {
		return selector.Rules{}, fmt.Errorf("scheduling: %w", err)
	}
	return r, nil
}

// JobPolicy is Policy for one call of tool (the shim's argv[0], or the
// program `rffmpeg run` runs) with args: the scheduling rules, the job's
// class and hardware needs read from its arguments, and this machine (whose
// probed capabilities the local fallback has). waiting is the caller's
// queue row from an earlier Wait (0: none). A broken rule is returned as
// the error with the policy without rules, so the call still runs.
func JobPolicy(c *config.Config, now time.Time, self owner.Identity, tool string, args []string, waiting int64) (selector.Policy, error) {
	p := Policy(c, now, self)
	p.Job = jobclass.Of(tool, args)
	p.Machine = self.Machine
	p.Waiting = waiting
	r, err := Rules(c)
	p.Rules = r
	return p, err
}

// QueueTimeout is how long a call waits in the queue before it gives up
// waiting and is placed as scheduling.when_full: fallback would.
func QueueTimeout(c *config.Config) time.Duration {
	return time.Duration(c.Scheduling.QueueTimeout) * time.Second
}

// Programs are the ffmpeg and ffprobe a remote host runs: its own paths
// (rffmpeg set HOST ffmpeg=… ffprobe=…) or else commands.ffmpeg/ffprobe.
func Programs(c *config.Config, h state.Host) (ffmpeg, ffprobe string) {
	ffmpeg, ffprobe = c.Commands.FFmpeg, c.Commands.FFprobe
	if h.FFmpeg != "" {
		ffmpeg = h.FFmpeg
	}
	if h.FFprobe != "" {
		ffprobe = h.FFprobe
	}
	return ffmpeg, ffprobe
}
