package shim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Capability probes (issue 13 §1). What a host's ffmpeg can do is probed
// (setup.Probe: devices that initialise, encoders that open) and stored on
// the host; this machine's, for the fallback and localhost hosts, per
// machine. A probe costs a second or two, so it is kept off a call's path:
//
//   - `rffmpeg add` probes a new host (and this machine) up front;
//   - capabilities older than setup.ProbeMaxAge are refreshed beside a long
//     job (a transcode or trickplay), which the call does not wait for; a
//     claim in the database makes it one refresh for every frontend;
//   - only when a host (or this machine) was never probed and the job needs
//     something of it does the call wait for the probe, bounded by
//     SyncProbeLimit: routing it blind could send a hardware job to a host
//     without the hardware.
//
// A host reached through `rffmpeg agent` or a forced-command wrapper runs
// no scripts: it is not probed, and routing assumes it can do anything (as
// for a host never probed).

// SyncProbeLimit bounds a probe a call waits for.
const SyncProbeLimit = 20 * time.Second

// longJob reports whether the call's job usually runs long enough for a
// refresh beside it to finish (a short one would end the process first).
func (c *call) longJob() bool {
	return c.job.Class == jobclass.Transcode || c.job.Class == jobclass.Trickplay
}

// probeRunner turns the runner's Probe into a script runner for setup.Probe.
func probeRunner(p prober, s remote.SSH, limit time.Duration) setup.ScriptRunner {
	return func(ctx context.Context, script string) (string, error) {
		r := p.Probe(ctx, s, setup.ProbeCommand(script), limit)
		switch {
		case r.TimedOut:
			return "", fmt.Errorf("timed out after %s", limit)
		case r.Code != 0:
			return "", errors.New(remote.Classify(r.Code, string(r.Stderr)))
		}
		return string(r.Stdout), nil
	}
}

// probeHost makes sure host h's capabilities are known (see above) before
// the job runs there. ok false: the probe found the host lacks what the
// job needs, and the attempt ends with out (select again, no bad mark).
func (c *call) probeHost(ctx context.Context, h selector.HostView, sshc remote.SSH, mode string) (out outcome, ok bool) {
	p, can := c.env.Runner.(prober)
	if !can || mode != state.AccessWrapper || c.job.Tool == "" {
		return outcome{}, true
	}
	ffmpeg := append(append([]string{}, c.o.Pre...), c.hostFFmpeg(h.Host))
	now := c.env.Now()
	switch {
	case !h.ProbedAt.IsZero() && now.Sub(h.ProbedAt) < setup.ProbeMaxAge:
		return outcome{}, true
	case !h.ProbedAt.IsZero() || c.job.Needs.Empty():
		if c.longJob() && (h.ProbedAt.IsZero() || c.claim(func(ctx context.Context) (bool, error) {
			return c.store.ClaimProbe(ctx, h.ID, now.Add(-setup.ProbeMaxAge), now)
		})) {
			go c.probeAndStore(h, probeRunner(p, sshc, setup.ProbeTimeout), ffmpeg, setup.ProbeTimeout)
		}
		return outcome{}, true
	}
	unlock := c.probeLock(fmt.Sprint(h.ID))
	defer unlock()
	dbCtx, cancel := c.dbContext(ctx)
	fresh, err := c.store.Host(dbCtx, h.ID)
	cancel()
	if err != nil || fresh.ProbedAt.IsZero() {
		// Not probed by another call meanwhile: this one waits for it.
		if fresh, ok = c.probeAndStore(h, probeRunner(p, sshc, SyncProbeLimit), ffmpeg, SyncProbeLimit); !ok {
			return outcome{}, true // unknown: assumed capable, as before
		}
	}
	have := append(append([]string{}, fresh.Capabilities...), fresh.Tags...)
	if yes, missing := jobclass.Satisfies(have, c.job.Needs); !yes {
		return outcome{retry: true, reason: "lacks " + strings.Join(missing, ", ") + " (probed just now)"}, false
	}
	return outcome{}, true
}

// hostFFmpeg is the ffmpeg a remote host runs (its own, or the configured).
func (c *call) hostFFmpeg(h state.Host) string {
	if h.FFmpeg != "" {
		return h.FFmpeg
	}
	return c.o.RemoteFFmpeg
}

// claim runs a probe claim in the database, bounded; false on any error.
func (c *call) claim(fn func(context.Context) (bool, error)) bool {
	ctx, cancel := c.dbContext(context.Background())
	defer cancel()
	ok, err := fn(ctx)
	if err != nil {
		c.log.Debugf("%v", err)
	}
	return ok
}

// probeAndStore probes host h through run, bounded by limit, and stores
// what it found. ok false: the probe failed (logged; nothing stored).
func (c *call) probeAndStore(h selector.HostView, run setup.ScriptRunner, ffmpeg []string, limit time.Duration) (state.Host, bool) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	caps, err := setup.Probe(ctx, run, ffmpeg)
	if err != nil {
		c.log.Warnf("Cannot probe the capabilities of %s: %v", hostLabel(h), err)
		return state.Host{}, false
	}
	dbCtx, cancel := c.dbContext(context.Background())
	defer cancel()
	stored, err := c.store.SetCapabilities(dbCtx, h.Key(), caps, c.env.Now())
	if err != nil {
		c.log.Warnf("%v", err)
		return state.Host{}, false
	}
	c.log.Infof("Probed %s in %v: %s", hostLabel(h), time.Since(t0).Round(time.Millisecond), orNothing(strings.Join(caps, ",")))
	return stored, true
}

// localProbe is what this machine's capabilities, as a selection's snapshot
// shows them (Snapshot.Machines), ask of the call before its job is routed:
// they decide whether the fallback, a localhost host or a class rule's
// `local` may take it.
type localProbe int

const (
	localFresh   localProbe = iota // known and fresh, or the call needs no probe
	localRefresh                   // stale, or unknown while the job needs nothing: refresh beside a long job
	localFirst                     // unknown and the job needs something: probe, then select again
)

// localProbeOf reads this machine's capabilities from snap (the selection's
// own read, so the call spends no query on them); known: they were probed.
func (c *call) localProbeOf(snap state.Snapshot) (p localProbe, known bool) {
	if c.job.Tool == "" || c.j.Special || c.job.Class == jobclass.Capability || c.localProbed {
		return localFresh, false
	}
	var m state.Machine
	for _, row := range snap.Machines {
		if row.Machine == c.env.Self.Machine {
			m = row
			break
		}
	}
	known = !m.ProbedAt.IsZero()
	switch {
	case known && c.env.Now().Sub(m.ProbedAt) < setup.ProbeMaxAge:
		return localFresh, true
	case known || c.job.Needs.Empty():
		return localRefresh, known
	}
	return localFirst, false
}

// refreshLocal starts the refresh localRefresh asks for, beside a long
// job; a claim in the database makes it one refresh for every frontend.
func (c *call) refreshLocal(known bool) {
	c.localProbed = true
	if !c.longJob() {
		return
	}
	now := c.env.Now()
	if !known || c.claim(func(ctx context.Context) (bool, error) {
		return c.store.ClaimMachineProbe(ctx, c.env.Self.Machine, now.Add(-setup.ProbeMaxAge), now)
	}) {
		go c.probeMachine([]string{c.o.LocalFFmpeg}, setup.ProbeTimeout)
	}
}

// probeLocal probes this machine before the job is routed (localFirst),
// once per machine: a burst of calls finding it never probed waits for one
// probe, and the others read its answer.
func (c *call) probeLocal(ctx context.Context) {
	c.localProbed = true
	unlock := c.probeLock("local")
	defer unlock()
	dbCtx, cancel := c.dbContext(ctx)
	_, known, _ := c.store.MachineCapabilities(dbCtx, c.env.Self.Machine)
	cancel()
	if !known {
		c.probeMachine([]string{c.o.LocalFFmpeg}, SyncProbeLimit)
	}
}

// probeMachine probes this machine's ffmpeg and stores what it found.
func (c *call) probeMachine(ffmpeg []string, limit time.Duration) {
	t0 := time.Now()
	caps, err := setup.ProbeLocalWith(context.Background(), ffmpeg, limit)
	if err != nil {
		c.log.Warnf("%v", err)
		return
	}
	dbCtx, cancel := c.dbContext(context.Background())
	defer cancel()
	if err := c.store.SetMachineCapabilities(dbCtx, c.env.Self.Machine, caps, c.env.Now()); err != nil {
		c.log.Warnf("%v", err)
		return
	}
	c.log.Infof("Probed this machine (%s) in %v: %s", c.env.Self.Machine, time.Since(t0).Round(time.Millisecond), orNothing(strings.Join(caps, ",")))
}

// probeLock serializes this machine's probes of one target (a host id or
// "local"), waiting at most SyncProbeLimit: a burst of calls finding a
// host never probed probes it once; the others then read the answer.
func (c *call) probeLock(target string) func() {
	if c.o.LockDir == "" {
		return func() {}
	}
	f := openLock(filepath.Join(c.o.LockDir, "rffmpeg-probe-"+target+".lock"))
	if f == nil {
		return func() {}
	}
	deadline := time.Now().Add(SyncProbeLimit)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return func() { f.Close() }
}
