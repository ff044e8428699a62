package setup

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The configured history bound reaches every store opened from the
// configuration (the shim opens Store(c) itself).
func TestStoreHistoryRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	yml := "rffmpeg:\n  directories:\n    state: " + dir + "\n  history:\n    retention_days: 9\n    max_rows: 2\n"
	c, err := config.Parse([]byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Store(c).History, (state.Retention{Days: 9, MaxRows: 2}); got != want {
		t.Errorf("Store(c).History = %+v, want %+v", got, want)
	}
	created, err := state.Init(ctx, state.Options{Backend: state.SQLite, Path: filepath.Join(dir, "rffmpeg.db")})
	if err != nil {
		t.Fatal(err)
	}
	created.Close()
	s, err := state.Open(ctx, Store(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := s.RecordJob(ctx, state.JobRecord{HostID: 1, Class: "probe", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.History(ctx, state.HistoryQuery{})
	if err != nil || len(jobs) != 2 {
		t.Errorf("history: %d jobs (%v), want the 2 history.max_rows keeps", len(jobs), err)
	}
}
