// Package selector is rffmpeg's host-selection policy: pure functions over a
// state snapshot, taking the time and a liveness test as arguments. The shim,
// `rffmpeg status` and the console all classify hosts through it, so they
// never disagree about which host is bad, busy or idle.
package selector

import (
	"sort"
	"strconv"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Policy holds what the decision depends on besides the snapshot.
type Policy struct {
	Now      time.Time
	BadTTL   time.Duration // how long a bad mark lasts
	Fallback bool          // run locally when no host is usable
	// Dead tells whether the writer of a row has ended (see package owner).
	// Nil means every writer is alive.
	Dead func(pid int, owner string, heartbeat time.Time) bool
	// Leftover tells whether a job's row is the selecting call's own
	// (its PID and owner identity): a call holds no job while it selects,
	// so such a row is left from a selection whose answer it never got (a
	// state helper's), and is reaped like a dead writer's. Nil: none.
	Leftover func(pid int, owner string) bool

	// Routing (see Route). All zero: the original's behaviour.
	Rules   Rules
	Job     jobclass.Job // what this call is and needs (zero: anything, anywhere)
	Machine string       // this machine (owner.Machine): whose probed capabilities the local fallback has
	Waiting int64        // the caller's queue row, when it waits (see state.AcquireRequest.Waiting)
}

// HostView is a host as users and the policy see it.
type HostView struct {
	state.Host
	State     string          // idle, active, bad or draining
	Processes []state.Process // live jobs on it, as read
	// Counted is how many more live jobs run on it than Processes holds:
	// jobs the store counted rather than read (state.Snapshot.Counted: the
	// shim's selection on PostgreSQL; 0 elsewhere). Use Running.
	Counted  int
	Load     int         // Running() / Weight, the original's "weighted count"
	Bad      *state.Mark // the bad mark in force, if any
	BadUntil time.Time   // when that mark expires (zero: when its writer ends)
}

// Running is how many live jobs run on the host, read or counted.
func (h HostView) Running() int { return len(h.Processes) + h.Counted }

// View is a classified snapshot.
type View struct {
	Hosts    []HostView
	Fallback []state.Process // jobs run by the local fallback (host 0)
	// FallbackCounted: more fallback jobs, counted rather than read (see
	// HostView.Counted).
	FallbackCounted int
	Orphans         []state.Process // live jobs whose host was removed
	// Rows to delete: processes whose writer is dead, bad marks that expired,
	// "active" states rows whose job is gone.
	DeadProcesses []int64
	DeadMarks     []int64
	// Malformed rows the store left out (another tool wrote them); shown
	// as warnings so an admin can remove them.
	Malformed []state.Malformed
	// Live waiters, oldest first, and the rows of dead ones.
	Queue     []state.Waiter
	DeadQueue []int64
	// This machine's probed capabilities (nil: never probed), and every
	// probed machine's.
	Local    *state.Machine
	Machines []state.Machine
}

func (p Policy) dead(pid int, owner string, hb time.Time) bool {
	return p.Dead != nil && p.Dead(pid, owner, hb)
}

// Classify sorts a snapshot into hosts with their state and live jobs.
func (p Policy) Classify(snap state.Snapshot) View {
	v := View{Malformed: snap.Malformed}
	live := map[string]bool{} // pid|owner of live jobs
	byHost := map[int64][]state.Process{}
	for _, pr := range snap.Processes {
		if p.dead(pr.PID, pr.Owner, pr.Heartbeat) || p.Leftover != nil && p.Leftover(pr.PID, pr.Owner) {
			v.DeadProcesses = append(v.DeadProcesses, pr.ID)
			continue
		}
		live[jobKey(pr.PID, pr.Owner)] = true
		byHost[pr.HostID] = append(byHost[pr.HostID], pr)
	}
	bad := map[int64]*state.Mark{}
	badUntil := map[int64]time.Time{}
	for i := range snap.Marks {
		m := &snap.Marks[i]
		switch m.State {
		case state.StateBad:
			var until time.Time
			if m.Created.IsZero() {
				// The original's mark: it lasts while its writer runs.
				if p.dead(m.PID, m.Owner, time.Time{}) {
					v.DeadMarks = append(v.DeadMarks, m.ID)
					continue
				}
			} else {
				until = m.Created.Add(p.BadTTL)
				if !p.Now.Before(until) {
					v.DeadMarks = append(v.DeadMarks, m.ID)
					continue
				}
			}
			if cur, ok := bad[m.HostID]; !ok || m.ID > cur.ID {
				bad[m.HostID], badUntil[m.HostID] = m, until
			}
		case state.StateActive:
			if !live[jobKey(m.PID, m.Owner)] {
				v.DeadMarks = append(v.DeadMarks, m.ID)
			}
		}
	}
	known := map[int64]bool{}
	for _, h := range snap.Hosts {
		known[h.ID] = true
		hv := HostView{Host: h, Processes: byHost[h.ID], Counted: snap.Counted[h.ID]}
		hv.Load = hv.Running() / h.Weight
		switch {
		case bad[h.ID] != nil && !h.IsLocal(): // a local host is never bad
			hv.State, hv.Bad, hv.BadUntil = state.StateBad, bad[h.ID], badUntil[h.ID]
		case h.Drain:
			hv.State = state.StateDraining
		case hv.Running() > 0:
			hv.State = state.StateActive
		default:
			hv.State = state.StateIdle
		}
		v.Hosts = append(v.Hosts, hv)
	}
	v.Fallback, v.FallbackCounted = byHost[state.LocalHostID], snap.Counted[state.LocalHostID]
	for id, prs := range byHost {
		if id != state.LocalHostID && !known[id] {
			v.Orphans = append(v.Orphans, prs...)
		}
	}
	sort.Slice(v.Orphans, func(i, j int) bool { return v.Orphans[i].ID < v.Orphans[j].ID })
	for _, w := range snap.Queue {
		if p.dead(w.PID, w.Owner, w.Heartbeat) {
			v.DeadQueue = append(v.DeadQueue, w.ID)
			continue
		}
		v.Queue = append(v.Queue, w)
	}
	v.Machines = snap.Machines
	for i := range snap.Machines {
		if snap.Machines[i].Machine == p.Machine && p.Machine != "" {
			v.Local = &snap.Machines[i]
		}
	}
	return v
}

func jobKey(pid int, owner string) string { return owner + "#" + strconv.Itoa(pid) }

// Reason says why a host was chosen (for the debug log).
type Reason string

const (
	ReasonIdle      Reason = "idle"
	ReasonLeastBusy Reason = "least busy (processes // weight)"
	ReasonFallback  Reason = "no usable host: local fallback"
	ReasonNone      Reason = "no usable host and fallback disabled"
)

// Choose applies the rules to a classified view (see Route; with no rules,
// no capacities and no job, the original's): bad and draining hosts are
// skipped; in id order, the first idle host wins at once; otherwise the
// host with the lowest processes // weight (the first of equals); no host
// → the local fallback when allowed. none is also true for a Wait.
func (p Policy) Choose(v View) (hostID int64, none bool, why Reason) {
	r := p.Route(v)
	return r.HostID, r.None || r.Wait, r.Why
}

// Plan is Classify then Route: the decision in the form state.Store.Acquire
// takes, the chosen host as classified (zero for the fallback) and why.
func (p Policy) Plan(snap state.Snapshot) (state.Decision, HostView, Reason) {
	d, chosen, r := p.PlanRoute(snap)
	return d, chosen, r.Why
}

// PlanRoute is Plan with the whole Route (Wait, and what a refused job
// needs, for its error line).
func (p Policy) PlanRoute(snap state.Snapshot) (state.Decision, HostView, Route) {
	v := p.Classify(snap)
	r := p.Route(v)
	var chosen HostView
	if !r.None && !r.Wait {
		for _, h := range v.Hosts {
			if h.ID == r.HostID {
				chosen = h
			}
		}
	}
	return state.Decision{HostID: r.HostID, None: r.None, Wait: r.Wait,
		ReapProcesses: v.DeadProcesses, ReapMarks: v.DeadMarks, ReapQueue: v.DeadQueue}, chosen, r
}

// Decide is Plan's decision alone.
func (p Policy) Decide(snap state.Snapshot) state.Decision {
	d, _, _ := p.Plan(snap)
	return d
}
