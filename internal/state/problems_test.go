package state_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

func TestProblems(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		old := now.Add(-time.Hour)
		for _, p := range []state.Problem{
			{"log file (uid 107)", "log file: permission denied", old},
			{"ssh sockets (uid 107)", "unsafe directory", now.Add(-time.Minute)},
			{"log file (uid 107)", "log file: " + strings.Repeat("x", 5000), now}, // refreshed, capped
		} {
			if err := s.ReportProblem(ctx, p.Source, p.Message, p.Seen); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Problems(ctx, now.Add(-10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var srcs []string
		for _, p := range got {
			srcs = append(srcs, p.Source)
		}
		if want := []string{"log file (uid 107)", "ssh sockets (uid 107)"}; !reflect.DeepEqual(srcs, want) {
			t.Errorf("sources %q, want %q (one row per source, newest first)", srcs, want)
		}
		if len(got) > 0 && (len(got[0].Message) != 1024 || !got[0].Seen.Equal(now.Truncate(time.Millisecond))) {
			t.Errorf("refreshed problem: %d bytes seen %v", len(got[0].Message), got[0].Seen)
		}
		if got, _ := s.Problems(ctx, now.Add(time.Second)); len(got) != 0 {
			t.Errorf("problems seen before since: %+v", got)
		}
	})
}
