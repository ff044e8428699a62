package state_test

import (
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A host's access mode is recorded and read back; a host without a row is
// reached with the wrapper; a row left for a removed host does not attach
// to the next host that gets its id; init drops the table with ours.
func TestHostAccess(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHost(ctx, "a.lan", "", 1, now)
		b, _ := s.AddHost(ctx, "b.lan", "", 1, now)
		if err := s.SetHostAccess(ctx, a.ID, state.AccessAgent); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostAccess(ctx, b.ID, state.AccessPlain); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostAccess(ctx, b.ID, "shell"); err == nil {
			t.Errorf("an unknown mode was recorded")
		}
		for _, tt := range []struct {
			id   int64
			want string
		}{{a.ID, state.AccessAgent}, {b.ID, state.AccessPlain}, {999, state.AccessWrapper}} {
			got, err := s.HostAccess(ctx, tt.id)
			if err != nil || got != tt.want {
				t.Errorf("host %d: got %q, %v; want %q", tt.id, got, err, tt.want)
			}
		}
		// Back to the wrapper (an agent removed from the host).
		s.SetHostAccess(ctx, a.ID, state.AccessWrapper)
		if got, _ := s.HostAccess(ctx, a.ID); got != state.AccessWrapper {
			t.Errorf("after reset: %q", got)
		}
		// The original's remove leaves our row; a new host may reuse the id.
		if _, err := s.RemoveHosts(ctx, "b.lan"); err != nil {
			t.Fatal(err)
		}
		c, _ := s.AddHost(ctx, "c.lan", "", 1, now)
		if got, _ := s.HostAccess(ctx, c.ID); got != state.AccessWrapper {
			t.Errorf("new host %d (b's id %d?) inherited mode %q", c.ID, b.ID, got)
		}
	})
}
