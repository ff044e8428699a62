package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A frontend is a separate process with its own identity
// (RFFMPEG_FRONTEND_ID), configured from an rffmpeg.yml like a media
// server's shims: its store, policy and lease come from setup, as theirs
// do. It holds its jobs as leases in one process (each shim would hold one;
// a thousand shim processes would need a thousand PostgreSQL connections)
// and heartbeats them all in one statement. It answers commands read on
// stdin with one JSON line on stdout.
type frontend struct {
	cfg   *config.Config
	store *state.Store
	self  owner.Identity
	mu    sync.Mutex
	held  []state.Lease
	// quiet is held while measuring, so the background traffic stays
	// out of the statement count.
	quiet sync.Mutex
}

// reply is a frontend's answer to a command.
type reply struct {
	Held, OnHosts, Fallback, Errors int
	Latencies                       []float64 // ms, of each Acquire
	Statements                      float64   // per Acquire (PostgreSQL)
	FellBack                        int       // outage: selections that gave up within database.wait
	MaxWait                         float64   // outage: longest selection, ms
	Err                             string
}

func runFrontend() int {
	c, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := state.Open(context.Background(), setup.Store(c))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Heartbeats on a connection of their own, as each shim has: behind
	// the selections of a 200-job burst in this process's pool they would
	// come late and a live job would look dead to the other frontends.
	hb, err := state.Open(context.Background(), setup.Store(c))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := &frontend{cfg: c, store: s, self: setup.Self(c)}
	go f.heartbeat(hb)
	go f.reapLoop()
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		words := strings.Fields(in.Text())
		if len(words) == 0 {
			continue
		}
		n := 0
		if len(words) > 1 {
			n, _ = strconv.Atoi(words[1])
		}
		var r reply
		switch words[0] {
		case "hold":
			r = f.hold(n)
		case "release-fallback":
			r = f.releaseFallback()
		case "measure":
			r = f.measure(n, 0)
		case "paced":
			r = f.measure(n, 50*time.Millisecond)
		case "outage":
			r = f.outage(time.Duration(n) * time.Millisecond)
		case "quit":
			return 0
		}
		out.Encode(r)
	}
	return 0
}

// acquire selects a host for one job and records it, as a shim's call
// does: the configured policy, judged as this frontend.
func (f *frontend) acquire(ctx context.Context) (state.Lease, state.Decision, error) {
	return f.acquireAs(ctx, jobCmd)
}

// jobCmd labels a held job's rows; probeCmd the rows of selections that
// are released at once (measure, outage, reapLoop's every second), which
// are not counted as held rows (a snapshot taken while one exists would count it as lost
// once it is released).
const (
	jobCmd   = "ffmpeg -i in.mkv -c:v libx264 out.ts"
	probeCmd = "ffmpeg -i in.mkv -c:v libx264 probe.ts"
)

func (f *frontend) acquireAs(ctx context.Context, cmd string) (state.Lease, state.Decision, error) {
	// The time is taken once the transaction runs (a zero Claim.Now): in
	// a burst a call may wait seconds for the write lock.
	req := state.AcquireRequest{Claim: state.Claim{PID: f.self.PID, Owner: f.self.String(), Cmd: cmd}}
	l, d, _, err := f.store.Acquire(ctx, req, func(snap state.Snapshot) state.Decision {
		pol, _ := setup.JobPolicy(f.cfg, time.Now(), f.self, "ffmpeg", []string{"-i", "in.mkv", "-c:v", "libx264", "out.ts"}, 0)
		d, _, _ := pol.PlanRoute(snap)
		return d
	})
	return l, d, err
}

// hold starts n jobs at once and keeps them.
func (f *frontend) hold(n int) reply {
	var r reply
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			l, _, err := f.acquire(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors++
				r.Err = err.Error()
				return
			}
			f.mu.Lock()
			f.held = append(f.held, l)
			f.mu.Unlock()
			r.Held++
			if l.HostID == state.LocalHostID {
				r.Fallback++
			} else {
				r.OnHosts++
			}
		}()
	}
	wg.Wait()
	return r
}

// releaseFallback ends the jobs that went to the local fallback.
func (f *frontend) releaseFallback() reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r reply
	kept := f.held[:0]
	for _, l := range f.held {
		if l.HostID != state.LocalHostID {
			kept = append(kept, l)
			continue
		}
		if err := f.store.Release(context.Background(), l); err != nil {
			r.Errors++
			r.Err = err.Error()
		}
	}
	f.held = kept
	r.Held = len(kept)
	return r
}

// measure times n selections, one after the other (each job released at
// once, so the pool stays as it is), paced at random intervals of mean
// pace (0: back to back, the server saturated).
func (f *frontend) measure(n int, pace time.Duration) reply {
	var r reply
	f.quiet.Lock()
	defer f.quiet.Unlock()
	var stmts int64
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st0 := f.store.Statements()
		t0 := time.Now()
		l, _, err := f.acquireAs(ctx, probeCmd)
		r.Latencies = append(r.Latencies, float64(time.Since(t0).Microseconds())/1000)
		stmts += f.store.Statements() - st0
		cancel()
		if err != nil {
			r.Errors++
			r.Err = err.Error()
			continue
		}
		f.store.Release(context.Background(), l)
		if pace > 0 {
			time.Sleep(time.Duration(rand.ExpFloat64() * float64(pace)))
		}
	}
	r.Statements = float64(stmts) / float64(max(n, 1))
	return r
}

// outage selects continuously for d as jobs would during a database
// restart: each selection waits at most database.wait, then the job would
// run on the fallback (counted in FellBack).
func (f *frontend) outage(d time.Duration) reply {
	var r reply
	wait := time.Duration(f.cfg.Database.Wait) * time.Second
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		t0 := time.Now()
		l, _, err := f.acquireAs(ctx, probeCmd)
		took := float64(time.Since(t0).Microseconds()) / 1000
		cancel()
		r.MaxWait = max(r.MaxWait, took)
		r.Latencies = append(r.Latencies, took)
		if err != nil {
			r.FellBack++
			r.Err = err.Error()
			continue
		}
		f.store.Release(context.Background(), l)
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// heartbeat keeps every held job alive, in one statement per beat.
func (f *frontend) heartbeat(s *state.Store) {
	every := owner.HeartbeatFor(setup.Lease(f.cfg))
	for range time.Tick(every) {
		ctx, cancel := context.WithTimeout(context.Background(), every)
		s.HeartbeatOwner(ctx, f.self.String(), time.Now())
		cancel()
	}
}

// reapLoop is the background selection traffic of a live frontend (its
// calls are what reap the rows of a dead one): one selection a second.
func (f *frontend) reapLoop() {
	for range time.Tick(time.Second) {
		f.quiet.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if l, _, err := f.acquireAs(ctx, probeCmd); err == nil {
			f.store.Release(ctx, l)
		}
		cancel()
		f.quiet.Unlock()
	}
}

// percentile of sorted values, p in [0,1].
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}
