package state_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Every by-key operation on a host that is gone says so and leaves alone the
// host whose server name and hostname are that id's digits. SQLite gives
// that new host the removed id itself; PostgreSQL the next one: both are
// covered by the same test.
func TestByKeyNeverReachesAnotherHost(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		var hosts []state.Host
		for _, n := range []string{"a", "b", "c"} {
			h, err := s.AddHost(ctx, n+".lan", n, 2, now)
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, h)
		}
		gone := hosts[2].Key()
		if _, err := s.RemoveHostByKey(ctx, gone); err != nil {
			t.Fatal(err)
		}
		digits := strconv.FormatInt(gone.ID, 10)
		decoy, err := s.AddHost(ctx, digits, digits, 5, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: state.Claim{PID: 7, Owner: "o", Cmd: "ffmpeg", Now: now}}, pick(decoy.ID)); err != nil {
			t.Fatal(err)
		}
		ops := map[string]func() error{
			"SetWeightByKey": func() error { _, err := s.SetWeightByKey(ctx, gone, 3); return err },
			"AddWeightByKey": func() error { _, err := s.AddWeightByKey(ctx, gone, 1); return err },
			"SetDrainByKey":  func() error { _, err := s.SetDrainByKey(ctx, gone, true); return err },
			"RemoveHostByKey": func() error {
				_, err := s.RemoveHostByKey(ctx, gone)
				return err
			},
			"ClearByKey": func() error { _, err := s.ClearByKey(ctx, gone, false); return err },
		}
		for name, op := range ops {
			err := op()
			if !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "host no longer exists") {
				t.Errorf("%s on a removed id: %v", name, err)
			}
		}
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := snap.Hosts[len(snap.Hosts)-1]
		if len(snap.Hosts) != 3 || got.Servername != digits || got.Weight != 5 || got.Drain || len(snap.Processes) != 1 {
			t.Errorf("the decoy host changed: %+v, processes %+v", snap.Hosts, snap.Processes)
		}
	})
}

func TestByKeyOperations(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHost(ctx, "a.lan", "a", 2, now)
		b, _ := s.AddHost(ctx, "b.lan", "b", 1, now)
		weights := []struct {
			delta, want int
		}{{+1, 3}, {-1, 2}, {-1, 1}, {-1, 1}, {-5, 1}, {+4, 5}}
		for _, w := range weights {
			h, err := s.AddWeightByKey(ctx, a.Key(), w.delta)
			if err != nil || h.Weight != w.want {
				t.Errorf("AddWeightByKey(%+d) = %d, %v; want %d", w.delta, h.Weight, err, w.want)
			}
		}
		if h, err := s.SetWeightByKey(ctx, a.Key(), 7); err != nil || h.Weight != 7 {
			t.Errorf("SetWeightByKey = %+v, %v", h, err)
		}
		if _, err := s.SetWeightByKey(ctx, a.Key(), 0); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("SetWeightByKey 0: %v", err)
		}
		if h, err := s.SetDrainByKey(ctx, b.Key(), true); err != nil || !h.Drain {
			t.Errorf("SetDrainByKey = %+v, %v", h, err)
		}
		claim := state.Claim{PID: 9, Owner: "o", Cmd: "ffmpeg", Now: now}
		for _, id := range []int64{a.ID, b.ID, state.LocalHostID} {
			if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkBad(ctx, a.ID, claim, "refused"); err != nil {
			t.Fatal(err)
		}
		clears := []struct {
			key     state.HostKey
			onlyBad bool
			want    state.Cleared
		}{
			{a.Key(), true, state.Cleared{States: 1}},
			{a.Key(), false, state.Cleared{Processes: 1, States: 1}},
			{state.HostKey{ID: state.LocalHostID}, false, state.Cleared{Processes: 1, States: 1}},
		}
		for _, c := range clears {
			if got, err := s.ClearByKey(ctx, c.key, c.onlyBad); err != nil || got != c.want {
				t.Errorf("ClearByKey(%+v, %v) = %+v, %v; want %+v", c.key, c.onlyBad, got, err, c.want)
			}
		}
		removed, err := s.RemoveHostByKey(ctx, b.Key())
		if err != nil || removed.ID != b.ID || removed.Servername != "b" {
			t.Errorf("RemoveHostByKey = %+v, %v", removed, err)
		}
		snap, _ := s.Snapshot(ctx)
		if len(snap.Hosts) != 1 || len(snap.Processes) != 0 || len(snap.Marks) != 0 {
			t.Errorf("after clears and remove: %+v %+v %+v", snap.Hosts, snap.Processes, snap.Marks)
		}
		if c, err := s.ClearAll(ctx, false); err != nil || c != (state.Cleared{}) {
			t.Errorf("ClearAll on nothing: %+v, %v", c, err)
		}
	})
}
