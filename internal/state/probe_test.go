package state_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A refresh is claimed once across callers; a never-probed machine reads
// as not probed; forgetting makes a host unprobed again.
func TestProbeClaims(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, err := s.AddHost(ctx, "gpu1.lan", "gpu1", 1, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetCapabilities(ctx, h.Key(), []string{"cuda"}, now); err != nil {
			t.Fatal(err)
		}
		later := now.Add(7 * time.Hour)
		for i, want := range []bool{true, false} { // the second caller finds it claimed
			ok, err := s.ClaimProbe(ctx, h.ID, later.Add(-6*time.Hour), later)
			if err != nil || ok != want {
				t.Errorf("claim %d: got %v, %v; want %v", i, ok, err, want)
			}
		}
		got, _ := s.Host(ctx, h.ID)
		if !got.ProbedAt.Equal(later) || !reflect.DeepEqual(got.Capabilities, []string{"cuda"}) {
			t.Errorf("claimed host: %v %q (the capabilities stay until the answer)", got.ProbedAt, got.Capabilities)
		}
		if err := s.ForgetCapabilities(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Host(ctx, h.ID); !got.ProbedAt.IsZero() || got.Capabilities != nil {
			t.Errorf("forgotten: %v %q", got.ProbedAt, got.Capabilities)
		}
		if _, ok, err := s.MachineCapabilities(ctx, "m1"); ok || err != nil {
			t.Errorf("never probed machine: %v, %v", ok, err)
		}
		if ok, err := s.ClaimMachineProbe(ctx, "m1", now, now); ok || err != nil {
			t.Errorf("a machine without a row is not claimed: %v, %v", ok, err)
		}
		s.SetMachineCapabilities(ctx, "m1", []string{"enc:libx264"}, now)
		m, ok, err := s.MachineCapabilities(ctx, "m1")
		if !ok || err != nil || !reflect.DeepEqual(m.Capabilities, []string{"enc:libx264"}) || !m.ProbedAt.Equal(now) {
			t.Errorf("machine: %+v %v %v", m, ok, err)
		}
		for i, want := range []bool{true, false} {
			if ok, err := s.ClaimMachineProbe(ctx, "m1", later.Add(-6*time.Hour), later); ok != want || err != nil {
				t.Errorf("machine claim %d: got %v, %v; want %v", i, ok, err, want)
			}
		}
	})
}

func TestPathMaps(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"/srv/media:/mnt/media", "/srv/media:/mnt/media", false},
		{"/srv/media/:/mnt/media/, /srv/media/tv:/tv", "/srv/media/tv:/tv,/srv/media:/mnt/media", false},
		{"", "", false},
		{"srv:/mnt", "", true},
		{"/srv", "", true},
		{"/srv:/a\nb", "", true},
	} {
		m, err := state.ParsePathMaps(tc.in)
		if got := state.FormatPathMaps(m); got != tc.want || (err != nil) != tc.bad {
			t.Errorf("%q: got %q, %v; want %q, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
		if tc.bad && !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%q: %v is not ErrInvalid", tc.in, err)
		}
	}
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "nas.lan", "nas", 1, now)
		m, _ := state.ParsePathMaps("/srv/media:/mnt/media")
		if _, err := s.SetPathMaps(ctx, "nas", m); err != nil {
			t.Fatal(err)
		}
		if got, err := s.PathMaps(ctx, h.ID); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("read %+v, %v", got, err)
		}
		// A new host with the removed one's id does not inherit its map.
		s.RemoveHosts(ctx, "nas")
		h2, _ := s.AddHost(ctx, "other.lan", "other", 1, now)
		if got, err := s.PathMaps(ctx, h2.ID); err != nil || got != nil {
			t.Errorf("host %d (id reused: %v) has %+v, %v", h2.ID, h2.ID == h.ID, got, err)
		}
		if _, err := s.SetPathMaps(ctx, "other", m); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPathMaps(ctx, "other", nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.PathMaps(ctx, h2.ID); got != nil {
			t.Errorf("cleared map reads %+v", got)
		}
	})
}
