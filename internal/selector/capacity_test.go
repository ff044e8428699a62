package selector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// Capacity under real concurrency: many OS processes (this test binary
// re-executed), each with many goroutines, acquire at once. Selection and
// insertion are one transaction, so a policy counting each host's jobs
// never overbooks it.

const workerEnv = "RFFMPEG_SELECTOR_WORKER"

func TestMain(m *testing.M) {
	if job := os.Getenv(workerEnv); job != "" {
		os.Exit(worker(job))
	}
	os.Exit(m.Run())
}

type workerJob struct {
	Opts     state.Options
	WhenFull string
	Jobs     int           // goroutines in this process, one acquisition each
	Hold     time.Duration // how long each holds its lease
	Retry    time.Duration // wait policy: how often a waiter tries again
	// Frontends: each worker process is a frontend of its own (owners
	// frontend|boot|start) and Opts has a lease, so the store counts the
	// other frontends' jobs rather than reading them (state's lean
	// selection; on PostgreSQL its reads before the lock).
	Frontends bool
}

// workerResult counts where this process's jobs went.
type workerResult struct {
	Hosts  map[int64]int
	None   int
	Waited int // jobs that were queued at least once
	Errors []string
}

func worker(spec string) int {
	var job workerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	s, err := state.Open(ctx, job.Opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer s.Close()
	rules, err := selector.ParseRules(job.WhenFull, 0, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res := workerResult{Hosts: map[int64]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < job.Jobs; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host, none, waited, err := acquireOne(ctx, s, rules, g, job)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Errors = append(res.Errors, err.Error())
			case none:
				res.None++
			default:
				res.Hosts[host]++
			}
			if waited {
				res.Waited++
			}
		}()
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// acquireOne is the shim's selection loop in small: acquire; when told to
// wait, try again every job.Retry with the queue row; hold the lease; release.
func acquireOne(ctx context.Context, s *state.Store, rules selector.Rules, g int, job workerJob) (int64, bool, bool, error) {
	req := state.AcquireRequest{Claim: state.Claim{PID: os.Getpid(), Owner: fmt.Sprintf("worker-%d-%d", os.Getpid(), g), Cmd: "ffmpeg -i x"}}
	if job.Frontends {
		req.Claim.Owner = fmt.Sprintf("fe%d|boot|%d", os.Getpid(), g)
	}
	waited := false
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req.Claim.Now = time.Now()
		pol := selector.Policy{Now: req.Claim.Now, BadTTL: time.Minute, Fallback: true, Rules: rules, Waiting: req.Waiting}
		lease, d, _, err := s.Acquire(ctx, req, pol.Decide)
		if err != nil {
			return 0, false, waited, err
		}
		if d.Wait {
			if time.Now().After(deadline) {
				s.LeaveQueue(ctx, lease.Waiting)
				return 0, false, waited, fmt.Errorf("waited past the deadline")
			}
			waited, req.Waiting = true, lease.Waiting
			time.Sleep(job.Retry)
			continue
		}
		if d.None {
			return 0, true, waited, nil
		}
		time.Sleep(job.Hold)
		return d.HostID, false, waited, s.Release(ctx, lease)
	}
}

// sampler reads the processes table over and over while the workers run
// and keeps the highest count seen per host.
func sampler(t *testing.T, o state.Options, stop <-chan struct{}) <-chan map[int64]int {
	out := make(chan map[int64]int, 1)
	raw := statetest.Raw(t, o)
	go func() {
		defer raw.Close()
		peak := map[int64]int{}
		samples := 0
		for {
			select {
			case <-stop:
				peak[-1] = samples
				out <- peak
				return
			default:
			}
			rows, err := raw.Query(`SELECT host_id, count(*) FROM processes GROUP BY host_id`)
			if err == nil {
				for rows.Next() {
					var id int64
					var n int
					if rows.Scan(&id, &n) == nil && n > peak[id] {
						peak[id] = n
					}
				}
				rows.Close()
				samples++
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return out
}

// runWorkers starts procs worker processes of job, samples the table
// while they run, and sums their results.
func runWorkers(t *testing.T, o state.Options, job workerJob, procs int) (workerResult, map[int64]int) {
	spec, _ := json.Marshal(job)
	stop := make(chan struct{})
	peaks := sampler(t, o, stop)
	total := workerResult{Hosts: map[int64]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := statetest.Worker(workerEnv, string(spec)).Output()
			mu.Lock()
			defer mu.Unlock()
			var r workerResult
			if err != nil || json.Unmarshal(out, &r) != nil {
				total.Errors = append(total.Errors, fmt.Sprintf("worker: %v: %s", err, out))
				return
			}
			for h, n := range r.Hosts {
				total.Hosts[h] += n
			}
			total.None += r.None
			total.Waited += r.Waited
			total.Errors = append(total.Errors, r.Errors...)
		}()
	}
	wg.Wait()
	close(stop)
	return total, <-peaks
}

func capacityPool(t *testing.T, o state.Options) (*state.Store, map[int64]int) {
	ctx := context.Background()
	s, err := state.Init(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	limits := map[int64]int{}
	for i, max := range []int{2, 3, 5} {
		h, err := s.AddHostWith(ctx, fmt.Sprintf("h%d.lan", i+1), "", 1, state.HostProps{MaxJobs: &max}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		limits[h.ID] = max
	}
	return s, limits
}

func TestCapacityUnderConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, b := range statetest.Backends(t) {
		for _, c := range []struct {
			whenFull  string
			frontends bool
		}{{"fallback", false}, {"reject", false}, {"fallback", true}, {"reject", true}} {
			whenFull := c.whenFull
			name := b.Name + "/" + whenFull
			if c.frontends {
				name += "/frontends"
			}
			t.Run(name, func(t *testing.T) {
				o := b.New(t)
				s, limits := capacityPool(t, o)
				if c.frontends {
					o.Lease = time.Minute
				}
				const procs, perProc = 8, 25 // 200 acquisitions
				res, peaks := runWorkers(t, o, workerJob{Opts: o, WhenFull: whenFull, Jobs: perProc, Hold: 80 * time.Millisecond, Frontends: c.frontends}, procs)
				if len(res.Errors) > 0 {
					t.Fatalf("%d errors, first: %s", len(res.Errors), res.Errors[0])
				}
				t.Logf("results %v none %d; peak rows per host %v (%d samples)", res.Hosts, res.None, peaks, peaks[-1])
				for id, max := range limits {
					if peaks[id] > max {
						t.Errorf("host %d: %d jobs at once, max_jobs %d", id, peaks[id], max)
					}
					if res.Hosts[id] == 0 {
						t.Errorf("host %d ran nothing", id)
					}
				}
				if peaks[-1] < 10 {
					t.Errorf("only %d samples: the check saw too little", peaks[-1])
				}
				sum := res.None
				for _, n := range res.Hosts {
					sum += n
				}
				if sum != procs*perProc {
					t.Errorf("%d outcomes for %d acquisitions", sum, procs*perProc)
				}
				switch whenFull {
				case "fallback":
					if res.Hosts[0] == 0 || res.None != 0 {
						t.Errorf("fallback: %d on host 0, %d refused; want overflow on host 0, none refused", res.Hosts[0], res.None)
					}
				case "reject":
					if res.Hosts[0] != 0 || res.None == 0 {
						t.Errorf("reject: %d on host 0, %d refused; want none on host 0, overflow refused", res.Hosts[0], res.None)
					}
				}
				snap, err := s.Snapshot(context.Background())
				if err != nil || len(snap.Processes) != 0 || len(snap.Marks) != 0 || len(snap.Queue) != 0 {
					t.Errorf("rows left: %d processes, %d states, %d queued, %v", len(snap.Processes), len(snap.Marks), len(snap.Queue), err)
				}
			})
		}
	}
}

// The wait policy with real processes: everything runs on the hosts (none
// locally, none refused), never above max_jobs, and the queue empties.
func TestWaitQueueUnderConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, b := range statetest.Backends(t) {
		for _, frontends := range []bool{false, true} {
			name := b.Name
			if frontends {
				name += "/frontends"
			}
			t.Run(name, func(t *testing.T) {
				o := b.New(t)
				s, limits := capacityPool(t, o)
				if frontends {
					o.Lease = time.Minute
				}
				const procs, perProc = 4, 10
				stopQ := make(chan struct{})
				queuePeak := make(chan int, 1)
				go func() {
					peak := 0
					for {
						select {
						case <-stopQ:
							queuePeak <- peak
							return
						case <-time.After(5 * time.Millisecond):
						}
						if snap, err := s.Snapshot(context.Background()); err == nil && len(snap.Queue) > peak {
							peak = len(snap.Queue)
						}
					}
				}()
				res, peaks := runWorkers(t, o, workerJob{Opts: o, WhenFull: "wait", Jobs: perProc, Hold: 40 * time.Millisecond, Retry: 15 * time.Millisecond, Frontends: frontends}, procs)
				close(stopQ)
				qp := <-queuePeak
				if len(res.Errors) > 0 {
					t.Fatalf("%d errors, first: %s", len(res.Errors), res.Errors[0])
				}
				t.Logf("results %v; %d waited; peak rows %v; queue peak %d", res.Hosts, res.Waited, peaks, qp)
				for id, max := range limits {
					if peaks[id] > max {
						t.Errorf("host %d: %d jobs at once, max_jobs %d", id, peaks[id], max)
					}
				}
				if res.Hosts[0] != 0 || res.None != 0 || res.Waited == 0 || qp == 0 {
					t.Errorf("want every job on a host after waiting: host 0 %d, refused %d, waited %d, queue peak %d", res.Hosts[0], res.None, res.Waited, qp)
				}
				snap, _ := s.Snapshot(context.Background())
				if len(snap.Queue) != 0 || len(snap.Processes) != 0 {
					t.Errorf("left: %d queued, %d processes", len(snap.Queue), len(snap.Processes))
				}
			})
		}
	}
}
