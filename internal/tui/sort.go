package tui

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// sortOrder is a table's sort: a column index (-1: the natural order) and
// its direction. s moves to the next column, S reverses.
type sortOrder struct {
	col  int
	desc bool
}

func unsorted() sortOrder { return sortOrder{col: -1} }

// next moves to the next sortable column, after the last back to the
// natural order.
func (o sortOrder) next(columns int) sortOrder {
	o.col++
	if o.col >= columns {
		return unsorted()
	}
	o.desc = false
	return o
}

// header marks the sorted column's title with its direction.
func (o sortOrder) header(titles []string) []string {
	if o.col < 0 || o.col >= len(titles) {
		return titles
	}
	out := slices.Clone(titles)
	mark := " ▲"
	if o.desc {
		mark = " ▼"
	}
	out[o.col] += mark
	return out
}

// apply sorts rows stably by the column's comparison.
func applySort[T any](o sortOrder, rows []T, by []func(a, b T) int) {
	if o.col < 0 || o.col >= len(by) {
		return
	}
	f := by[o.col]
	slices.SortStableFunc(rows, func(a, b T) int {
		if o.desc {
			return f(b, a)
		}
		return f(a, b)
	})
}

func fold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }

// hostSorts compare hosts by the hosts table's columns: ID, NAME, HOSTNAME,
// W, STATE, JOBS (running, then the weighted load), TAGS (the caps and
// notes columns are not sortable).
var hostSorts = []func(a, b hostRow) int{
	func(a, b hostRow) int { return cmp.Compare(a.host.ID, b.host.ID) },
	func(a, b hostRow) int { return fold(a.host.Servername, b.host.Servername) },
	func(a, b hostRow) int { return fold(a.host.Hostname, b.host.Hostname) },
	func(a, b hostRow) int { return cmp.Compare(a.host.Weight, b.host.Weight) },
	func(a, b hostRow) int { return strings.Compare(a.host.State, b.host.State) },
	func(a, b hostRow) int {
		return cmp.Or(cmp.Compare(len(a.host.Processes), len(b.host.Processes)), cmp.Compare(a.host.Load, b.host.Load))
	},
	func(a, b hostRow) int { return fold(strings.Join(a.host.Tags, ","), strings.Join(b.host.Tags, ",")) },
}

// procSorts compare processes by PID, HOST, TOOL, AGE, COMMAND.
var procSorts = []func(a, b procRow) int{
	func(a, b procRow) int { return cmp.Compare(a.p.PID, b.p.PID) },
	func(a, b procRow) int { return fold(a.host, b.host) },
	func(a, b procRow) int { return strings.Compare(tool(a.p.Cmd), tool(b.p.Cmd)) },
	// By the age shown: a later start is a smaller age.
	func(a, b procRow) int { return -compareTime(a.p.Started, b.p.Started) },
	func(a, b procRow) int { return strings.Compare(a.p.Cmd, b.p.Cmd) },
}

func compareTime(a, b time.Time) int { return a.Compare(b) }
