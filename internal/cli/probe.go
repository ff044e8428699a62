package cli

import (
	"fmt"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// reachNew checks a host before it is added, as the shim will reach it:
// ssh with its own port and user, and its ffmpeg -version. A host that
// does not answer is refused with the reason (the issue of most support
// threads is a host added wrong and found out at the first transcode);
// --no-check adds it anyway, for a host not set up yet or asleep. A
// localhost host needs no ssh: its check is the probe after the add.
// Values the store would refuse are refused first, without the wait.
// It returns the version line to print once the host is in.
func (x *verb) reachNew(s *state.Store, o AddOptions) (string, error) {
	if o.NoCheck {
		return "", nil
	}
	if err := s.CheckAdd(x.ctx, o.Hostname, o.Name, o.Weight, o.Props); err != nil {
		return "", err
	}
	h := candidate(o)
	if h.IsLocal() {
		return "", nil
	}
	version, err := setup.HostVersion(x.ctx, x.cfg, h)
	if err != nil {
		return "", fmt.Errorf("host '%s': %s; not added (see 'rffmpeg doctor %s', or add it anyway with --no-check)",
			escape.Line(h.Hostname), escape.Line(err.Error()), escape.Line(h.Hostname))
	}
	return version, nil
}

// candidate is the host o would add, as far as reaching it goes.
func candidate(o AddOptions) state.Host {
	h := state.Host{Hostname: o.Hostname, Servername: o.Name, Weight: o.Weight}
	p := o.Props
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&h.FFmpeg, p.FFmpeg}, {&h.FFprobe, p.FFprobe}, {&h.SSHUser, p.SSHUser}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if p.SSHPort != nil {
		h.SSHPort = *p.SSHPort
	}
	return h
}

// probeNew reports the check of a host just added and probes its
// capabilities, stored on the host (for a localhost host, this machine's,
// stored per machine). A failed probe does not undo the add: the host
// answered, and jobs are routed to it as if it could do anything.
func (x *verb) probeNew(s *state.Store, h state.Host, version string) {
	if h.IsLocal() {
		x.probeMachine(s)
		return
	}
	label := fmt.Sprintf("host '%s' (%s)", escape.Line(h.Hostname), escape.Line(h.Servername))
	fmt.Fprintf(x.env.Stdout, "Checked %s: %s\n", label, escape.Line(version))
	caps, err := setup.ProbeHost(x.ctx, x.cfg, h)
	if err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s: capability probe failed: %s; jobs are routed to it as if it could do anything\n",
			label, escape.Line(err.Error()))
		return
	}
	if _, err := s.SetCapabilities(x.ctx, h.Key(), caps, x.env.Now()); err != nil {
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s\n", escape.Line(err.Error()))
		return
	}
	fmt.Fprintf(x.env.Stdout, "Capabilities of %s: %s\n", label, escape.Line(jobclass.DescribeCaps(caps)))
	x.audit("probed %s: %s", label, jobclass.DescribeCaps(caps))
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
		fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: %s\n", escape.Line(err.Error()))
		return
	}
	fmt.Fprintf(x.env.Stdout, "Capabilities of this machine (%s, the fallback and localhost hosts): %s\n", escape.Line(machine), escape.Line(jobclass.DescribeCaps(caps)))
}
