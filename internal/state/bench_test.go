package state_test

import (
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// The shim's per-call database work: open, select-and-record, release.
func BenchmarkOpen(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, _ := state.Init(ctx, o)
	s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := state.Open(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, _ := state.Init(ctx, o)
	defer s.Close()
	for _, h := range []string{"a", "b", "c", "d"} {
		s.AddHost(ctx, h, "", 1, time.Now())
	}
	claim := state.Claim{PID: 1, Owner: "x", Cmd: "ffmpeg -version", Now: time.Now()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
}
