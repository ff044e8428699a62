package state_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// brief is what a test compares of a health row.
type brief struct {
	Host       int64
	Name, Kind string
	Ago        time.Duration
	OK         bool
	Latency    time.Duration
	Frontend   string
	PID        int
	Reason     string
}

func briefs(evs []state.HealthEvent) []brief {
	out := []brief{}
	for _, e := range evs {
		out = append(out, brief{e.HostID, e.Servername, e.Kind, now.Sub(e.At), e.OK, e.Latency, e.Frontend, e.PID, e.Reason})
	}
	return out
}

// Checks (passed and failed) and bad marks (by MarkBad and by a
// selection's MarkBad) each leave a row, with who and why; the
// host's latest check and last error are recorded as before.
func TestHealthRecordAndQuery(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		for _, h := range []string{"gpu1", "gpu2"} {
			if _, err := s.AddHost(ctx, h+".lan", h, 1, now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		owner := "jf1:0123456789ab|boot|42"
		for _, c := range []state.CheckResult{
			{HostID: 1, At: now.Add(-10 * time.Minute), Latency: 42 * time.Millisecond, OK: true, Owner: owner, PID: 100},
			{HostID: 2, At: now.Add(-9 * time.Minute), Latency: time.Second, Reason: "timed out after 1s (host frozen or unreachable)", Owner: owner, PID: 101},
			{HostID: 1, At: now.Add(-5 * time.Minute), Latency: 1500 * time.Microsecond, OK: true, Owner: "jf2|b|1", PID: 102},
		} {
			if err := s.RecordCheck(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkBad(ctx, 2, state.Claim{PID: 101, Owner: owner, Now: now.Add(-9 * time.Minute)}, "connection refused"); err != nil {
			t.Fatal(err)
		}
		req := state.AcquireRequest{Claim: state.Claim{PID: 103, Owner: "jf2|b|2", Now: now.Add(-time.Minute)},
			MarkBad: &state.BadMark{HostID: 1, Reason: "connection lost while running (host frozen or unreachable)"}}
		if _, _, _, err := s.Acquire(ctx, req, statetest.LeastBusy); err != nil {
			t.Fatal(err)
		}
		all, err := s.Health(ctx, state.HealthQuery{})
		if err != nil {
			t.Fatal(err)
		}
		want := []brief{
			{1, "gpu1", "mark", time.Minute, false, -1, "jf2", 103, "connection lost while running (host frozen or unreachable)"},
			{1, "gpu1", "check", 5 * time.Minute, true, time.Millisecond, "jf2", 102, ""},
			{2, "gpu2", "mark", 9 * time.Minute, false, -1, "jf1", 101, "connection refused"},
			{2, "gpu2", "check", 9 * time.Minute, false, time.Second, "jf1", 101, "timed out after 1s (host frozen or unreachable)"},
			{1, "gpu1", "check", 10 * time.Minute, true, 42 * time.Millisecond, "jf1", 100, ""},
		}
		if got := briefs(all); !reflect.DeepEqual(got, want) {
			t.Errorf("health rows:\n got %+v\nwant %+v", got, want)
		}
		one := int64(1)
		for _, c := range []struct {
			name string
			q    state.HealthQuery
			want int
		}{
			{"host 1", state.HealthQuery{HostID: &one}, 3},
			{"marks", state.HealthQuery{Kind: state.HealthMark}, 2},
			{"host 1 checks", state.HealthQuery{HostID: &one, Kind: state.HealthCheck}, 2},
			{"since", state.HealthQuery{Since: now.Add(-6 * time.Minute)}, 2},
			{"limit", state.HealthQuery{Limit: 1}, 1},
		} {
			got, err := s.Health(ctx, c.q)
			if err != nil || len(got) != c.want {
				t.Errorf("%s: %d rows (%v), want %d", c.name, len(got), err, c.want)
			}
		}
		// What the hosts table keeps is as before.
		h2, err := s.Host(ctx, 2)
		if err != nil || h2.LastError != "connection refused" || !h2.CheckedAt.IsZero() {
			t.Errorf("host 2: last error %q, checked %v (%v)", h2.LastError, h2.CheckedAt, err)
		}
		if err := s.RecordCheck(ctx, state.CheckResult{HostID: 2, At: now, OK: true}); err != nil {
			t.Fatal(err)
		}
		if h2, _ = s.Host(ctx, 2); !h2.CheckedAt.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("host 2 checked at %v after a passed check, want %v", h2.CheckedAt, now)
		}
	})
}

// A row for a host that is gone is not written (nothing to attach it to),
// and the check does not fail for it.
func TestHealthRemovedHost(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		if err := s.RecordCheck(ctx, state.CheckResult{HostID: 7, At: now, OK: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkBad(ctx, 7, state.Claim{PID: 1, Now: now}, "connection refused"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Health(ctx, state.HealthQuery{}); err != nil || len(got) != 0 {
			t.Errorf("rows for a missing host: %+v (%v)", got, err)
		}
	})
}

// The rows are bounded as the history is: the count on every insert, the
// age on one insert in 32.
func TestHealthRetention(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		if _, err := s.AddHost(ctx, "gpu1.lan", "gpu1", 1, now); err != nil {
			t.Fatal(err)
		}
		s.SetHistoryRetention(state.Retention{Days: 1, MaxRows: 5})
		check := func(at time.Time) {
			t.Helper()
			if err := s.RecordCheck(ctx, state.CheckResult{HostID: 1, At: at, OK: true, Latency: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 1; i <= 12; i++ {
			check(now.Add(time.Duration(i) * time.Second))
			got, err := s.Health(ctx, state.HealthQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(i, 5); len(got) != want || got[0].ID != int64(i) {
				t.Fatalf("after %d checks: %d rows (newest %d), want %d", i, len(got), got[0].ID, want)
			}
		}
		s.SetHistoryRetention(state.Retention{Days: 2, MaxRows: 1000})
		for i := 13; i <= 31; i++ {
			check(now.Add(-72 * time.Hour))
		}
		if got, _ := s.Health(ctx, state.HealthQuery{}); len(got) != 24 {
			t.Fatalf("before the age prune: %d rows, want 24", len(got))
		}
		check(now.Add(time.Hour)) // id 32: the age prune
		got, _ := s.Health(ctx, state.HealthQuery{})
		var ids []int64
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if want := []int64{32, 12, 11, 10, 9, 8}; !reflect.DeepEqual(ids, want) {
			t.Errorf("after the age prune: ids %v, want %v", ids, want)
		}
	})
}

// A database at schema version 11 gains the table on open; the original's
// tables keep their columns (checked by TestHistoryMigration's helper).
func TestHealthMigration(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		if _, err := s.AddHost(ctx, "gpu1.lan", "gpu1", 1, now); err != nil {
			t.Fatal(err)
		}
		s.Close()
		db := statetest.Raw(t, o)
		for _, stmt := range []string{`DROP TABLE rffmpeg_health`, `UPDATE rffmpeg_schema SET version = 11`} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		s, err := state.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.RecordCheck(ctx, state.CheckResult{HostID: 1, At: now, OK: true}); err != nil {
			t.Fatalf("record after migration: %v", err)
		}
		if got, err := s.Health(ctx, state.HealthQuery{}); err != nil || len(got) != 1 {
			t.Errorf("after migration: %+v (%v)", got, err)
		}
		if n := countRows(t, o, `SELECT version FROM rffmpeg_schema`); n != state.SchemaVersion {
			t.Errorf("schema version %d, want %d", n, state.SchemaVersion)
		}
	})
}

// BenchmarkCheckWrite is what a passed check writes, before (MarkChecked)
// and with its health row (RecordCheck), on a table at its row bound.
func BenchmarkCheckWrite(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, err := state.Init(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	s.AddHost(ctx, "gpu1.lan", "gpu1", 1, time.Now())
	s.Close()
	o.Hot = true // as the shim opens it
	if s, err = state.Open(ctx, o); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.SetHistoryRetention(state.Retention{Days: 30, MaxRows: 1000})
	c := state.CheckResult{HostID: 1, At: time.Now(), Latency: 30 * time.Millisecond, OK: true, Owner: "jf|b|1", PID: 1}
	for range 1200 {
		s.RecordCheck(ctx, c)
	}
	b.Run("MarkChecked", func(b *testing.B) {
		for b.Loop() {
			c.At = c.At.Add(time.Millisecond) // a real change, as a new check's time is
			if err := s.MarkChecked(ctx, 1, c.At); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RecordCheck", func(b *testing.B) {
		for b.Loop() {
			if err := s.RecordCheck(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
