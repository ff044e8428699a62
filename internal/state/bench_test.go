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

// A whole shim call's database work on a hot (shim) connection, one call at
// a time as the media server makes them: open, select-and-record, release
// with the history row, close. Each phase's mean is reported besides the
// total (ns/op), so a change can be measured where it acts.
func BenchmarkHotCall(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, _ := state.Init(ctx, o)
	for _, h := range []string{"a", "b", "c", "d"} {
		s.AddHost(ctx, h, "", 1, time.Now())
	}
	s.Close()
	o.Hot = true
	var open, acquire, release, closing time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s, err := state.Open(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		claim := state.Claim{PID: 1, Owner: "x", Cmd: "ffmpeg -version", Now: time.Now()}
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := s.ReleaseAndRecord(ctx, l, state.JobRecord{HostID: l.HostID, Class: "other", Command: "ffmpeg -version", Started: claim.Now}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		s.Close()
		t4 := time.Now()
		open, acquire, release, closing = open+t1.Sub(t0), acquire+t2.Sub(t1), release+t3.Sub(t2), closing+t4.Sub(t3)
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Microseconds())/n, "open-µs")
	b.ReportMetric(float64(acquire.Microseconds())/n, "acquire-µs")
	b.ReportMetric(float64(release.Microseconds())/n, "release-µs")
	b.ReportMetric(float64(closing.Microseconds())/n, "close-µs")
}
