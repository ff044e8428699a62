package state_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rowner "github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// leased is the real policy judging rows by a 1-minute lease from a
// frontend named "me": rows of other frontends with an old heartbeat are
// dead.
func leased(at time.Time) func(state.Snapshot) state.Decision {
	chk := rowner.Checker{Self: rowner.Identity{Machine: "me"}, Lease: time.Minute, Now: at}
	return selector.Policy{Now: at, BadTTL: time.Minute, Fallback: true, Dead: chk.Dead}.Decide
}

// Selection costs the same number of round trips whatever the number of
// hosts and running jobs, and reaping a dead frontend's rows a constant
// number more whatever their number (the original issues a query per host
// and process).
func TestAcquireStatementsConstant(t *testing.T) {
	_, ok := statetest.PostgresAdmin()
	if !ok {
		t.Skip("PostgreSQL not configured")
	}
	o := statetest.NewPostgres(t)
	at := time.Now()
	cost := func(hosts, live, dead int) (acquire, withReap int64) {
		s := initStore(t, o)
		for i := range hosts {
			if _, err := s.AddHost(ctx, fmt.Sprintf("h%d", i), "", 1, at); err != nil {
				t.Fatal(err)
			}
		}
		hold := func(n int, who string, hb time.Time) {
			for range n {
				c := state.Claim{PID: 1, Owner: who + "|boot|1", Cmd: "ffmpeg", Now: hb}
				if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: c}, statetest.LeastBusy); err != nil {
					t.Fatal(err)
				}
			}
		}
		hold(live, "other", at)
		claim := state.Claim{PID: 2, Owner: "other|boot|2", Cmd: "ffmpeg -i x", Now: at}
		n0 := s.Statements()
		l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, leased(at))
		if err != nil {
			t.Fatal(err)
		}
		acquire = s.Statements() - n0
		s.Release(ctx, l)
		hold(dead, "gone", at.Add(-2*time.Minute))
		n0 = s.Statements()
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, leased(at)); err != nil {
			t.Fatal(err)
		}
		withReap = s.Statements() - n0
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Processes) != live+1 {
			t.Fatalf("after reaping %d dead rows: %d processes, want %d (%v)", dead, len(snap.Processes), live+1, err)
		}
		return acquire, withReap
	}
	small, smallReap := cost(2, 0, 1)
	big, bigReap := cost(100, 300, 200)
	t.Logf("statements per Acquire: %d (2 hosts, 0 jobs), %d (100 hosts, 300 jobs); with reaping: %d (1 dead row), %d (200 dead rows)", small, big, smallReap, bigReap)
	if big != small || small > 14 {
		t.Errorf("Acquire sent %d statements with 2 hosts and %d with 100 hosts and 300 jobs: want the same, at most 14", small, big)
	}
	if bigReap != smallReap {
		t.Errorf("Acquire reaping 1 dead row sent %d statements, reaping 200 sent %d: want the same", smallReap, bigReap)
	}
}

// Watch reports another store's writes (another frontend's) on both
// databases: LISTEN/NOTIFY on PostgreSQL, the data version on SQLite; and
// nothing while nothing changes.
func TestWatchSeesOtherWriters(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		a := initStore(t, o)
		b, err := state.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := a.Watch(wctx, 50*time.Millisecond)
		time.Sleep(300 * time.Millisecond) // listening (or first poll) before the write
		drain(ch)
		select {
		case err := <-ch:
			t.Fatalf("change reported with nothing written: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		for i, write := range []func() error{
			func() error { _, err := b.AddHost(ctx, "h1", "", 1, now); return err },
			func() error {
				_, _, _, err := b.Acquire(ctx, state.AcquireRequest{Claim: state.Claim{PID: 1, Owner: "x|y|1", Cmd: "c", Now: now}}, statetest.LeastBusy)
				return err
			},
		} {
			t0 := time.Now()
			if err := write(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ch:
				if err != nil {
					t.Fatalf("write %d: watch error %v", i, err)
				}
				t.Logf("write %d seen after %v", i, time.Since(t0).Round(time.Millisecond))
			case <-time.After(5 * time.Second):
				t.Fatalf("write %d not reported within 5 s", i)
			}
		}
	})
}

func drain(ch <-chan error) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Five frontends find the same stale host at once: one checks it, the
// others wait for its claim and use the result it recorded.
func TestSharedCheck(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, err := s.AddHost(ctx, "h1", "", 1, now)
		if err != nil {
			t.Fatal(err)
		}
		var checks atomic.Int32
		var wg sync.WaitGroup
		for i := range 5 {
			fe, err := state.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer fe.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				unlock := fe.LockCheck(ctx, h.ID, fmt.Sprintf("fe%d|boot|1", i), 5*time.Second, 5*time.Second)
				defer unlock()
				fresh, err := fe.Host(ctx, h.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if !fresh.CheckedAt.IsZero() {
					return // checked by another frontend while this one waited
				}
				checks.Add(1)
				time.Sleep(100 * time.Millisecond) // the handshake
				if err := fe.MarkChecked(ctx, h.ID, time.Now()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := checks.Load(); got != 1 {
			t.Errorf("%d checks of one stale host by 5 frontends, want 1", got)
		}
		// A claimant that died holds the check only until its claim expires.
		if ok, err := s.ClaimCheck(ctx, h.ID, "dead|boot|1", time.Now(), 200*time.Millisecond); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if ok, _ := s.ClaimCheck(ctx, h.ID, "other|boot|1", time.Now(), time.Second); ok {
			t.Error("a live claim was taken over")
		}
		t0 := time.Now()
		s.LockCheck(ctx, h.ID, "other|boot|1", time.Second, 3*time.Second)()
		if d := time.Since(t0); d < 100*time.Millisecond || d > 2*time.Second {
			t.Errorf("an expired claim was waited for %v, want about 200 ms", d)
		}
	})
}
