package cli

import (
	"fmt"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// checkNew reaches a host just added, as the shim will: ssh and its ffmpeg
// -version, then the capability probe, stored on the host (for a localhost
// host, this machine's, stored per machine). Nothing here fails the
// add: a host that is down or not set up yet is added with a warning, and
// the shim checks it again before its first job.
func (x *verb) checkNew(s *state.Store, h state.Host) {
	if h.IsLocal() {
		x.probeMachine(s)
		return
	}
	label := fmt.Sprintf("host '%s' (%s)", escape.Line(h.Hostname), escape.Line(h.Servername))
	version, err := setup.HostVersion(x.ctx, x.cfg, h)
	if err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s: %s; added anyway (jobs skip it while it fails)\n", label, escape.Line(err.Error()))
		return
	}
	fmt.Fprintf(x.env.Stdout, "Checked %s: %s\n", label, escape.Line(version))
	caps, err := setup.ProbeHost(x.ctx, x.cfg, h)
	if err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s: capability probe failed: %s; jobs are routed to it as if it could do anything\n",
			label, escape.Line(err.Error()))
		return
	}
	if _, err := s.SetCapabilities(x.ctx, h.Key(), caps, x.env.Now()); err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %v\n", err)
		return
	}
	fmt.Fprintf(x.env.Stdout, "Capabilities of %s: %s\n", label, escape.Line(describeCaps(caps)))
	x.audit("probed %s: %s", label, describeCaps(caps))
}

// probeMachine probes this machine's fallback ffmpeg (a localhost host
// runs it) and says what it found. (The shim probes it too, when a job
// first needs to know.)
func (x *verb) probeMachine(s *state.Store) {
	machine := owner.Machine()
	caps, err := setup.ProbeLocal(x.ctx, x.cfg)
	if err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s\n", escape.Line(err.Error()))
		return
	}
	if err := s.SetMachineCapabilities(x.ctx, machine, caps, x.env.Now()); err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %v\n", err)
		return
	}
	fmt.Fprintf(x.env.Stdout, "Capabilities of this machine (%s, the fallback and localhost hosts): %s\n", escape.Line(machine), escape.Line(describeCaps(caps)))
}

// describeCaps lists capability tokens for a person.
func describeCaps(caps []string) string {
	if len(caps) == 0 {
		return "no hardware, no external encoders"
	}
	return strings.Join(caps, ", ")
}
