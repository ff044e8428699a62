package selector_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// Load on a real database: the view leaves out a dead writer's rows and
// deletes them; a live one's stay.
func TestLoadReaps(t *testing.T) {
	ctx := context.Background()
	o := statetest.NewSQLite(t)
	s, err := state.Init(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddHost(ctx, "gpu1.lan", "", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw := statetest.Raw(t, o)
	defer raw.Close()
	for _, pid := range []int{os.Getpid(), 999999991} {
		if _, err := raw.Exec(`INSERT INTO processes (host_id, process_id, cmd) VALUES (1, ?, 'ffmpeg')`, pid); err != nil {
			t.Fatal(err)
		}
	}
	dead := func(pid int, _ string, _ time.Time) bool { return pid != os.Getpid() }
	v, err := selector.Load(ctx, s, selector.Policy{Now: time.Now(), Dead: dead})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(v.Hosts[0].Processes); got != 1 || v.Hosts[0].Processes[0].PID != os.Getpid() {
		t.Errorf("view: %d processes %+v", got, v.Hosts[0].Processes)
	}
	snap, _ := s.Snapshot(ctx)
	if got, want := len(snap.Processes), 1; got != want {
		t.Errorf("rows after Load: got %d, want %d (the dead one reaped)", got, want)
	}
}

func TestBadNote(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    selector.HostView
		sep  string
		want string
	}{
		{selector.HostView{}, ", ", ""},
		{selector.HostView{Bad: &state.Mark{PID: 42}}, ", ", "by PID 42"},
		{selector.HostView{Bad: &state.Mark{PID: 42, Reason: "refused", Created: now.Add(-65 * time.Second)}, BadUntil: now.Add(55 * time.Second)},
			", ", "refused, by PID 42, 1m5s ago, retry in 55s"},
		{selector.HostView{Bad: &state.Mark{PID: 7, Reason: "x", Created: now.Add(-time.Second)}}, " · ", "x · by PID 7 · 1s ago"},
	} {
		if got := tc.h.BadNote(now, tc.sep, nil); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
