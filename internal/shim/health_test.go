package shim

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A call's checks leave their rows in the health history: the failed check
// of a host that refuses, with its reason and latency, then its bad mark
// (written with the next selection), then the passed check of the host
// that runs the job; each says which frontend and PID wrote it. A call
// whose host's check is fresh writes none.
func TestChecksRecordHealth(t *testing.T) {
	w := newWorld(t, "", "a", "b")
	f := &fake{checks: map[string]remote.CheckResult{"a": {Code: 255, Reason: "connection refused"}}, checkWait: 30 * time.Millisecond}
	if got := w.call(f, "-i", "x"); got != 0 {
		t.Fatalf("exit %d", got)
	}
	evs, err := w.store.Health(context.Background(), state.HealthQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		host   string
		kind   string
		ok     bool
		reason string
	}
	var got []row
	for _, e := range evs {
		got = append(got, row{e.Servername, e.Kind, e.OK, e.Reason})
		if e.PID != os.Getpid() || e.Frontend == "" {
			t.Errorf("%s %s written by %q PID %d, want this machine and PID %d", e.Servername, e.Kind, e.Frontend, e.PID, os.Getpid())
		}
		if e.Kind == state.HealthCheck && (e.Latency < 30*time.Millisecond || e.Latency > 10*time.Second) {
			t.Errorf("%s's check took %v, want the check's 30 ms or a little more", e.Servername, e.Latency)
		}
	}
	// Newest first; a's check and mark may share a millisecond.
	want := map[row]bool{{"b", state.HealthCheck, true, ""}: true, {"a", state.HealthMark, false, "connection refused"}: true,
		{"a", state.HealthCheck, false, "connection refused"}: true}
	if len(got) != 3 || got[0] != (row{"b", state.HealthCheck, true, ""}) {
		t.Fatalf("health rows %+v, want b's passed check last of 3", got)
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected row %+v", r)
		}
	}
	if frontend, _, _ := strings.Cut(owner.Self().Machine, ":"); evs[0].Frontend != frontend {
		t.Errorf("frontend %q, want %q", evs[0].Frontend, frontend)
	}
	// b's check is fresh now: the next call checks nothing and writes no row.
	w.call(&fake{}, "-i", "y")
	if evs, _ := w.store.Health(context.Background(), state.HealthQuery{}); len(evs) != 3 {
		t.Errorf("%d rows after a call with a fresh check, want still 3", len(evs))
	}
}

// The check that finds a sleeping host awake is recorded too (passed, by
// this call), and the wake loop's failed checks of a host still asleep are
// not (they are expected, not the host's failures).
func TestWakeCheckRecordsHealth(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  commands:\n    fallback: false\n", "sleeper")
	sleeper(t, w)
	f := &fake{checks: map[string]remote.CheckResult{}, asleep: 1}
	if code := w.call(f, "-i", "in.mkv", "out.mp4"); code != 0 {
		t.Fatalf("exit %d\n%s", code, w.logText())
	}
	if f.asleep != 0 || !strings.Contains(w.logText(), "not awake yet") {
		t.Fatalf("the wake loop never saw the host asleep:\n%s", w.logText())
	}
	evs, err := w.store.Health(context.Background(), state.HealthQuery{Kind: state.HealthCheck})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || !evs[0].OK || evs[0].PID != os.Getpid() {
		t.Errorf("checks %+v, want the passed check that found the host awake, newest", evs)
	}
	for _, e := range evs {
		if !e.OK {
			t.Errorf("a failed check recorded while waking: %+v", e)
		}
	}
}
