package selector

import (
	"sort"
	"strconv"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Reasons of the routing rules (the original's are in selector.go).
const (
	ReasonClassLocal  Reason = "class rule: local"
	ReasonFull        Reason = "every usable host is full: local fallback"
	ReasonWait        Reason = "every usable host is full: waiting in the queue"
	ReasonRejectFull  Reason = "every usable host is full and scheduling.when_full is reject"
	ReasonQueueFull   Reason = "every usable host is full and the wait queue is full: local fallback"
	ReasonUnsatisfied Reason = "no usable host, nor this machine, has what the job needs"
	ReasonWake        Reason = "no awake host can take the job: waking a sleeping one"
)

// Route is where a job goes.
type Route struct {
	HostID int64
	None   bool // nothing may run
	Wait   bool // queue and try again
	Why    Reason
	// Needs is what the job needs when no host and not this machine has it
	// (for the one-line error), as capability tokens.
	Needs string
	// Wake is a sleeping host to wake (Wake-on-LAN) when Wait is set for
	// that reason; 0: none.
	Wake int64
}

// Refusal is the one line a refused call prints on stderr (and logs), ""
// when the route runs the job (or waits).
func (r Route) Refusal() string {
	switch {
	case !r.None:
		return ""
	case r.Why == ReasonUnsatisfied:
		return "no usable transcode host, and not this machine, has what this job needs: " + r.Needs
	case r.Why == ReasonRejectFull:
		return "every transcode host this job may use is full (scheduling.when_full: reject)"
	}
	// The shim's words before routing existed (people grep for them).
	return "no usable transcode host (all bad or draining) and commands.fallback is off"
}

// Full reports whether a host runs as many jobs as it may.
func (h HostView) Full() bool { return h.MaxJobs > 0 && h.Running() >= h.MaxJobs }

// Capacity is "running/max_jobs" for display ("2/4"; "2/-" with no limit).
func (h HostView) Capacity() string {
	if h.MaxJobs <= 0 {
		return strconv.Itoa(h.Running()) + "/-"
	}
	return strconv.Itoa(h.Running()) + "/" + strconv.Itoa(h.MaxJobs)
}

// Has is what the host can do as far as routing knows: its probed
// capabilities and its tags. known is false when it was never probed
// (then routing assumes it can do anything, as the original does).
func (h HostView) Has(local *state.Machine) (have []string, known bool) {
	have = append(append(have, h.Capabilities...), h.Tags...)
	switch {
	case !h.ProbedAt.IsZero():
		return have, true
	case h.IsLocal() && local != nil && !local.ProbedAt.IsZero():
		// A localhost host is this machine.
		return append(have, local.Capabilities...), true
	}
	return have, false
}

// can reports whether h may run a job needing r.
func (h HostView) can(r jobclass.Requirements, local *state.Machine) bool {
	if r.Empty() {
		return true
	}
	have, known := h.Has(local)
	if !known {
		return true
	}
	ok, _ := jobclass.Satisfies(have, r)
	return ok
}

// localCan reports whether this machine may run a job needing r (unknown
// capabilities: yes, as the original assumes).
func localCan(r jobclass.Requirements, local *state.Machine) bool {
	if r.Empty() || local == nil || local.ProbedAt.IsZero() {
		return true
	}
	ok, _ := jobclass.Satisfies(local.Capabilities, r)
	return ok
}

// Route applies the rules to a classified view for the policy's job:
//
//  1. A class rule sending the job's class to local runs it here (if this
//     machine has what it needs).
//  2. Candidates are the hosts that are neither bad nor draining, that the
//     class rule's target allows (a tag, a host) and that have what the job
//     needs (hosts never probed are assumed to).
//  3. Priority tiers, lowest number first: the first tier with a host that
//     is not full (max_jobs, counting the slots older waiters will take)
//     wins, and within it the original's rule: the first idle host in id
//     order, else the lowest processes // weight.
//  4. Candidates exist but all are full: scheduling.when_full decides —
//     fallback (run locally), wait (queue) or reject.
//  5. No candidate: the local fallback when allowed and this machine has
//     what the job needs; otherwise nothing runs.
//
// Before 4 and 5, a sleeping host (see sleeper) that could take the job is
// woken: the route is Wait with Wake set.
func (p Policy) Route(v View) Route {
	needs := p.Job.Needs
	rule, ruled := p.Rules.ruleFor(p.Job.Class)
	if ruled && rule.Target.Local {
		if localCan(needs, v.Local) {
			return Route{HostID: state.LocalHostID, Why: ReasonClassLocal}
		}
		return Route{None: true, Why: ReasonUnsatisfied, Needs: needs.String()}
	}
	reserved := p.reservations(v)
	var cands []int
	for i, h := range v.Hosts {
		if h.State == state.StateBad || h.State == state.StateDraining || !rule.Target.matches(h.Host) || !h.can(needs, v.Local) {
			continue
		}
		cands = append(cands, i)
	}
	if i, why, ok := pick(v.Hosts, cands, reserved); ok {
		return Route{HostID: v.Hosts[i].ID, Why: why}
	}
	if id := p.sleeper(v, rule.Target, needs); id != 0 {
		return Route{Wait: true, Wake: id, Why: ReasonWake}
	}
	local := p.Fallback && localCan(needs, v.Local)
	if len(cands) > 0 {
		return p.whenFull(v, local)
	}
	switch {
	case local:
		return Route{HostID: state.LocalHostID, Why: ReasonFallback}
	case !needs.Empty() && !localCan(needs, v.Local):
		return Route{None: true, Why: ReasonUnsatisfied, Needs: needs.String()}
	}
	return Route{None: true, Why: ReasonNone}
}

// WakeFailed starts the reason of the bad mark a caller records when a
// host it woke did not answer in time: until that mark expires, the host
// is not woken again (every call would wait for it in vain).
const WakeFailed = "did not wake"

// sleeper is the host to wake when no awake host can take the job: a
// host with a Wake-on-LAN address that is bad (it did not answer: asleep),
// that the rule's target allows, that has what the job needs and is not
// full; the first by priority, then id. 0: none.
func (p Policy) sleeper(v View, t Target, needs jobclass.Requirements) int64 {
	var best *HostView
	for i := range v.Hosts {
		h := &v.Hosts[i]
		if h.WoLMAC == "" || h.State != state.StateBad || h.Full() || !t.matches(h.Host) || !h.can(needs, v.Local) ||
			h.Bad != nil && strings.HasPrefix(h.Bad.Reason, WakeFailed) {
			continue
		}
		if best == nil || h.Priority < best.Priority {
			best = h
		}
	}
	if best == nil {
		return 0
	}
	return best.ID
}

// whenFull applies scheduling.when_full when every candidate is full.
func (p Policy) whenFull(v View, local bool) Route {
	fallback := func(why Reason) Route {
		switch {
		case local:
			return Route{HostID: state.LocalHostID, Why: why}
		case !localCan(p.Job.Needs, v.Local):
			return Route{None: true, Why: ReasonUnsatisfied, Needs: p.Job.Needs.String()}
		}
		return Route{None: true, Why: ReasonNone}
	}
	switch p.Rules.WhenFull {
	case FullReject:
		return Route{None: true, Why: ReasonRejectFull}
	case FullWait:
		if p.Waiting == 0 && p.Rules.QueueMax > 0 && len(v.Queue) >= p.Rules.QueueMax {
			return fallback(ReasonQueueFull)
		}
		return Route{Wait: true, Why: ReasonWait}
	}
	return fallback(ReasonFull)
}

// pick applies priority tiers, capacity and the original's rule to the
// candidate hosts (indexes into hosts, in id order).
func pick(hosts []HostView, cands []int, reserved map[int64]int) (int, Reason, bool) {
	tiers := map[int][]int{}
	var prios []int
	for _, i := range cands {
		pr := hosts[i].Priority
		if _, ok := tiers[pr]; !ok {
			prios = append(prios, pr)
		}
		tiers[pr] = append(tiers[pr], i)
	}
	sort.Ints(prios)
	for _, pr := range prios {
		best, bestLoad := -1, 0
		for _, i := range tiers[pr] {
			h := hosts[i]
			n := h.Running() + reserved[h.ID]
			if h.MaxJobs > 0 && n >= h.MaxJobs {
				continue
			}
			if n == 0 {
				return i, ReasonIdle, true
			}
			if load := n / h.Weight; best < 0 || load < bestLoad {
				best, bestLoad = i, load
			}
		}
		if best >= 0 {
			return best, ReasonLeastBusy, true
		}
	}
	return -1, "", false
}

// reservations are the slots older waiters will take: each live waiter
// ahead of the caller (all of them when the caller is not queued), oldest
// first, is routed as if it asked now, and the host it would get is
// counted one busier. A free slot thus goes to the oldest waiter that can
// use it, and a newcomer cannot overtake the queue.
func (p Policy) reservations(v View) map[int64]int {
	reserved := map[int64]int{}
	for _, w := range v.Queue {
		if p.Waiting != 0 && w.ID >= p.Waiting {
			break
		}
		needs := jobclass.ParseTokens(w.Needs)
		rule, ruled := p.Rules.ruleFor(jobclass.Class(w.Class))
		if ruled && rule.Target.Local {
			continue
		}
		var cands []int
		for i, h := range v.Hosts {
			if h.State != state.StateBad && h.State != state.StateDraining && rule.Target.matches(h.Host) && h.can(needs, v.Local) {
				cands = append(cands, i)
			}
		}
		if i, _, ok := pick(v.Hosts, cands, reserved); ok {
			reserved[v.Hosts[i].ID]++
		}
	}
	return reserved
}

// QueuePosition is a waiter's place among the live waiters (1: next), 0
// when the row is not (or no longer) queued.
func (v View) QueuePosition(id int64) int {
	for i, w := range v.Queue {
		if w.ID == id {
			return i + 1
		}
	}
	return 0
}
