package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// `rffmpeg kill` stops a running job. The job is the shim process that
// runs it (the PID status shows); it is only ever signalled after its row
// in the database proves it is that process (this machine, this boot, the
// same start time), so a PID that is not a running rffmpeg job is never
// signalled. The kill request is written to the job's row first; the shim
// reads it when the job ends and its history row says who killed it.
//
// SIGTERM, not "q": the job's stdin is the media server's own pipe, passed
// to ffmpeg untouched, so nothing can be written into it. The shim
// forwards SIGTERM to the remote ffmpeg, which ends as on "q" (it finishes
// its output and exits). A shim still there after the grace gets SIGKILL:
// its guardian (or, over a master's socket, the master) then stops the
// remote ffmpeg, and this command releases the job's rows and writes its
// history row.
//
// Only jobs of this machine can be signalled: a PID of another frontend
// sharing a PostgreSQL database means nothing here.

// KillOptions are `rffmpeg kill`'s.
type KillOptions struct {
	Target string // a PID, or a job id with ID
	ID     bool   // Target is the job's id (status --json: "id")
	JSON   bool
	Grace  int // seconds between SIGTERM and SIGKILL
}

// DefaultKillGrace is how long a job has to end after SIGTERM.
const DefaultKillGrace = 10 * time.Second

// killGone bounds the wait for a SIGKILLed shim to disappear.
const killGone = 2 * time.Second

// KillRequest names the job to stop and who asks.
type KillRequest struct {
	PID   int   // the shim's PID as status shows it
	JobID int64 // or the job's id (its processes row), when PID is 0
	By    string
	Grace time.Duration // 0: DefaultKillGrace
	Now   time.Time
	// Self is this machine as its jobs are recorded (setup.Self: with
	// database.frontend_id), Lease database.lease (setup.Lease).
	Self  owner.Identity
	Lease time.Duration
	// Program is the executable a job's process must run to be signalled
	// ("": this one). A row is data anyone who can write the database
	// wrote: naming root's sshd with its real start time must not get it
	// killed when an admin kills "that job" as root.
	Program string
}

// KillResult is how a kill went.
type KillResult struct {
	JobID      int64  `json:"job_id"`
	PID        int    `json:"pid"`
	HostID     int64  `json:"host_id"`
	Servername string `json:"servername"`
	Command    string `json:"command"`
	KilledBy   string `json:"killed_by"`
	// Signal is the last signal the job needed: TERM (it ended), KILL (it
	// did not within the grace).
	Signal string `json:"signal"`
	// Recorded: this call wrote the job's history row (the shim, killed,
	// could not).
	Recorded bool `json:"recorded_here"`
}

// Errors of KillJob that callers tell apart (wrapped with the details).
var (
	ErrNoSuchJob    = errors.New("no such running job")
	ErrOtherMachine = errors.New("a job of another machine")
)

// KillJob stops a running job of this machine: the kill request in its
// row, SIGTERM, SIGKILL after the grace. The console can call it as the
// CLI does.
func KillJob(ctx context.Context, s *state.Store, req KillRequest) (KillResult, error) {
	if req.By == "" {
		req.By = "unknown" // the history says it was killed, by someone
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return KillResult{}, err
	}
	self := req.Self
	if self.Machine == "" {
		self = owner.Self()
	}
	p, err := findJob(snap, req, self)
	if err != nil {
		return KillResult{}, err
	}
	res := KillResult{JobID: p.ID, PID: p.PID, HostID: p.HostID, Servername: serverName(snap, p.HostID), Command: p.Cmd, KilledBy: req.By}
	lease := req.Lease
	if lease <= 0 {
		lease = owner.Lease
	}
	chk := owner.Checker{Self: self, Lease: lease, Now: req.Now}
	program := req.Program
	if program == "" {
		program = exeOf("self")
	}
	// A zombie is gone for our purpose: it runs nothing, and its parent
	// (the media server) reaps it in its own time.
	alive := func() bool {
		return !chk.Dead(p.PID, p.Owner, p.Heartbeat) && !zombie(p.PID) && program != "" && exeOf(strconv.Itoa(p.PID)) == program
	}
	if !alive() {
		return res, fmt.Errorf("PID %d no longer runs job %d (its row is left over; status reaps it): %w", p.PID, p.ID, ErrNoSuchJob)
	}
	if err := s.RequestKill(ctx, p.ID, p.PID, req.By, req.Now); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return res, fmt.Errorf("job %d (PID %d) ended already: %w", p.ID, p.PID, ErrNoSuchJob)
		}
		return res, err
	}
	res.Signal = "TERM"
	if err := signalJob(p.PID, syscall.SIGTERM); err != nil {
		// Not stopped: the job's history must not say it was killed.
		s.RequestKill(ctx, p.ID, p.PID, "", time.Time{})
		return res, err
	}
	grace := req.Grace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	sig := syscall.SIGTERM
	if !waitGone(ctx, alive, grace) && alive() { // checked again: the PID must still be that job's
		res.Signal, sig = "KILL", syscall.SIGKILL
		if err := signalJob(p.PID, sig); err != nil {
			return res, err
		}
		waitGone(ctx, alive, killGone)
	}
	// A shim recorded its job and released its rows before it exited, or
	// never will: one that left them (killed, or its database write timed
	// out) gets its history row here, once (ReleaseKilled finds the rows
	// gone if the shim got to it).
	rec := state.JobRecord{HostID: p.HostID, Servername: res.Servername, Hostname: hostName(snap, p.HostID),
		Frontend: machineName(self.Machine), Class: guessClass(p.Cmd), Command: p.Cmd, PID: p.PID, Started: p.Started,
		Duration: time.Since(p.Started), ExitCode: 128 + int(sig), Failure: state.FailKilled, KilledBy: req.By}
	if p.Started.IsZero() {
		rec.Started, rec.Duration = req.Now, 0
	}
	res.Recorded, err = s.ReleaseKilled(ctx, p.ID, p.PID, rec)
	return res, err
}

// findJob picks the job req names among the running ones: a row of this
// machine with an identity to check, or an error saying why not.
func findJob(snap state.Snapshot, req KillRequest, self owner.Identity) (state.Process, error) {
	what := fmt.Sprintf("PID %d", req.PID)
	if req.PID == 0 {
		what = fmt.Sprintf("job id %d", req.JobID)
	}
	var elsewhere []string
	unowned := false
	for _, p := range snap.Processes {
		if req.PID != 0 && p.PID != req.PID || req.PID == 0 && p.ID != req.JobID {
			continue
		}
		machine, _, _ := strings.Cut(p.Owner, "|")
		switch {
		case p.Owner == "":
			unowned = true
		case machine == self.Machine:
			return p, nil
		default:
			elsewhere = append(elsewhere, machineName(machine))
		}
	}
	switch {
	case len(elsewhere) > 0:
		return state.Process{}, fmt.Errorf("%s is a job of frontend %s, not of this machine (%s): run rffmpeg kill there: %w",
			what, strings.Join(elsewhere, ", "), machineName(self.Machine), ErrOtherMachine)
	case unowned:
		return state.Process{}, fmt.Errorf("%s was recorded by the original rffmpeg, without an identity proving it is still that process: not signalled: %w", what, ErrNoSuchJob)
	}
	return state.Process{}, fmt.Errorf("%s is not a running rffmpeg job ('rffmpeg status' lists them): %w", what, ErrNoSuchJob)
}

// signalJob sends sig to the shim, saying why it could not.
func signalJob(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	switch {
	case err == nil, errors.Is(err, syscall.ESRCH):
		return nil // gone already: what we wanted
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("signal PID %d: not permitted (run rffmpeg kill as root or as the account that runs the media server)", pid)
	}
	return fmt.Errorf("signal PID %d: %w", pid, err)
}

// exeOf is the executable /proc/PROC runs ("": unknown); a binary replaced
// since it started (an upgrade) counts as the same path.
func exeOf(proc string) string {
	exe, err := os.Readlink("/proc/" + proc + "/exe")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold anything
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// waitGone waits up to d for alive to turn false; it reports whether it did.
func waitGone(ctx context.Context, alive func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func serverName(snap state.Snapshot, id int64) string {
	if id == state.LocalHostID {
		return "localhost"
	}
	for _, h := range snap.Hosts {
		if h.ID == id {
			return h.Servername
		}
	}
	return RemovedHost
}

func hostName(snap state.Snapshot, id int64) string {
	for _, h := range snap.Hosts {
		if h.ID == id {
			return h.Hostname
		}
	}
	return serverName(snap, id)
}

// machineName is an owner's machine without its machine-id ("jf1").
func machineName(m string) string {
	name, _, _ := strings.Cut(m, ":")
	return name
}

// guessClass is the history class of a job recorded from its command line
// alone (the shim, which knows better, could not record it).
func guessClass(cmd string) string {
	switch {
	case strings.HasPrefix(cmd, "ffprobe "):
		return string(jobclass.Probe)
	case strings.HasPrefix(cmd, "ffmpeg "):
		return string(jobclass.Transcode)
	}
	return "other"
}

// Killer is who a kill is recorded as: the admin behind sudo, else the
// user.
func (w Who) Killer() string {
	if w.SudoUser != "" {
		return w.SudoUser
	}
	return w.User
}

// bind reads the positional PID (or job id) and checks the options.
func (o *KillOptions) bind(pos []string) error {
	o.Target = pos[0]
	n, err := strconv.ParseInt(o.Target, 10, 64)
	if err != nil || n <= 0 || !o.ID && n > 1<<22 { // 1<<22: Linux's largest pid_max
		what := "PID"
		if o.ID {
			what = "job id"
		}
		return usagef("%s %q is not a positive whole number", what, o.Target)
	}
	if o.Grace < 0 {
		return usagef("--grace %d: must not be negative", o.Grace)
	}
	return nil
}

func (x *verb) kill(o KillOptions) error {
	req := KillRequest{By: x.env.Who().Killer(), Grace: time.Duration(o.Grace) * time.Second, Now: x.env.Now(),
		Self: setup.Self(x.cfg), Lease: setup.Lease(x.cfg)}
	n, _ := strconv.ParseInt(o.Target, 10, 64) // checked by bind
	if o.ID {
		req.JobID = n
	} else {
		req.PID = int(n)
	}
	return x.withStore(func(s *state.Store) error {
		res, err := KillJob(x.ctx, s, req)
		if err != nil {
			return err
		}
		x.audit("killed job %d (PID %d, SIG%s) on %s: %s", res.JobID, res.PID, res.Signal, res.Servername, res.Command)
		if o.JSON {
			enc := json.NewEncoder(x.env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		how := "stopped (SIGTERM)"
		if res.Signal == "KILL" {
			how = "killed (SIGKILL: it did not end within the grace after SIGTERM)"
		}
		fmt.Fprintf(x.env.Stdout, "Job %d (PID %d) on '%s' %s: %s\n", res.JobID, res.PID, escape.Line(res.Servername), how, escape.Line(res.Command))
		return nil
	})
}

func killCommand() command {
	var o KillOptions
	return command{name: "kill", args: "[--id] [--grace N] [--json] PID", short: "Stop a running job: SIGTERM, then SIGKILL",
		long: "PID is the job's PID as status shows it (with --id: the job's id, status --json's \"id\").\n" +
			"The job ends as on 'q' (ffmpeg finishes its output); one still running after the grace\n" +
			"is killed, and its remote ffmpeg with it. The history records who killed it. Only jobs\n" +
			"of this machine can be stopped (run it on the frontend that runs the job).",
		flags: []flag{
			boolFlag("", "id", &o.ID, "PID is the job's id instead"),
			intFlag("", "grace", "N", &o.Grace, int(DefaultKillGrace/time.Second), "grace", "seconds between SIGTERM and SIGKILL"),
			boolFlag("", "json", &o.JSON, "print a JSON document instead of the line"),
		},
		argNames: []string{"PID"}, maxArgs: 1, bind: o.bind,
		run: func(x *verb) error { return x.kill(o) }}
}
