package setup

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// ProbeTimeout bounds a whole capability probe (ten ffmpeg runs, each
// device try bounded to 10 s on the host by timeout(1)).
const ProbeTimeout = 90 * time.Second

// pre is commands.pre without empty words (the original's sample has
// pre: [""]).
func pre(c *config.Config) []string {
	var out []string
	for _, w := range c.Commands.Pre {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// ProbeArgv is the ssh command that probes what remote host h can do, in
// one round trip (see jobclass.ProbeScript): its output goes to
// jobclass.ParseProbeScript, then jobclass.Capabilities, then
// state.Store.SetCapabilities. The host's own ffmpeg path counts.
func ProbeArgv(c *config.Config, h state.Host) []string {
	ffmpeg, _ := Programs(c, h)
	return SSH(c, h.Hostname).Argv(jobclass.ProbeScript(append(pre(c), ffmpeg)), remote.Quiet(true))
}

// ProbeLocal probes this machine (the local fallback's ffmpeg, as the
// fallback and localhost hosts run it) and returns its capability tokens,
// for state.Store.SetMachineCapabilities.
func ProbeLocal(ctx context.Context, c *config.Config) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	script := jobclass.ProbeScript(append(pre(c), c.Commands.FallbackFFmpeg))
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", script).Output()
	if err != nil {
		return nil, fmt.Errorf("probe this machine's %s: %w", c.Commands.FallbackFFmpeg, err)
	}
	p := jobclass.ParseProbeScript(string(out))
	if p.Encoders == "" && p.Filters == "" {
		return nil, fmt.Errorf("probe this machine's %s: it listed no encoders or filters (not an ffmpeg?)", c.Commands.FallbackFFmpeg)
	}
	return jobclass.Capabilities(p), nil
}
