package tui

import (
	"slices"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The host detail's load sparkline: the last hour in buckets, each the
// most jobs that ran on the host at once within it, from the history's
// finished jobs and the jobs running now.

const (
	sparkSpan = time.Hour
	// sparkLookback: a job that ended inside the window may have started
	// before it, so the history is read this much further back (a longer
	// job than that shows from where the read begins).
	sparkLookback = 6 * time.Hour
)

// span is a job's time on a host, [start, end).
type span struct{ start, end time.Time }

// jobSpans turns finished jobs and running processes into spans; a
// running one lasts until now. A job shorter than a millisecond (the
// history's resolution) counts as one millisecond, so it is not lost.
func jobSpans(done []state.JobRecord, running []state.Process, now time.Time) []span {
	out := make([]span, 0, len(done)+len(running))
	add := func(s, e time.Time) {
		if s.IsZero() {
			return
		}
		if e.Before(s.Add(time.Millisecond)) {
			e = s.Add(time.Millisecond)
		}
		out = append(out, span{s, e})
	}
	for _, j := range done {
		add(j.Started, j.Started.Add(j.Duration))
	}
	for _, p := range running {
		add(p.Started, now)
	}
	return out
}

// peakPerBucket splits the window of length window ending at end into n
// equal buckets and returns, per bucket, the most spans that overlap at
// one instant inside it (0: the host ran nothing then). Spans that merely
// touch ([a,b) then [b,c)) never count as two at once.
func peakPerBucket(spans []span, end time.Time, window time.Duration, n int) []int {
	if n <= 0 {
		return nil
	}
	out := make([]int, n)
	width := window / time.Duration(n)
	begin := end.Add(-width * time.Duration(n))
	type event struct {
		at    time.Time
		delta int
	}
	for i := range out {
		bs, be := begin.Add(width*time.Duration(i)), begin.Add(width*time.Duration(i+1))
		var ev []event
		for _, s := range spans {
			from, to := later(s.start, bs), earlier(s.end, be)
			if from.Before(to) {
				ev = append(ev, event{from, +1}, event{to, -1})
			}
		}
		// Ends before starts at the same instant: touching is not overlapping.
		slices.SortFunc(ev, func(a, b event) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return a.delta - b.delta
		})
		cur := 0
		for _, e := range ev {
			cur += e.delta
			out[i] = max(out[i], cur)
		}
	}
	return out
}

// sparkBars are the eight heights of a bar; a bucket with no job is a dot,
// so an idle stretch is visible as such even without colours.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws vals as bars scaled to top (at least the largest value):
// a value of top is a full bar, any value above 0 at least the lowest one.
func sparkline(vals []int, top int) string {
	for _, v := range vals {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range vals {
		if v <= 0 || top <= 0 {
			b.WriteRune('·')
			continue
		}
		i := (v*len(sparkBars) + top - 1) / top // ceil(v/top × 8), 1…8
		b.WriteRune(sparkBars[min(max(i, 1), len(sparkBars))-1])
	}
	return b.String()
}

// sparkBuckets is how many buckets fit a line of w cells beside a label:
// a minute each when there is room, else two, four… minutes.
func sparkBuckets(w int) int {
	n := 60
	for n > 6 && n > w-14 {
		n /= 2
	}
	return n
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
