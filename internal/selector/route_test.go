package selector

import (
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hostWith is host(id, 1) with properties set by fn.
func hostWith(id int64, fn func(*state.Host)) state.Host {
	h := host(id, 1)
	fn(&h)
	return h
}

func maxJobs(n int) func(*state.Host) { return func(h *state.Host) { h.MaxJobs = n } }

func probed(caps ...string) func(*state.Host) {
	return func(h *state.Host) { h.Capabilities, h.ProbedAt = caps, now.Add(-time.Hour) }
}

func tags(t ...string) func(*state.Host) { return func(h *state.Host) { h.Tags = t } }

func prio(n int) func(*state.Host) { return func(h *state.Host) { h.Priority = n } }

func all(fns ...func(*state.Host)) func(*state.Host) {
	return func(h *state.Host) {
		for _, f := range fns {
			f(h)
		}
	}
}

func job(tool, args string) jobclass.Job { return jobclass.Of(tool, strings.Fields(args)) }

var (
	nvencJob = job("ffmpeg", "-init_hw_device cuda=cu:0 -hwaccel cuda -i in.mkv -c:v h264_nvenc -f hls out.m3u8")
	vaapiJob = job("ffmpeg", "-hwaccel vaapi -i in.mkv -c:v h264_vaapi out.ts")
	softJob  = job("ffmpeg", "-i in.mkv -c:v mpeg4 out.ts") // a native encoder: every build has it
	probeJob = job("ffprobe", "-v warning -print_format json -show_streams in.mkv")
	nvidia   = probed("cuda", "enc:h264_nvenc")
	intel    = probed("vaapi", "enc:h264_vaapi")
)

func rules(t *testing.T, whenFull string, queueMax int, rs ...string) Rules {
	r, err := ParseRules(whenFull, queueMax, rs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoute(t *testing.T) {
	localNone := []state.Machine{{Machine: "me", ProbedAt: now}}                                                   // probed: no hardware
	localCuda := []state.Machine{{Machine: "me", Capabilities: []string{"cuda", "enc:h264_nvenc"}, ProbedAt: now}} // probed: a GPU here
	type want struct {
		id   int64
		none bool
		wait bool
		why  Reason
	}
	tests := []struct {
		name     string
		snap     state.Snapshot
		rules    Rules
		job      jobclass.Job
		fallback bool
		waiting  int64
		want     want
	}{
		// Requirements.
		{"nvenc goes to the host that has it", state.Snapshot{Hosts: []state.Host{hostWith(1, intel), hostWith(2, nvidia)}},
			Rules{}, nvencJob, true, 0, want{id: 2, why: ReasonIdle}},
		{"vaapi to intel even when busier", state.Snapshot{Hosts: []state.Host{hostWith(1, nvidia), hostWith(2, intel)}, Processes: procs(2, 3, 1)},
			Rules{}, vaapiJob, true, 0, want{id: 2, why: ReasonLeastBusy}},
		{"software job anywhere", state.Snapshot{Hosts: []state.Host{hostWith(1, intel), hostWith(2, nvidia)}, Processes: procs(1, 1, 1)},
			Rules{}, softJob, true, 0, want{id: 2, why: ReasonIdle}},
		{"never-probed host assumed capable (the original's behaviour)", state.Snapshot{Hosts: []state.Host{host(1, 1)}},
			Rules{}, nvencJob, true, 0, want{id: 1, why: ReasonIdle}},
		{"a tag stands in for a capability", state.Snapshot{Hosts: []state.Host{hostWith(1, all(probed(), tags("cuda", "enc:h264_nvenc")))}},
			Rules{}, nvencJob, true, 0, want{id: 1, why: ReasonIdle}},
		{"nobody has it, local unknown: fallback", state.Snapshot{Hosts: []state.Host{hostWith(1, intel)}},
			Rules{}, nvencJob, true, 0, want{id: 0, why: ReasonFallback}},
		{"nobody has it, local probed without it: refused", state.Snapshot{Hosts: []state.Host{hostWith(1, intel)}, Machines: localNone},
			Rules{}, nvencJob, true, 0, want{none: true, why: ReasonUnsatisfied}},
		{"nobody has it, local has it: fallback", state.Snapshot{Hosts: []state.Host{hostWith(1, intel)}, Machines: localCuda},
			Rules{}, nvencJob, true, 0, want{id: 0, why: ReasonFallback}},
		{"capable host bad, local lacks it: refused", state.Snapshot{Hosts: []state.Host{hostWith(1, nvidia)}, Machines: localNone,
			Marks: []state.Mark{{ID: 1, HostID: 1, State: state.StateBad, Created: now}}},
			Rules{}, nvencJob, true, 0, want{none: true, why: ReasonUnsatisfied}},
		{"localhost host has this machine's capabilities", state.Snapshot{Hosts: []state.Host{hostWith(1, intel),
			{ID: 2, Hostname: "localhost", Servername: "lh", Weight: 1}}, Machines: localCuda},
			Rules{}, nvencJob, true, 0, want{id: 2, why: ReasonIdle}},

		// Capacity.
		{"full host skipped", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2)), hostWith(2, maxJobs(5))}, Processes: concat(procs(1, 2, 1), procs(2, 4, 10))},
			Rules{}, softJob, true, 0, want{id: 2, why: ReasonLeastBusy}},
		{"max_jobs 0 is no limit", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(0))}, Processes: procs(1, 50, 1)},
			Rules{}, softJob, true, 0, want{id: 1, why: ReasonLeastBusy}},
		{"all full: fallback (default)", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1)},
			Rules{}, softJob, true, 0, want{id: 0, why: ReasonFull}},
		{"all full, fallback off: none", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1)},
			Rules{}, softJob, false, 0, want{none: true, why: ReasonNone}},
		{"all full: reject", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1)},
			rules(t, "reject", 0), softJob, true, 0, want{none: true, why: ReasonRejectFull}},
		{"all full: wait", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1)},
			rules(t, "wait", 0), softJob, true, 0, want{wait: true, why: ReasonWait}},
		{"all full, queue full: fallback", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 1, PID: 5}, {ID: 2, PID: 6}}},
			rules(t, "wait", 2), softJob, true, 0, want{id: 0, why: ReasonQueueFull}},
		{"already queued: keeps waiting though the queue is full", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 1, PID: 5}, {ID: 2, PID: 6}}},
			rules(t, "wait", 2), softJob, true, 2, want{wait: true, why: ReasonWait}},
		{"full nvidia, local lacks cuda: refused, not run locally", state.Snapshot{Hosts: []state.Host{hostWith(1, all(nvidia, maxJobs(1)))}, Processes: procs(1, 1, 1), Machines: localNone},
			Rules{}, nvencJob, true, 0, want{none: true, why: ReasonUnsatisfied}},

		// FIFO: a free slot goes to the oldest waiter that can use it.
		{"newcomer queues behind an older waiter", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 7, PID: 5}}},
			rules(t, "wait", 0), softJob, true, 0, want{wait: true, why: ReasonWait}},
		{"the oldest waiter gets the slot", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 7, PID: 5}, {ID: 8, PID: 6}}},
			rules(t, "wait", 0), softJob, true, 7, want{id: 1, why: ReasonLeastBusy}},
		{"the second waiter waits for the first", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 7, PID: 5}, {ID: 8, PID: 6}}},
			rules(t, "wait", 0), softJob, true, 8, want{wait: true, why: ReasonWait}},
		{"an older waiter for other hardware does not block", state.Snapshot{Hosts: []state.Host{hostWith(1, all(nvidia, maxJobs(1))), hostWith(2, all(intel, maxJobs(1)))},
			Processes: procs(1, 1, 1), Queue: []state.Waiter{{ID: 7, PID: 5, Needs: []string{"cuda", "enc:h264_nvenc"}}}},
			rules(t, "wait", 0), vaapiJob, true, 0, want{id: 2, why: ReasonIdle}},
		{"a dead waiter reserves nothing", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2))}, Processes: procs(1, 1, 1),
			Queue: []state.Waiter{{ID: 7, PID: 5, Owner: "dead"}}},
			rules(t, "wait", 0), softJob, true, 0, want{id: 1, why: ReasonLeastBusy}},

		// Hosts that sleep: a bad host with a Wake-on-LAN address is woken
		// rather than running elsewhere or failing.
		{"all full, a sleeper: wake it", state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(1)), hostWith(2, func(h *state.Host) { h.WoLMAC = "aa:bb:cc:dd:ee:ff" })},
			Processes: procs(1, 1, 1), Marks: []state.Mark{{ID: 1, HostID: 2, State: state.StateBad, Created: now}}},
			Rules{}, softJob, true, 0, want{wait: true, why: ReasonWake}},
		{"a sleeper without what the job needs stays asleep", state.Snapshot{Hosts: []state.Host{hostWith(2, all(intel, func(h *state.Host) { h.WoLMAC = "aa:bb:cc:dd:ee:ff" }))},
			Marks: []state.Mark{{ID: 1, HostID: 2, State: state.StateBad, Created: now}}},
			Rules{}, nvencJob, true, 0, want{id: 0, why: ReasonFallback}},
		{"a host that did not wake is not woken again", state.Snapshot{Hosts: []state.Host{hostWith(2, func(h *state.Host) { h.WoLMAC = "aa:bb:cc:dd:ee:ff" })},
			Marks: []state.Mark{{ID: 1, HostID: 2, State: state.StateBad, Created: now, Reason: WakeFailed + " within 60s"}}},
			Rules{}, softJob, true, 0, want{id: 0, why: ReasonFallback}},
		{"an awake host first", state.Snapshot{Hosts: []state.Host{host(1, 1), hostWith(2, func(h *state.Host) { h.WoLMAC = "aa:bb:cc:dd:ee:ff" })},
			Marks: []state.Mark{{ID: 1, HostID: 2, State: state.StateBad, Created: now}}},
			Rules{}, softJob, true, 0, want{id: 1, why: ReasonIdle}},

		// Priority tiers.
		{"lower priority number first, even when busier", state.Snapshot{Hosts: []state.Host{hostWith(1, prio(10)), hostWith(2, all(prio(0), maxJobs(3)))}, Processes: procs(2, 2, 1)},
			Rules{}, softJob, true, 0, want{id: 2, why: ReasonLeastBusy}},
		{"next tier only when the first is full", state.Snapshot{Hosts: []state.Host{hostWith(1, prio(10)), hostWith(2, all(prio(0), maxJobs(2)))}, Processes: procs(2, 2, 1)},
			Rules{}, softJob, true, 0, want{id: 1, why: ReasonIdle}},
		{"a bad preferred host: next tier", state.Snapshot{Hosts: []state.Host{hostWith(1, prio(1)), hostWith(2, prio(0))},
			Marks: []state.Mark{{ID: 1, HostID: 2, State: state.StateBad, Created: now}}},
			Rules{}, softJob, true, 0, want{id: 1, why: ReasonIdle}},

		// Class rules.
		{"probes local", state.Snapshot{Hosts: []state.Host{host(1, 1)}},
			rules(t, "", 0, "probe=local"), probeJob, false, 0, want{id: 0, why: ReasonClassLocal}},
		{"a rule for another class leaves probes alone", state.Snapshot{Hosts: []state.Host{host(1, 1)}},
			rules(t, "", 0, "image=local"), probeJob, true, 0, want{id: 1, why: ReasonIdle}},
		{"transcodes to the tag", state.Snapshot{Hosts: []state.Host{host(1, 1), hostWith(2, tags("gpu"))}},
			rules(t, "", 0, "probe=local", "transcode=tag:gpu"), softJob, true, 0, want{id: 2, why: ReasonIdle}},
		{"transcodes to a named host", state.Snapshot{Hosts: []state.Host{host(1, 1), host(2, 1), host(3, 1)}},
			rules(t, "", 0, "transcode=host:h3"), softJob, true, 0, want{id: 3, why: ReasonIdle}},
		{"tagged hosts full: when_full applies", state.Snapshot{Hosts: []state.Host{host(1, 1), hostWith(2, all(tags("gpu"), maxJobs(1)))}, Processes: procs(2, 1, 1)},
			rules(t, "reject", 0, "transcode=tag:gpu"), softJob, true, 0, want{none: true, why: ReasonRejectFull}},
		{"no host with the tag: fallback", state.Snapshot{Hosts: []state.Host{host(1, 1)}},
			rules(t, "", 0, "transcode=tag:gpu"), softJob, true, 0, want{id: 0, why: ReasonFallback}},
		{"local rule for a job this machine cannot run: refused", state.Snapshot{Hosts: []state.Host{hostWith(1, nvidia)}, Machines: localNone},
			rules(t, "", 0, "transcode=local"), nvencJob, true, 0, want{none: true, why: ReasonUnsatisfied}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Now: now, BadTTL: time.Minute, Fallback: tt.fallback, Rules: tt.rules, Job: tt.job, Machine: "me", Waiting: tt.waiting,
				Dead: func(pid int, owner string, _ time.Time) bool { return owner == "dead" }}
			r := p.Route(p.Classify(tt.snap))
			got := want{id: r.HostID, none: r.None, wait: r.Wait, why: r.Why}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if r.Why == ReasonUnsatisfied && (r.Needs == "" || !strings.Contains(r.Refusal(), r.Needs)) {
				t.Errorf("a refusal must say what the job needs: %q", r.Refusal())
			}
			if (r.Wake != 0) != (r.Why == ReasonWake) {
				t.Errorf("wake %d with reason %q", r.Wake, r.Why)
			}
			if (r.Refusal() == "") != !r.None {
				t.Errorf("refusal %q for a route that runs or waits (none=%v)", r.Refusal(), r.None)
			}
		})
	}
}

// Capacity through Plan, job after job as Acquire applies it: the hosts
// fill to max_jobs, then the overflow goes where when_full says.
func TestPlanFillsToCapacity(t *testing.T) {
	for _, tc := range []struct {
		whenFull string
		want     map[int64]int // jobs per host after 15 calls; -1: refused, -2: waiting
	}{
		{"fallback", map[int64]int{1: 2, 2: 3, 3: 5, 0: 5}},
		{"reject", map[int64]int{1: 2, 2: 3, 3: 5, -1: 5}},
		{"wait", map[int64]int{1: 2, 2: 3, 3: 5, -2: 5}},
	} {
		snap := state.Snapshot{Hosts: []state.Host{hostWith(1, maxJobs(2)), hostWith(2, maxJobs(3)), hostWith(3, maxJobs(5))}}
		p := Policy{Now: now, BadTTL: time.Minute, Fallback: true, Rules: rules(t, tc.whenFull, 0)}
		got := map[int64]int{}
		for i := 0; i < 15; i++ {
			d, _, _ := p.Plan(snap)
			switch {
			case d.Wait:
				got[-2]++
				snap.Queue = append(snap.Queue, state.Waiter{ID: int64(i + 1), PID: i})
			case d.None:
				got[-1]++
			default:
				got[d.HostID]++
				snap.Processes = append(snap.Processes, state.Process{ID: int64(i + 1), HostID: d.HostID, PID: i})
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.whenFull, got, tc.want)
		}
		for k, n := range tc.want {
			if got[k] != n {
				t.Errorf("%s: got %v, want %v", tc.whenFull, got, tc.want)
				break
			}
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"probe=local", "probe=local", ""},
		{" transcode = tag:gpu ", "transcode=tag:gpu", ""},
		{"image=host:gpu1", "image=host:gpu1", ""},
		{"probe", "", "want CLASS=TARGET"},
		{"probes=local", "", `unknown class "probes"`},
		{"probe=remote", "", "is not local, tag:TAG or host:NAME"},
		{"probe=tag:", "", "is not local"},
		{"probe=tag:a,b", "", "only letters"},
	} {
		r, err := ParseRule(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || r.String() != tc.want):
			t.Errorf("%q: got %q %v, want %q", tc.in, r, err, tc.want)
		}
	}
	if _, err := ParseFullPolicy("sometimes"); err == nil {
		t.Error("a bad when_full was accepted")
	}
}

func TestCapacityText(t *testing.T) {
	for _, tc := range []struct {
		h    HostView
		want string
		full bool
	}{
		{HostView{Host: state.Host{MaxJobs: 4}, Processes: procs(1, 2, 1)}, "2/4", false},
		{HostView{Host: state.Host{MaxJobs: 2}, Processes: procs(1, 2, 1)}, "2/2", true},
		{HostView{Processes: procs(1, 3, 1)}, "3/-", false},
	} {
		if got := tc.h.Capacity(); got != tc.want || tc.h.Full() != tc.full {
			t.Errorf("got %q full=%v, want %q full=%v", got, tc.h.Full(), tc.want, tc.full)
		}
	}
}

func TestQueuePosition(t *testing.T) {
	p := Policy{Now: now, Dead: func(_ int, owner string, _ time.Time) bool { return owner == "dead" }}
	v := p.Classify(state.Snapshot{Queue: []state.Waiter{{ID: 3, Owner: "dead"}, {ID: 5}, {ID: 9}}})
	for _, tc := range []struct {
		id   int64
		want int
	}{{5, 1}, {9, 2}, {3, 0}, {4, 0}} {
		if got := v.QueuePosition(tc.id); got != tc.want {
			t.Errorf("position of %d: got %d, want %d", tc.id, got, tc.want)
		}
	}
	if len(v.DeadQueue) != 1 || v.DeadQueue[0] != 3 {
		t.Errorf("dead waiters %v, want [3]", v.DeadQueue)
	}
}
