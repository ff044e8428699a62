package state_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// holdWriteLock makes another connection hold the database's write lock as
// a stuck program would: BEGIN IMMEDIATE on SQLite, rffmpeg's advisory
// lock on PostgreSQL. It returns the release.
func holdWriteLock(t *testing.T, o state.Options) func() {
	t.Helper()
	db := statetest.Raw(t, o)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := `BEGIN IMMEDIATE`
	if o.Backend == state.PostgreSQL {
		q = `SELECT pg_advisory_lock(1919313517)` // 0x7266666d, the store's key
	}
	if _, err := c.ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
	return func() {
		if o.Backend == state.SQLite {
			c.ExecContext(ctx, `ROLLBACK`)
		}
		c.Close()
		db.Close()
	}
}

// holdFlock holds the writers' queue (rffmpeg.db.lock) from another open.
func holdFlock(t *testing.T, o state.Options) func() {
	t.Helper()
	f, err := os.Open(o.Path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// TestDeadlinesHonoured: a database held by someone else costs a call its
// context's deadline, not the store's own minute.
func TestDeadlinesHonoured(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		initStore(t, o).Close()
		s, err := state.Open(ctx, o) // as a shim opens it, with its writers' queue
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h, _ := s.AddHost(ctx, "a.lan", "", 1, now)
		claim := state.Claim{PID: 4242, Owner: "us", Cmd: "ffmpeg", Now: now}
		lease, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pick(h.ID))
		if err != nil {
			t.Fatal(err)
		}
		holds := map[string]func(*testing.T, state.Options) func(){"transaction": holdWriteLock}
		if o.Backend == state.SQLite {
			holds["flock"] = holdFlock
		}
		ops := map[string]func(context.Context) error{
			"acquire": func(c context.Context) error {
				_, _, _, err := s.Acquire(c, state.AcquireRequest{Claim: claim}, pick(h.ID))
				return err
			},
			"release": func(c context.Context) error { return s.Release(c, lease) },
		}
		for hname, hold := range holds {
			for oname, op := range ops {
				t.Run(hname+"/"+oname, func(t *testing.T) {
					release := hold(t, o)
					defer release()
					c, cancel := context.WithTimeout(ctx, time.Second)
					defer cancel()
					start := time.Now()
					err := op(c)
					took := time.Since(start)
					if err == nil || !strings.Contains(err.Error(), "deadline") {
						t.Errorf("err = %v, want the deadline named", err)
					}
					if took > 1500*time.Millisecond || took < 900*time.Millisecond {
						t.Errorf("took %v with a 1 s deadline (%v)", took, err)
					}
				})
			}
		}
		// Once free, the lease is still released normally.
		if err := s.Release(ctx, lease); err != nil {
			t.Errorf("release after: %v", err)
		}
	})
}
