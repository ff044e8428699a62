package selector

import (
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func host(id int64, weight int) state.Host {
	return state.Host{ID: id, Hostname: "h" + string(rune('0'+id)), Servername: "h" + string(rune('0'+id)), Weight: weight}
}

func procs(hostID int64, n int, firstID int64) []state.Process {
	var out []state.Process
	for i := 0; i < n; i++ {
		out = append(out, state.Process{ID: firstID + int64(i), HostID: hostID, PID: 1000 + int(firstID) + i, Owner: "m|b|1"})
	}
	return out
}

func concat(ps ...[]state.Process) []state.Process {
	var out []state.Process
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name     string
		snap     state.Snapshot
		fallback bool
		wantID   int64
		wantNone bool
		wantWhy  Reason
	}{
		{"no hosts, fallback", state.Snapshot{}, true, 0, false, ReasonFallback},
		{"no hosts, fallback off", state.Snapshot{}, false, 0, true, ReasonNone},
		{"first idle wins", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)}}, true, 1, false, ReasonIdle},
		{"idle beats earlier busy", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)}, Processes: procs(1, 1, 1)}, true, 2, false, ReasonIdle},
		{"least busy", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)}, Processes: concat(procs(1, 3, 1), procs(2, 2, 10))}, true, 2, false, ReasonLeastBusy},
		{"ties go to the lower id", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)}, Processes: concat(procs(1, 2, 1), procs(2, 2, 10))}, true, 1, false, ReasonLeastBusy},
		{"weight floors the count", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 5)}, Processes: concat(procs(1, 1, 1), procs(2, 4, 10))}, true, 2, false, ReasonLeastBusy},
		{"weight floor reached", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 5)}, Processes: concat(procs(1, 1, 1), procs(2, 5, 10))}, true, 1, false, ReasonLeastBusy},
		{"bad host skipped", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)},
			Marks: []state.Mark{{ID: 1, HostID: 1, State: state.StateBad, Created: now.Add(-time.Second), Owner: "m|b|1"}}}, true, 2, false, ReasonIdle},
		{"expired bad mark ignored", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)},
			Marks: []state.Mark{{ID: 1, HostID: 1, State: state.StateBad, Created: now.Add(-2 * time.Minute), Owner: "m|b|1"}}}, true, 1, false, ReasonIdle},
		{"all bad: fallback", state.Snapshot{Hosts: []state.Host{host(1, 1)},
			Marks: []state.Mark{{ID: 1, HostID: 1, State: state.StateBad, Created: now}}}, true, 0, false, ReasonFallback},
		{"draining skipped", state.Snapshot{Hosts: []state.Host{func() state.Host { h := host(1, 1); h.Drain = true; return h }(), host(2, 1)},
			Processes: procs(2, 3, 1)}, true, 2, false, ReasonLeastBusy},
		{"localhost never bad", state.Snapshot{Hosts: []state.Host{{ID: 1, Hostname: "localhost", Servername: "localhost", Weight: 1}},
			Marks: []state.Mark{{ID: 1, HostID: 1, State: state.StateBad, Created: now}}}, false, 1, false, ReasonIdle},
		{"dead jobs do not count", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1)},
			Processes: concat(procs(1, 1, 1), []state.Process{{ID: 5, HostID: 2, PID: 99, Owner: "dead"}})}, true, 2, false, ReasonIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Now: now, BadTTL: time.Minute, Fallback: tt.fallback,
				Dead: func(pid int, owner string, _ time.Time) bool { return owner == "dead" }}
			id, none, why := p.Choose(p.Classify(tt.snap))
			if id != tt.wantID || none != tt.wantNone || why != tt.wantWhy {
				t.Errorf("got (%d, %v, %q), want (%d, %v, %q)", id, none, why, tt.wantID, tt.wantNone, tt.wantWhy)
			}
		})
	}
}

func TestClassifyReaps(t *testing.T) {
	snap := state.Snapshot{
		Hosts: []state.Host{host(1, 1), host(2, 2)},
		Processes: []state.Process{
			{ID: 1, HostID: 1, PID: 10, Owner: "alive"},
			{ID: 2, HostID: 1, PID: 11, Owner: "dead"},
			{ID: 3, HostID: 0, PID: 12, Owner: "alive"},
			{ID: 4, HostID: 7, PID: 13, Owner: "alive"},
		},
		Marks: []state.Mark{
			{ID: 1, HostID: 1, PID: 10, State: state.StateActive, Owner: "alive"},
			{ID: 2, HostID: 1, PID: 11, State: state.StateActive, Owner: "dead"},
			{ID: 3, HostID: 2, PID: 10, State: state.StateBad, Owner: "alive", Created: now.Add(-30 * time.Second), Reason: "refused"},
			{ID: 4, HostID: 2, PID: 10, State: state.StateBad, Owner: "alive", Created: now.Add(-90 * time.Second)},
			{ID: 5, HostID: 2, PID: 11, State: state.StateBad, Owner: "dead"}, // the original's mark, writer gone
		},
	}
	p := Policy{Now: now, BadTTL: time.Minute, Dead: func(_ int, owner string, _ time.Time) bool { return owner == "dead" }}
	v := p.Classify(snap)
	if got, want := v.DeadProcesses, []int64{2}; !equal(got, want) {
		t.Errorf("dead processes %v, want %v", got, want)
	}
	if got, want := v.DeadMarks, []int64{2, 4, 5}; !equal(got, want) {
		t.Errorf("dead marks %v, want %v", got, want)
	}
	if v.Hosts[0].State != state.StateActive || len(v.Hosts[0].Processes) != 1 {
		t.Errorf("host 1: %+v", v.Hosts[0])
	}
	h2 := v.Hosts[1]
	if h2.State != state.StateBad || h2.Bad == nil || h2.Bad.Reason != "refused" || !h2.BadUntil.Equal(now.Add(30*time.Second)) {
		t.Errorf("host 2: %+v", h2)
	}
	if len(v.Fallback) != 1 || v.Fallback[0].ID != 3 || len(v.Orphans) != 1 || v.Orphans[0].ID != 4 {
		t.Errorf("fallback %v orphans %v", v.Fallback, v.Orphans)
	}
}

// Spreading: applying the policy job after job, as Acquire does under its
// lock, gives each host its weighted share.
func TestSpreadByWeight(t *testing.T) {
	snap := state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 3)}}
	p := Policy{Now: now, BadTTL: time.Minute}
	count := map[int64]int{}
	for i := 0; i < 8; i++ {
		d := p.Decide(snap)
		count[d.HostID]++
		snap.Processes = append(snap.Processes, state.Process{ID: int64(i + 1), HostID: d.HostID, PID: i})
	}
	if count[1] != 2 || count[2] != 6 {
		t.Errorf("spread %v, want host1=2 host2=6", count)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
