// Package shim is the ffmpeg/ffprobe face of rffmpeg: one call's flow from
// the arguments to the exit code. It selects a host (atomically with the
// other calls, through the state store), checks it when its last check is
// stale, runs the job there, marks the host bad when the host (not ffmpeg)
// failed, selects again, and falls back to the local program when no host is
// usable. Every process it starts goes through a Runner, so the flow is
// tested against a fake one and a real SQLite file; `rffmpeg run` uses the
// same flow.
package shim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Job is one call to run on the selected host.
type Job struct {
	As             string   // how rffmpeg was called, for the log ("ffmpeg", "rffmpeg run")
	RemoteProg     string   // what runs on a remote host
	LocalProg      string   // what runs here (a localhost host or the fallback)
	Args           []string // its arguments
	StdoutToStderr bool     // the original's routing: the job's stdout goes to stderr
	Label          string   // the command as recorded in the processes table
	// LogArgs are the arguments as the "Starting rffmpeg" line shows them
	// (nil: Args; `rffmpeg run` shows the command too, as the original does).
	LogArgs []string
	// Special is a call with a special flag (-version, …): a capability
	// answer, bounded by SpecialWait on a stuck database.
	Special bool
}

// Streams are the caller's standard streams, handed to the job as they are
// (no copy: binary stdin and stdout pass untouched, and the job sees a
// terminal when the caller has one).
type Streams struct {
	Stdin, Stdout, Stderr *os.File
}

// Env is what a call runs with besides its options.
type Env struct {
	Log     *logging.Logger
	Runner  Runner
	Now     func() time.Time
	Self    owner.Identity   // this process (read once per call)
	Signals <-chan os.Signal // the signals to forward (see Signals)
	// SignalsReady, when not nil, is closed once Signals catches them
	// (CatchSignals); a job starts only then.
	SignalsReady <-chan struct{}
	Dir          string // the caller's working directory, where the remote command runs
	// Nice is the shim's nice value at start (see Nice): a caller's
	// `nice ffmpeg …` lowers the remote job's priority too.
	Nice int
	// Environ is the caller's environment (nil: this process's), of which
	// Options.EnvAllow picks what reaches the remote job.
	Environ []string
}

// Run runs one call to its end and returns its exit code: the job's, or 1
// when nothing could run. It writes the original's first and last log lines.
func Run(ctx context.Context, o Options, env Env, j Job, s Streams) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Runner == nil {
		env.Runner = Exec{}
	}
	if env.Signals == nil {
		env.Signals = Signals()
	}
	if env.Environ == nil {
		env.Environ = os.Environ()
	}
	shown := j.LogArgs
	if shown == nil {
		shown = j.Args
	}
	env.Log.Infof("Starting rffmpeg as %s with args: %s", j.As, strings.Join(shown, " "))
	c := &call{o: o, env: env, log: env.Log, j: j, s: s, started: env.Now()}
	if o.SocketErr != nil {
		c.log.Errorf("%v", o.SocketErr)
	}
	var code int
	if o.ConfigErr != nil {
		c.log.Errorf("Invalid configuration, running locally with defaults: %v", o.ConfigErr)
		code = c.runLocal()
	} else {
		code = c.run(ctx)
	}
	c.log.Infof("Finished rffmpeg with return code %d", code)
	return code
}

// call is one run of the flow.
type call struct {
	o     Options
	env   Env
	log   *logging.Logger
	j     Job
	s     Streams
	store *state.Store
	// keep is the state helper doing the hot path's database work (nil:
	// none, or it stopped being of use; see keeper.go). store is then
	// connected only when something else must be written.
	keep *keeper
	// lostAnswer: a selection through the helper failed after the helper
	// took it; it may have recorded the job, so the call's own selection
	// reaps rows of this call (selector.Policy.Leftover).
	lostAnswer bool
	job        jobclass.Job // what the call is and needs (zero for rffmpeg run)
	// started is when the call began: its history row's start (waits for
	// the database and for capacity are part of what the caller saw).
	started time.Time
	// hostKeys is why trust on first use fails closed for this call ("":
	// it works); a host refused then says so in its bad mark.
	hostKeys string
	waking   waking        // a sleeping host being woken (wake.go)
	hook     chan struct{} // closed when the on_demand hook ended (ondemand.go)
	// lease is the running job's rows (its progress and kill request
	// are keyed to them); stall is why the shim stopped the job itself.
	lease state.Lease
	stall stallStop
	// This machine's capabilities as the last selection found them
	// (probe.go); localProbed: the call probed or refreshed them already.
	local       localProbe
	localKnown  bool
	localProbed bool
}

// signals are the signals to forward, once they are caught (see
// CatchSignals): a job must not start before.
func (c *call) signals() <-chan os.Signal {
	if c.env.SignalsReady != nil {
		<-c.env.SignalsReady
	}
	return c.env.Signals
}

func (c *call) stdout() *os.File {
	if c.j.StdoutToStderr {
		return c.s.Stderr
	}
	return c.s.Stdout
}

// say is the one case where the shim speaks on stderr: nothing could run.
func (c *call) say(format string, args ...any) {
	fmt.Fprintf(c.s.Stderr, "rffmpeg: "+format+"\n", args...)
}

// runLocal runs the job's local program here.
func (c *call) runLocal() int {
	c.log.Infof("Running command on host 'localhost' (localhost)")
	t0 := time.Now()
	var job atomic.Pointer[os.Process]
	tr := c.track(func(sig syscall.Signal, _ int) bool { p := job.Load(); return p != nil && p.Signal(sig) == nil })
	if tr != nil {
		tr.pidName = "local PID"
	}
	res, err := c.env.Runner.RunLocal(remote.Spec{Argv: append([]string{c.j.LocalProg}, c.j.Args...),
		Stdin: c.s.Stdin, Stdout: c.stdout(), Stderr: c.s.Stderr, Signals: c.signals(),
		Progress: tr.progressFunc(), OnProcess: func(p *os.Process) { job.Store(p); tr.remotePID(p.Pid) }})
	tr.stop()
	if err != nil {
		c.log.Errorf("Cannot run %s: %v", c.j.LocalProg, err)
		c.say("cannot run %s: %v", c.j.LocalProg, err)
	}
	c.log.Debugf("Local job ended after %v", time.Since(t0).Round(time.Millisecond))
	return res.Code
}

// open opens the store. Opening and the first
// selection share one wait (dbCtx): a database held by another program
// must not hold the caller past it. ok false: the call ended with code.
func (c *call) open(ctx context.Context) (dbCtx context.Context, cancel context.CancelFunc, code int, ok bool) {
	dbCtx, cancel = c.dbContext(ctx)
	if k := dialKeeper(c.o); k != nil {
		if store, err := state.Connect(dbCtx, c.o.Store); err == nil {
			c.store, c.keep = store, k
			return dbCtx, cancel, 0, true
		}
		k.close()
	}
	store, err := state.Open(dbCtx, c.o.Store)
	if err == nil {
		c.store = store
		return dbCtx, cancel, 0, true
	}
	busy := dbCtx.Err() != nil // before cancel, which sets it
	cancel()
	if busy {
		return nil, nil, c.dbBusy(err), false
	}
	c.log.Errorf("Cannot open the state database, running locally: %v", err)
	if !c.o.Fallback {
		c.say("%v (and commands.fallback is off)", err)
		return nil, nil, 1, false
	}
	return nil, nil, c.runLocal(), false
}

func (c *call) run(ctx context.Context) int {
	why, done := knownHosts(&c.o.SSH, c.o.Store.Path)
	defer done()
	if why != "" {
		c.hostKeys = why
		c.log.Errorf("Host keys: %s", why)
	}
	dbCtx, cancel, code, ok := c.open(ctx)
	if !ok {
		return code
	}
	defer func() { c.store.Close() }() // unkeep may replace it
	defer c.keep.close()
	defer c.waitHook()
	req := c.request()
	var waitStart time.Time
	tries := 0                // selections made, waits for capacity included
	var endMaster *remote.SSH // a master to end beside the next selection
	// The master of a host that stopped answering holds the streams of this
	// call's session that never opened (ssh passed it our descriptors): a
	// caller reading stdout to its end waits for them, so it must be gone
	// before this call exits (EndMaster is bounded).
	var ending sync.WaitGroup
	defer ending.Wait()
	for attempt := 0; attempt < c.o.MaxAttempts; attempt++ {
		req.Claim.Now = c.env.Now()
		if tries > 0 {
			// The first selection uses the wait that opened the database.
			dbCtx, cancel = c.dbContext(ctx)
		}
		tries++
		giveUp := !waitStart.IsZero() && req.Claim.Now.Sub(waitStart) >= c.o.QueueTimeout
		lease, d, chosen, route, err := c.acquire(dbCtx, req, giveUp)
		busy := dbCtx.Err() != nil || errors.Is(err, errKeeperBusy)
		cancel()
		if endMaster != nil {
			// Only now, with this call's next host recorded: ending the master
			// ends the other calls' jobs on it, whose teardown then writes the
			// database; this call must not queue behind those writes. And
			// beside the next attempt, not before it: on a loaded machine
			// `ssh -O exit` takes a few hundred milliseconds.
			ending.Add(1)
			go func(s remote.SSH) { defer ending.Done(); c.endMaster(s) }(*endMaster)
			endMaster = nil
		}
		if err != nil {
			return c.selectFailed(err, busy)
		}
		// Written in that transaction: a wait's next selections must not
		// mark the host bad again (a woken host's cleared mark would come
		// back on every turn, and it would never be taken).
		req.Replace, req.MarkBad = nil, nil
		if c.localTurn(ctx) {
			attempt-- // probing this machine is not a failed host
			continue
		}
		if d.None {
			c.log.Errorf("Not running: %s", route.Why)
			c.say("%s", route.Refusal())
			return 1
		}
		if d.Wait {
			if code, stop := c.waitTurn(ctx, &req, &waitStart, route, lease); stop {
				return code
			}
			attempt-- // waiting is not a failed host
			continue
		}
		stop := c.heartbeat(lease)
		c.lease = lease
		out := c.attempt(ctx, chosen)
		stop()
		if !out.retry {
			return c.finish(lease, chosen, out)
		}
		endMaster = c.retryAfter(&req, lease, chosen, out)
	}
	c.log.Errorf("Gave up after %d hosts failed", c.o.MaxAttempts)
	return 1
}

// localTurn acts on what a selection found of this machine's own
// capabilities: never probed and needed (nothing was recorded: probe it,
// and the caller selects again, with a wait of its own, knowing what it
// can do), or due for a refresh beside the job. again says select again.
func (c *call) localTurn(ctx context.Context) (again bool) {
	switch c.local {
	case localFirst:
		c.probeLocal(ctx)
		return true
	case localRefresh:
		c.refreshLocal(c.localKnown)
	}
	return false
}

// selectFailed ends a call whose selection failed: the database stayed
// busy past its wait (busy), or another error; either way a local run.
func (c *call) selectFailed(err error, busy bool) int {
	if busy {
		return c.dbBusy(err)
	}
	c.log.Errorf("Cannot select a host, running locally: %v", err)
	return c.runLocal()
}

// waitTurn is one turn of a call waiting for capacity (the first says so
// in the log); stop: a signal ended the wait with code.
func (c *call) waitTurn(ctx context.Context, req *state.AcquireRequest, since *time.Time, route selector.Route, lease state.Lease) (code int, stop bool) {
	if since.IsZero() {
		*since = req.Claim.Now
		c.log.Infof("Waiting for capacity, at most %s: %s", c.o.QueueTimeout, route.Why)
	}
	req.Waiting = lease.Waiting
	return c.wait(ctx, route, lease.Waiting)
}

// request is the call's selection request: who it is, its command, and
// (ffmpeg and ffprobe; rffmpeg run's commands go anywhere) its class and
// needs, which route it.
func (c *call) request() state.AcquireRequest {
	self := c.env.Self
	req := state.AcquireRequest{Claim: state.Claim{PID: self.PID, Owner: self.String(), Cmd: c.j.Label}}
	if c.j.As == "ffmpeg" || c.j.As == "ffprobe" {
		c.job = jobclass.Of(c.j.As, c.j.Args)
		req.Class, req.Needs = string(c.job.Class), c.job.Needs.Tokens()
		c.log.Debugf("Job class %s, needs %s", c.job.Class, orNothing(c.job.Needs.String()))
	}
	if c.o.RulesErr != nil {
		c.log.Errorf("Ignoring the scheduling rules: %v", c.o.RulesErr)
	}
	return req
}

// retryAfter sets up the next selection after an attempt on chosen that
// ran nothing: its rows are given up and the host marked bad (or skipped)
// in that selection's transaction. It returns the master to end, if the
// host stopped answering.
func (c *call) retryAfter(req *state.AcquireRequest, lease state.Lease, chosen selector.HostView, out outcome) *remote.SSH {
	req.Replace, req.MarkBad = &lease, nil
	if out.mark {
		c.log.Errorf("Marking host %s (%s) as bad due to retcode %d: %s", chosen.Hostname, chosen.Servername, out.code, out.reason)
		req.MarkBad = &state.BadMark{HostID: chosen.ID, Reason: out.reason}
	} else {
		c.log.Infof("Skipping host %s (%s): %s", chosen.Hostname, chosen.Servername, out.reason)
	}
	if !out.dropMaster {
		return nil
	}
	s := c.sshFor(chosen.Host)
	return &s
}

// dbWait is how long this call waits for the database at a time.
func (c *call) dbWait() time.Duration {
	if c.j.Special || c.o.DBWait <= 0 {
		// DBWait 0: options not built by FromConfig; the special bound is
		// the only sane one then.
		return SpecialWait
	}
	return c.o.DBWait
}

// dbContext bounds one wait for the database.
func (c *call) dbContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.dbWait())
}

// dbBusy ends a call whose database stayed busy past its wait: a special
// flag's capability answer comes from the local program (the same ffmpeg
// build as the hosts'); a job runs on the fallback, as when no host is
// usable.
func (c *call) dbBusy(err error) int {
	if c.j.Special {
		c.log.Warnf("The database stayed busy for %s, answering locally: %v", c.dbWait(), err)
		return c.runLocal()
	}
	if !c.o.Fallback {
		c.log.Errorf("The database stayed busy for %s and commands.fallback is off: not running: %v", c.dbWait(), err)
		c.say("the state database stayed busy for %s (and commands.fallback is off)", c.dbWait())
		return 1
	}
	c.log.Errorf("The database stayed busy for %s, running on the fallback: %v", c.dbWait(), err)
	return c.runLocal()
}

// acquire selects a host and records the job on it in one transaction.
// giveUp: the call waited long enough; place it as when_full: fallback.
func (c *call) acquire(ctx context.Context, req state.AcquireRequest, giveUp bool) (state.Lease, state.Decision, selector.HostView, selector.Route, error) {
	var chosen selector.HostView
	var route selector.Route
	var lease state.Lease
	var d state.Decision
	var snap state.Snapshot
	var err error
	served := false
	if c.keep != nil {
		lease, d, chosen, route, snap.Malformed, err = c.keepAcquire(ctx, req, giveUp)
		if served = !keeperFailed(err); !served {
			if err = c.unkeep(ctx, err); err != nil {
				return lease, d, chosen, route, err
			}
		}
	}
	if !served {
		lease, d, snap, err = c.store.Acquire(ctx, req, c.decider(c.policy(req, giveUp), &chosen, &route))
	}
	why := route.Why
	if err == nil {
		if served && c.o.OnDemand != "" && needsHost(route) {
			snap, _ = c.store.Snapshot(ctx) // the hook is told the pool
		}
		c.onDemand(route, snap)
	}
	for _, m := range snap.Malformed {
		// Another tool wrote a row the store cannot use (an ssh option for
		// a host name, a weight that is not a number): it is left out and
		// the pool works on; say so where an admin will look.
		c.log.Warnf("Skipped a malformed row (%s): 'rffmpeg remove' or 'rffmpeg clear' deletes it", m)
	}
	if err == nil && !d.None && !d.Wait {
		if chosen.ID == state.LocalHostID {
			c.log.Debugf("Chose %s: %s", hostLabel(chosen), why)
		} else {
			c.log.Debugf("Chose %s: %s (%d running, weight %d)", hostLabel(chosen), why, chosen.Running(), chosen.Weight)
		}
	}
	return lease, d, chosen, route, err
}

// policy is the selection policy of this call's request.
func (c *call) policy(req state.AcquireRequest, giveUp bool) selector.Policy {
	pol := c.o.Policy(req.Claim.Now, c.env.Self)
	pol.Rules, pol.Job, pol.Machine, pol.Waiting = c.o.Rules, c.job, c.env.Self.Machine, req.Waiting
	if c.lostAnswer {
		pol.Leftover = func(pid int, owner string) bool { return pid == req.Claim.PID && owner == req.Claim.Owner }
	}
	if giveUp {
		pol.Rules.WhenFull = selector.FullFallback
	}
	return pol
}

// decider is the decision for a snapshot under pol, as the store's Acquire
// asks for it: it notes the host chosen, the route and what the snapshot
// says of this machine's capabilities (c.local).
func (c *call) decider(pol selector.Policy, chosen *selector.HostView, route *selector.Route) func(state.Snapshot) state.Decision {
	return func(snap state.Snapshot) state.Decision {
		if c.local, c.localKnown = c.localProbeOf(snap); c.local == localFirst {
			return state.Decision{None: true} // records nothing; run probes first
		}
		var d state.Decision
		d, *chosen, *route = pol.PlanRoute(snap)
		return d
	}
}

// wait sleeps before the next try of a call waiting for capacity, waking a
// sleeping host if the route says so. stop: a signal ended the wait (the
// call leaves the queue and exits as if the job had been killed).
func (c *call) wait(ctx context.Context, route selector.Route, queued int64) (int, bool) {
	if route.Wake != 0 {
		c.wake(ctx, route.Wake) // wake.go
	}
	select {
	case sig := <-c.signals():
		dbCtx, cancel := c.dbContext(context.Background())
		c.store.LeaveQueue(dbCtx, queued)
		cancel()
		c.log.Infof("Stopped by %v while waiting for capacity", sig)
		if s, ok := sig.(syscall.Signal); ok {
			return 128 + int(s), true
		}
		return 1, true
	case <-time.After(c.o.QueueRetry):
	}
	return 0, false
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// finish ends a job that ran (or could not run at all): the host's bad mark
// if the host failed under it, then the release of its rows, bounded.
func (c *call) finish(lease state.Lease, h selector.HostView, out outcome) int {
	var claim state.Claim
	if out.mark {
		// The job ran and its host failed under it: the media server sees
		// the failure (and retries); new calls avoid the host.
		c.log.Errorf("Marking host %s (%s) as bad due to retcode %d: %s", h.Hostname, h.Servername, out.code, out.reason)
		claim = state.Claim{PID: c.env.Self.PID, Owner: c.env.Self.String(), Now: c.env.Now()}
	}
	rec := c.record(h, out)
	t0 := time.Now()
	c.bounded(func(ctx context.Context) error {
		if out.mark {
			if err := c.store.MarkBad(ctx, h.ID, claim, out.reason); err != nil {
				return err
			}
		}
		c.reportProblems(ctx)
		c.stopReason(ctx, &rec) // killed or stopped as stalled: say so
		// The job's end and its history row in one transaction.
		return c.release(ctx, lease, rec)
	})
	c.log.Debugf("Recorded the job's end in %v", time.Since(t0).Round(time.Millisecond))
	if out.dropMaster {
		c.endMaster(c.sshFor(h.Host))
	}
	return out.code
}

// reportProblems records what this call worked around, where status and
// the console show it: the admin reading them is rarely the service account
// that cannot write its log or use its socket directory. Only calls with a
// problem write (the healthy path stays one transaction).
func (c *call) reportProblems(ctx context.Context) {
	if c.log.Err() == nil && c.o.SocketErr == nil {
		return // the healthy path: no map, no string
	}
	uid := " (uid " + strconv.Itoa(os.Geteuid()) + ")"
	for source, err := range map[string]error{"log file" + uid: c.log.Err(), "ssh sockets" + uid: c.o.SocketErr} {
		if err != nil {
			c.store.ReportProblem(ctx, source, err.Error(), c.env.Now())
		}
	}
}

// record is the history row of a job that ended with out on host h.
func (c *call) record(h selector.HostView, out outcome) state.JobRecord {
	class := string(c.job.Class)
	if class == "" {
		class = "other" // rffmpeg run's commands
	}
	failure := out.failure
	if failure == "" {
		failure = codeFailure(out.code)
	}
	frontend, _, _ := strings.Cut(c.env.Self.Machine, ":")
	return state.JobRecord{HostID: h.ID, Servername: h.Servername, Hostname: h.Hostname, Frontend: frontend,
		Class: class, Command: c.j.Label, PID: c.env.Self.PID, Started: c.started,
		Duration: c.env.Now().Sub(c.started), ExitCode: out.code, Failure: failure}
}

// bounded runs a write at the end of a call, waiting at most ReleaseWait:
// the job is over and its exit code known, so a database held by someone
// else must not hold the caller. What is not written is reaped later (the
// rows' writer is dead by then).
func (c *call) bounded(write func(context.Context) error) {
	wait := c.o.ReleaseWait
	if c.j.Special {
		wait = min(wait, specialRelease)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- write(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			c.log.Errorf("%v", err)
		}
	case <-ctx.Done():
		c.log.Warnf("The database stayed busy for %s: leaving this job's rows to be reaped", wait)
	}
}

func (c *call) endMaster(s remote.SSH) {
	if c.env.Runner.EndMaster(s) {
		c.log.Infof("Ended the SSH master connection to host '%s'", s.Host)
	}
}

// heartbeat keeps a long job's row fresh for frontends on other machines.
func (c *call) heartbeat(lease state.Lease) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(owner.HeartbeatFor(c.o.Store.Lease))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// Bounded: a stuck database must not pile up heartbeats.
				ctx, cancel := context.WithTimeout(context.Background(), owner.HeartbeatEvery/2)
				c.store.Heartbeat(ctx, lease, c.env.Now())
				cancel()
			}
		}
	}()
	return func() { close(done) }
}

// sshFor is how to reach a host.
func (c *call) sshFor(h state.Host) remote.SSH {
	return setup.ForHost(c.o.SSH, h)
}

func hostLabel(h selector.HostView) string {
	if h.ID == state.LocalHostID {
		return "localhost (fallback)"
	}
	return fmt.Sprintf("host '%s' (%s, id %d)", h.Hostname, h.Servername, h.ID)
}
