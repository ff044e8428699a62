package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

func TestPeakPerBucket(t *testing.T) {
	end := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return end.Add(time.Duration(min) * time.Minute) }
	sp := func(from, to int) span { return span{at(from), at(to)} }
	cases := []struct {
		name  string
		spans []span
		want  []int // 6 buckets of 10 minutes over the last hour
	}{
		{"nothing", nil, []int{0, 0, 0, 0, 0, 0}},
		{"one job across three buckets", []span{sp(-55, -32)}, []int{1, 1, 1, 0, 0, 0}},
		{"two at once, then one", []span{sp(-25, -15), sp(-22, -18), sp(-5, 0)}, []int{0, 0, 0, 2, 2, 1}},
		// Touching spans are one after the other, never two at once.
		{"back to back", []span{sp(-20, -15), sp(-15, -10)}, []int{0, 0, 0, 0, 1, 0}},
		// Two jobs in one bucket that never overlap: the peak is 1.
		{"apart in one bucket", []span{sp(-9, -8), sp(-3, -2)}, []int{0, 0, 0, 0, 0, 1}},
		{"outside the window", []span{sp(-90, -61), sp(1, 5)}, []int{0, 0, 0, 0, 0, 0}},
		{"from before the window", []span{sp(-120, -45)}, []int{1, 1, 0, 0, 0, 0}},
		{"three overlapping", []span{sp(-30, -21), sp(-29, -22), sp(-28, -23)}, []int{0, 0, 0, 3, 0, 0}},
	}
	for _, c := range cases {
		if got := peakPerBucket(c.spans, end, time.Hour, 6); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// Finished jobs last their duration, running ones until now, and a job
// shorter than the history's millisecond still counts.
func TestJobSpans(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	done := []state.JobRecord{
		{Started: now.Add(-10 * time.Minute), Duration: 2 * time.Minute},
		{Started: now.Add(-5 * time.Minute)}, // 0 ms: a quick probe
		{},                                   // no start: left out
	}
	running := []state.Process{{Started: now.Add(-time.Minute)}, {}}
	got := jobSpans(done, running, now)
	want := []span{
		{now.Add(-10 * time.Minute), now.Add(-8 * time.Minute)},
		{now.Add(-5 * time.Minute), now.Add(-5*time.Minute + time.Millisecond)},
		{now.Add(-time.Minute), now},
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	if p := peakPerBucket(got, now, 10*time.Minute, 10); !slices.Equal(p, []int{1, 1, 0, 0, 0, 1, 0, 0, 0, 1}) {
		t.Errorf("peaks %v", p)
	}
}

func TestSparkline(t *testing.T) {
	cases := []struct {
		vals []int
		top  int
		want string
	}{
		{[]int{0, 0, 0}, 0, "···"},
		{[]int{0, 1, 2, 3, 4}, 4, "·▂▄▆█"},
		{[]int{1, 8}, 0, "▁█"},         // scaled to the largest value
		{[]int{1, 2}, 4, "▂▄"},         // scaled to max_jobs: half full is half high
		{[]int{1, 100}, 0, "▁█"},       // any job shows at least the lowest bar
		{[]int{6, 4}, 4, "█▆"},         // above max_jobs (raised meanwhile): scaled to the peak
		{[]int{1, 1, 0, 1}, 1, "██·█"}, // a limit of one: full or idle
		{nil, 4, ""},
	}
	for _, c := range cases {
		if got := sparkline(c.vals, c.top); got != c.want {
			t.Errorf("sparkline(%v, %d) = %q, want %q", c.vals, c.top, got, c.want)
		}
	}
	for _, c := range []struct{ w, want int }{{200, 60}, {80, 60}, {73, 30}, {44, 30}, {43, 15}, {10, 3}} {
		if got := sparkBuckets(c.w); got != c.want {
			t.Errorf("sparkBuckets(%d) = %d, want %d", c.w, got, c.want)
		}
	}
}
