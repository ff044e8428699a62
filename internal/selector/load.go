package selector

import (
	"context"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Source is where Load reads the state: the store (or anything that reads and
// deletes rows like it).
type Source interface {
	Snapshot(ctx context.Context) (state.Snapshot, error)
	Reap(ctx context.Context, processes, marks []int64) error
}

// queueReaper is a Source that can also delete dead waiters (the store).
type queueReaper interface {
	ReapQueue(ctx context.Context, ids []int64) error
}

// Load reads the state and classifies it under p, deleting the rows whose
// writers are gone or whose marks expired. The delete is best effort: a
// reader without write access (a read-only database, a user outside the
// group) still sees the truth, because the view already leaves those rows
// out. `rffmpeg status` and the console load through here, so they show the
// same thing.
func Load(ctx context.Context, src Source, p Policy) (View, error) {
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return View{}, err
	}
	v := p.Classify(snap)
	src.Reap(ctx, v.DeadProcesses, v.DeadMarks)
	if q, ok := src.(queueReaper); ok {
		q.ReapQueue(ctx, v.DeadQueue)
	}
	return v, nil
}
