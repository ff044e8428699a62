package state_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// job is a finished job started at now+offset.
func job(host int64, name, class string, offset time.Duration, exit int, failure string) state.JobRecord {
	return state.JobRecord{HostID: host, Servername: name, Hostname: name + ".lan", Frontend: "jf1", Class: class,
		Command: "ffmpeg -i in.mkv out.ts", PID: 4242, Started: now.Add(offset), Duration: 1500 * time.Millisecond,
		ExitCode: exit, Failure: failure}
}

func ids(jobs []state.JobRecord) []int64 {
	out := []int64{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestHistoryRecordAndQuery(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		recs := []state.JobRecord{
			job(1, "gpu1", "transcode", 0, 0, ""),
			job(2, "gpu2", "probe", time.Minute, 1, state.FailFFmpeg),
			job(0, "localhost", "image", 2*time.Minute, 0, ""),
			job(1, "gpu1", "trickplay", 3*time.Minute, 255, state.FailConnect),
			job(1, "gpu1", "other", 4*time.Minute, 3, ""), // unclassified non-zero exit: still failed
		}
		recs[3].KilledBy = "alice (uid 1000)"
		recs[3].Command = "ffmpeg -i 'a\x1b[2Jb.mkv' \"\" -f null -"
		for _, r := range recs {
			if err := s.RecordJob(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.History(ctx, state.HistoryQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(all), []int64{5, 4, 3, 2, 1}; !reflect.DeepEqual(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
		for i, got := range all {
			want := recs[len(recs)-1-i]
			want.ID = got.ID
			if !got.Started.Equal(want.Started) {
				t.Errorf("job %d started %v, want %v", got.ID, got.Started, want.Started)
			}
			got.Started = want.Started
			if !reflect.DeepEqual(got, want) {
				t.Errorf("job %d:\n got %+v\nwant %+v", got.ID, got, want)
			}
		}
		zero, one := int64(0), int64(1)
		for _, c := range []struct {
			name string
			q    state.HistoryQuery
			want []int64
		}{
			{"limit", state.HistoryQuery{Limit: 2}, []int64{5, 4}},
			{"host 1", state.HistoryQuery{HostID: &one}, []int64{5, 4, 1}},
			{"fallback", state.HistoryQuery{HostID: &zero}, []int64{3}},
			{"by server name", state.HistoryQuery{HostName: "gpu2"}, []int64{2}},
			{"by hostname", state.HistoryQuery{HostName: "gpu1.lan", Limit: 1}, []int64{5}},
			{"failed", state.HistoryQuery{Failed: true}, []int64{5, 4, 2}},
			{"failed on host 1", state.HistoryQuery{Failed: true, HostID: &one}, []int64{5, 4}},
			{"since", state.HistoryQuery{Since: now.Add(2 * time.Minute)}, []int64{5, 4, 3}},
			{"nothing", state.HistoryQuery{HostName: "nope"}, []int64{}},
		} {
			got, err := s.History(ctx, c.q)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !reflect.DeepEqual(ids(got), c.want) {
				t.Errorf("%s: ids = %v, want %v", c.name, ids(got), c.want)
			}
		}
	})
}

func TestHistoryOutcome(t *testing.T) {
	for _, c := range []struct {
		exit    int
		failure string
		want    string
		failed  bool
	}{
		{0, "", state.OutcomeOK, false},
		{1, state.FailFFmpeg, "ffmpeg", true},
		{3, "", "error", true},
		{143, state.FailKilled, "killed", true},
	} {
		j := state.JobRecord{ExitCode: c.exit, Failure: c.failure}
		if got := j.Outcome(); got != c.want {
			t.Errorf("Outcome(%d, %q) = %q, want %q", c.exit, c.failure, got, c.want)
		}
		if got := j.Failed(); got != c.failed {
			t.Errorf("Failed(%d, %q) = %v, want %v", c.exit, c.failure, got, c.failed)
		}
	}
}

// A long command is cut to MaxJobCommand bytes on a character boundary.
func TestHistoryCommandCapped(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		j := job(1, "gpu1", "transcode", 0, 0, "")
		j.Command = "ffmpeg " + strings.Repeat("é", state.MaxJobCommand) // 2 bytes each
		if err := s.RecordJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		got, err := s.History(ctx, state.HistoryQuery{})
		if err != nil || len(got) != 1 {
			t.Fatalf("History = %v, %v", got, err)
		}
		c := got[0].Command
		if len(c) > state.MaxJobCommand || len(c) < state.MaxJobCommand-4 || !utf8.ValidString(c) || !strings.HasSuffix(c, "é…") {
			t.Errorf("capped command: %d bytes, valid %v, ends %q", len(c), utf8.ValidString(c), c[len(c)-8:])
		}
	})
}

// The count bound holds after every insert; the age bound is applied on
// one insert in 32 (by id), measured from the recording job's end.
func TestHistoryRetention(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		s.SetHistoryRetention(state.Retention{Days: 1, MaxRows: 5})
		for i := 1; i <= 12; i++ {
			if err := s.RecordJob(ctx, job(1, "gpu1", "probe", time.Duration(i)*time.Second, 0, "")); err != nil {
				t.Fatal(err)
			}
			got, err := s.History(ctx, state.HistoryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(i, 5); len(got) != want || got[0].ID != int64(i) {
				t.Fatalf("after %d inserts: %d rows (newest %v), want %d", i, len(got), ids(got), want)
			}
		}

		s.SetHistoryRetention(state.Retention{Days: 2, MaxRows: 1000})
		// Jobs 13..31 are 3 days old: kept until the 32nd insert prunes by age.
		for i := 13; i <= 31; i++ {
			if err := s.RecordJob(ctx, job(1, "gpu1", "probe", -72*time.Hour, 0, "")); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.History(ctx, state.HistoryQuery{})
		if len(got) != 24 {
			t.Fatalf("before the age prune: %d rows, want 24", len(got))
		}
		if err := s.RecordJob(ctx, job(1, "gpu1", "probe", time.Hour, 0, "")); err != nil {
			t.Fatal(err)
		}
		got, _ = s.History(ctx, state.HistoryQuery{})
		if want := []int64{32, 12, 11, 10, 9, 8}; !reflect.DeepEqual(ids(got), want) {
			t.Errorf("after the age prune: ids %v, want %v", ids(got), want)
		}
	})
}

// A database at schema version 3 (before history) gains the table on open
// and the original's tables keep exactly their columns.
func TestHistoryMigration(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		s.Close()
		db := statetest.Raw(t, o)
		for _, stmt := range []string{`DROP TABLE rffmpeg_jobs`, `UPDATE rffmpeg_schema SET version = 3`} {
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
		if err := s.RecordJob(ctx, job(1, "gpu1", "probe", 0, 0, "")); err != nil {
			t.Fatalf("record after migration: %v", err)
		}
		db = statetest.Raw(t, o)
		defer db.Close()
		q := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
		if o.Backend == state.PostgreSQL {
			q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
		}
		for table, want := range map[string]string{"hosts": "id servername hostname weight created",
			"processes": "id host_id process_id cmd", "states": "id host_id process_id state"} {
			rows, err := db.Query(q, table)
			if err != nil {
				t.Fatal(err)
			}
			var cols []string
			for rows.Next() {
				var c string
				rows.Scan(&c)
				cols = append(cols, c)
			}
			rows.Close()
			if got := strings.Join(cols, " "); got != want {
				t.Errorf("%s columns = %q, want %q", table, got, want)
			}
		}
	})
}

// BenchmarkRecordJob is the cost the shim's exit path pays, on a history
// already at its row bound (each insert also deletes one row).
func BenchmarkRecordJob(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, err := state.Init(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.SetHistoryRetention(state.Retention{Days: 30, MaxRows: 1000})
	j := job(1, "gpu1", "transcode", 0, 0, "")
	j.Command = "ffmpeg " + strings.Repeat("-x y ", 300)
	j.Started = time.Now()
	for i := 0; i < 1200; i++ {
		s.RecordJob(ctx, j)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.RecordJob(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	got, _ := s.History(ctx, state.HistoryQuery{})
	if len(got) != 1000 {
		b.Fatal(fmt.Sprintf("%d rows, want 1000", len(got)))
	}
}

// ReleaseAndRecord ends a job's lease and records it in one step.
func TestReleaseAndRecord(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		if _, err := s.AddHost(ctx, "gpu1.lan", "gpu1", 1, now); err != nil {
			t.Fatal(err)
		}
		claim := state.Claim{PID: 4242, Owner: "x", Cmd: "ffmpeg -i a", Now: now}
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseAndRecord(ctx, l, job(1, "gpu1", "transcode", 0, 0, "")); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Processes) != 0 || len(snap.Marks) != 0 {
			t.Errorf("after release: %d processes, %d marks (%v)", len(snap.Processes), len(snap.Marks), err)
		}
		if got, _ := s.History(ctx, state.HistoryQuery{}); len(got) != 1 || got[0].Class != "transcode" {
			t.Errorf("history: %+v", got)
		}
	})
}

// BenchmarkReleaseAndRecord: the shim's exit path in one transaction.
func BenchmarkReleaseAndRecord(b *testing.B) {
	o := statetest.NewSQLite(&testing.T{})
	s, _ := state.Init(ctx, o)
	defer s.Close()
	s.AddHost(ctx, "a", "", 1, time.Now())
	s.SetHistoryRetention(state.Retention{Days: 30, MaxRows: 1000})
	j := job(1, "a", "transcode", 0, 0, "")
	j.Command = "ffmpeg " + strings.Repeat("-x y ", 300)
	j.Started = time.Now()
	claim := state.Claim{PID: 1, Owner: "x", Cmd: "ffmpeg", Now: time.Now()}
	for i := 0; i < 1200; i++ {
		s.RecordJob(ctx, j)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ReleaseAndRecord(ctx, l, j); err != nil {
			b.Fatal(err)
		}
	}
}

// ReleaseAndRecordHeld writes a job's end once: not again for a lease
// already released (by a state helper whose answer was lost).
func TestReleaseAndRecordHeld(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s, err := state.Init(ctx, b.New(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			h, err := s.AddHost(ctx, "gpu1", "", 1, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			claim := state.Claim{PID: 1, Owner: "x", Cmd: "ffmpeg", Now: time.Now()}
			rec := state.JobRecord{HostID: h.ID, Class: "other", Command: "ffmpeg", Started: claim.Now}
			for i, releasedBefore := range []bool{true, false} {
				l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy)
				if err != nil {
					t.Fatal(err)
				}
				if releasedBefore {
					if err := s.ReleaseAndRecord(ctx, l, rec); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.ReleaseAndRecordHeld(ctx, l, rec); err != nil {
					t.Fatal(err)
				}
				jobs, err := s.History(ctx, state.HistoryQuery{})
				if err != nil || len(jobs) != i+1 {
					t.Errorf("released before: %v: %d history rows, want %d (%v)", releasedBefore, len(jobs), i+1, err)
				}
			}
			if snap, _ := s.Snapshot(ctx); len(snap.Processes) != 0 {
				t.Errorf("%d process rows left", len(snap.Processes))
			}
		})
	}
}
