package state_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	at := time.Now()
	// The shim's store has a lease (the lean selection, see lean.go);
	// without one every row is read.
	for _, lease := range []time.Duration{time.Minute, 0} {
		o := statetest.NewPostgres(t)
		o.Lease = lease
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
		t.Logf("lease %v: statements per Acquire: %d (2 hosts, 0 jobs), %d (100 hosts, 300 jobs); with reaping: %d (1 dead row), %d (200 dead rows)", lease, small, big, smallReap, bigReap)
		if big != small || small > 14 {
			t.Errorf("lease %v: Acquire sent %d statements with 2 hosts and %d with 100 hosts and 300 jobs: want the same, at most 14", lease, small, big)
		}
		if bigReap != smallReap {
			t.Errorf("lease %v: Acquire reaping 1 dead row sent %d statements, reaping 200 sent %d: want the same", lease, smallReap, bigReap)
		}
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

// BenchmarkAcquireAt1000 times one selection with 100 hosts and 1,000
// running jobs of five frontends (one of them this one), as
// `make bench-scale` holds them, on each database.
func BenchmarkAcquireAt1000(b *testing.B) {
	for _, c := range []struct {
		be    state.Backend
		lease time.Duration
	}{{state.SQLite, 0}, {state.PostgreSQL, 0}, {state.PostgreSQL, time.Minute}} {
		name := string(c.be) + "/lean"
		if c.lease == 0 {
			name = string(c.be) + "/every-row"
		}
		b.Run(name, func(b *testing.B) {
			o := benchOptions(b, c.be)
			o.Lease = c.lease
			s, self := fillPool(b, o, 100, 10, 5)
			chk := rowner.Checker{Self: self, Lease: time.Minute, Now: time.Now(), Starts: map[int]uint64{}}
			pol := selector.Policy{Now: time.Now(), BadTTL: time.Minute, Fallback: true, Dead: chk.Dead}
			claim := state.Claim{PID: self.PID, Owner: self.String(), Cmd: "ffmpeg -i probe"}
			b.ResetTimer()
			for range b.N {
				l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, pol.Decide)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Release(ctx, l)
				b.StartTimer()
			}
		})
	}
}

// fillPool adds hosts with max_jobs perHost+1 each and holds perHost jobs
// on each, spread over frontends frontends whose first is this process
// (the identity returned).
func fillPool(tb testing.TB, o state.Options, hosts, perHost, frontends int) (*state.Store, rowner.Identity) {
	s, err := state.Init(ctx, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	self := rowner.SelfAs("fe0")
	max := perHost + 1
	var ids []int64
	for i := range hosts {
		h, err := s.AddHost(ctx, fmt.Sprintf("h%03d", i), "", 1, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := s.SetHostProps(ctx, h.Servername, state.HostProps{MaxJobs: &max}); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, h.ID)
	}
	n := 0
	for _, id := range ids {
		for range perHost {
			who := self
			if f := n % frontends; f > 0 {
				who = rowner.Identity{Machine: fmt.Sprintf("fe%d", f), Boot: "boot", PID: 1000 + f, Start: 1}
			}
			c := state.Claim{PID: who.PID, Owner: who.String(), Cmd: "ffmpeg -i in.mkv -c:v libx264 out.ts", Now: time.Now()}
			if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: c}, func(state.Snapshot) state.Decision { return state.Decision{HostID: id} }); err != nil {
				tb.Fatal(err)
			}
			n++
		}
	}
	return s, self
}

// benchOptions is a fresh database of kind be for a benchmark (statetest's
// need a *testing.T); it skips PostgreSQL when the rig has none.
func benchOptions(b *testing.B, be state.Backend) state.Options {
	if be == state.SQLite {
		return state.Options{Backend: state.SQLite, Path: filepath.Join(b.TempDir(), "rffmpeg.db")}
	}
	admin, ok := statetest.PostgresAdmin()
	if !ok {
		b.Skip("PostgreSQL not configured")
	}
	db, err := sql.Open("pgx", statetest.PgDSN(admin))
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("rffmpeg_bench_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		db.Close()
	})
	o := admin
	o.Name = name
	return o
}

// The lean selection (PostgreSQL with Options.Lease set: other frontends' live jobs
// counted in SQL, not read; on PostgreSQL most reads before the lock)
// decides exactly as the selection that reads every row, on a pool with
// every kind of row: this frontend's live and dead jobs, other frontends'
// within and out of their lease, the original rffmpeg's with a live and a
// dead PID, an owner that is not an identity, fallback jobs, bad marks in
// force and expired. It reaps the same rows ("active" states rows of
// reaped jobs included) and leaves every live one. Two identical pools,
// one selected on each way. (On SQLite both read every row: the test
// holds that a lease alone changes nothing there.)
func TestLeanSelectionDecidesAsEveryRow(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			at := time.Now()
			self := rowner.SelfAs("me")
			chk := rowner.Checker{Self: self, Lease: time.Minute, Now: at, Starts: map[int]uint64{}}
			pol := selector.Policy{Now: at, BadTTL: time.Minute, Fallback: true, Dead: chk.Dead}
			claim := state.Claim{PID: self.PID, Owner: self.String(), Cmd: "ffmpeg -i new", Now: at}
			type outcome struct {
				running map[int64]int // live jobs per host as the policy saw them
				d       state.Decision
				left    []string // host/PID of the jobs left
				active  int      // "active" states rows left
			}
			run := func(lease time.Duration) (outcome, []string) {
				o := b.New(t)
				live := mixedPool(t, o, initStore(t, o), self, at)
				o.Lease = lease
				s, err := state.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var out outcome
				if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(snap state.Snapshot) state.Decision {
					v := pol.Classify(snap)
					out.running = map[int64]int{state.LocalHostID: len(v.Fallback) + v.FallbackCounted}
					for _, h := range v.Hosts {
						out.running[h.ID] = h.Running()
					}
					out.d = pol.Decide(snap)
					return out.d
				}); err != nil {
					t.Fatal(err)
				}
				snap, err := s.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range snap.Processes {
					out.left = append(out.left, fmt.Sprintf("%d/%d", p.HostID, p.PID))
				}
				for _, m := range snap.Marks {
					if m.State == state.StateActive {
						out.active++
					}
				}
				return out, live
			}
			want, live := run(0)
			got, _ := run(time.Minute)
			if len(want.d.ReapProcesses) == 0 || want.d.HostID == 0 {
				t.Fatalf("the pool tests nothing: every row reaps %v, chooses %d", want.d.ReapProcesses, want.d.HostID)
			}
			if fmt.Sprint(got.running) != fmt.Sprint(want.running) {
				t.Errorf("jobs per host: lean %v, every row %v", got.running, want.running)
			}
			if got.d.HostID != want.d.HostID || fmt.Sprint(got.d.ReapProcesses) != fmt.Sprint(want.d.ReapProcesses) {
				t.Errorf("lean chose host %d reaping %v; every row chose %d reaping %v", got.d.HostID, got.d.ReapProcesses, want.d.HostID, want.d.ReapProcesses)
			}
			wantLeft := fmt.Sprint(append(live, fmt.Sprintf("%d/%d", want.d.HostID, self.PID)))
			for _, o := range []outcome{want, got} {
				if fmt.Sprint(o.left) != wantLeft || o.active != len(o.left) {
					t.Errorf("rows left (host/PID): %v with %d active states rows; want %v, one active row each", o.left, o.active, wantLeft)
				}
			}
		})
	}
}

// mixedPool fills a pool with every kind of row (see above) and returns the
// live jobs as host/PID, in id order.
func mixedPool(t *testing.T, o state.Options, s *state.Store, self rowner.Identity, at time.Time) []string {
	t.Helper()
	one := 1
	var hosts []int64
	for i := range 4 {
		h, err := s.AddHostWith(ctx, fmt.Sprintf("h%d", i), "", 1, state.HostProps{MaxJobs: &one}, at)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h.ID)
	}
	// h0 is bad, h1 had a mark that expired: h1 and h3 are free once the
	// dead jobs on them are reaped.
	if err := s.MarkBad(ctx, hosts[0], state.Claim{PID: self.PID, Owner: self.String(), Now: at}, "check failed"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkBad(ctx, hosts[1], state.Claim{PID: self.PID, Owner: self.String(), Now: at.Add(-2 * time.Minute)}, "long ago"); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	dead.Run()
	deadPID := dead.Process.Pid
	var live []string
	hold := func(host int64, pid int, who string, hb time.Time, alive bool) {
		c := state.Claim{PID: pid, Owner: who, Cmd: "ffmpeg", Now: hb}
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: c}, func(state.Snapshot) state.Decision { return state.Decision{HostID: host} }); err != nil {
			t.Fatal(err)
		}
		if alive {
			live = append(live, fmt.Sprintf("%d/%d", host, pid))
		}
	}
	other := func(name string) string { return name + "|boot|7" }
	hold(hosts[0], self.PID, self.String(), at, true)                      // mine, alive
	hold(hosts[1], self.PID, fmt.Sprintf("me|%s|1", self.Boot), at, false) // mine, another process since
	hold(hosts[1], 4242, "me|another-boot|9", at, false)                   // mine, before a reboot
	hold(hosts[2], 11, other("fe1"), at.Add(-10*time.Second), true)        // another frontend's, in its lease
	hold(hosts[3], 12, other("fe2"), at.Add(-2*time.Minute), false)        // out of its lease
	hold(state.LocalHostID, 13, other("fe1"), at, true)                    // another frontend's fallback job
	hold(hosts[2], 14, "not-an-identity", at.Add(-time.Hour), true)        // not ours to judge
	hold(state.LocalHostID, 15, other("fe3"), time.Time{}, true)           // no heartbeat: alive
	raw := statetest.Raw(t, o)
	defer raw.Close()
	for _, r := range []struct {
		pid   int
		alive bool
	}{{os.Getpid(), true}, {deadPID, false}} { // the original's rows: judged by PID
		for _, q := range []string{`INSERT INTO processes (host_id, process_id, cmd) VALUES (?, ?, 'ffmpeg')`, `INSERT INTO states (host_id, process_id, state) VALUES (?, ?, 'active')`} {
			if _, err := raw.Exec(bind(o, q), hosts[3], r.pid); err != nil {
				t.Fatal(err)
			}
		}
		if r.alive {
			live = append(live, fmt.Sprintf("%d/%d", hosts[3], r.pid))
		}
	}
	return live
}

// Release deletes a job's rows from all five tables that hold them (on
// PostgreSQL in one statement, for the lock's sake), and no other job's.
func TestReleaseDeletesEveryRow(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, err := s.AddHost(ctx, "h1", "", 1, now)
		if err != nil {
			t.Fatal(err)
		}
		var leases []state.Lease
		for pid := range 2 {
			c := state.Claim{PID: 100 + pid, Owner: "fe|boot|1", Cmd: "ffmpeg", Now: now}
			l, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: c}, func(state.Snapshot) state.Decision { return state.Decision{HostID: h.ID} })
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetProgress(ctx, state.JobProgress{ProcessID: l.ProcessID, PID: 100 + pid, Frames: 1, At: now}); err != nil {
				t.Fatal(err)
			}
			leases = append(leases, l)
		}
		if err := s.Release(ctx, leases[0]); err != nil {
			t.Fatal(err)
		}
		raw := statetest.Raw(t, o)
		defer raw.Close()
		for _, table := range []string{"processes", "rffmpeg_processes", "rffmpeg_progress", "states", "rffmpeg_states"} {
			var got int
			if err := raw.QueryRow(`SELECT count(*) FROM ` + table).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != 1 {
				t.Errorf("%s: %d rows after releasing one of two jobs, want 1", table, got)
			}
		}
	})
}

// A job another frontend holds, judged dead by its lease on the reads
// before the lock, whose heartbeat comes in before the lock is taken (a
// slow frontend): it is neither reaped nor left out of the count, so its
// host (max_jobs 1) is full and the selection goes elsewhere.
func TestLeanSelectionHeartbeatBeforeLock(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		if b.Name != "postgresql" {
			continue // the lean selection is PostgreSQL's (lean.go)
		}
		t.Run(b.Name, func(t *testing.T) {
			at := time.Now()
			o := b.New(t)
			s := initStore(t, o)
			one := 1
			full, err := s.AddHostWith(ctx, "full", "", 1, state.HostProps{MaxJobs: &one}, at)
			if err != nil {
				t.Fatal(err)
			}
			stale := state.Claim{PID: 12, Owner: "fe2|boot|7", Cmd: "ffmpeg", Now: at.Add(-2 * time.Minute)}
			if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: stale}, func(state.Snapshot) state.Decision { return state.Decision{HostID: full.ID} }); err != nil {
				t.Fatal(err)
			}
			o.Lease = time.Minute
			lean, err := state.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer lean.Close()
			raw := statetest.Raw(t, o)
			defer raw.Close()
			self := rowner.SelfAs("me")
			chk := rowner.Checker{Self: self, Lease: time.Minute, Now: at, Starts: map[int]uint64{}}
			pol := selector.Policy{Now: at, BadTTL: time.Minute, Fallback: true, Dead: chk.Dead}
			calls := 0
			var last state.Decision
			_, _, _, err = lean.Acquire(ctx, state.AcquireRequest{Claim: state.Claim{PID: self.PID, Owner: self.String(), Cmd: "ffmpeg -i new", Now: at}},
				func(snap state.Snapshot) state.Decision {
					calls++
					if calls == 1 {
						// Between the early reads and the lock: the heartbeat.
						if _, err := raw.Exec(bind(o, `UPDATE rffmpeg_processes SET heartbeat = ? WHERE process_id = 12`), at.UnixMilli()); err != nil {
							t.Fatal(err)
						}
					}
					last = pol.Decide(snap)
					return last
				})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 2 {
				t.Fatalf("decide called %d times, want 2 (before and under the lock)", calls)
			}
			if last.HostID == full.ID || len(last.ReapProcesses) != 0 {
				t.Errorf("decided host %d reaping %v: the renewed job's host is full and its row live", last.HostID, last.ReapProcesses)
			}
			snap, err := s.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kept := false
			for _, p := range snap.Processes {
				kept = kept || p.PID == 12
			}
			if !kept {
				t.Errorf("the renewed job's row was reaped")
			}
		})
	}
}
