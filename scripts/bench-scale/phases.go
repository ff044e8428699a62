package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

var ctx = context.Background()

// env is one backend's database, configuration and hosts.
type env struct {
	dir, config string
	opts        state.Options
	store       *state.Store
	dropDB      func()
	// restartFn restarts the PostgreSQL server (nil: not done).
	restartFn func() error
	server    *privateServer
}

func (e *env) close() {
	e.store.Close()
	if e.dropDB != nil {
		e.dropDB()
	}
	if e.server != nil {
		e.server.stop()
	}
	os.RemoveAll(e.dir)
}

// pgAdmin is the server to run on: RFFMPEG_TEST_PG_* as the tests name it.
func pgAdmin() state.Options {
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	port := 5432
	fmt.Sscan(get("RFFMPEG_TEST_PG_PORT", "5432"), &port)
	return state.Options{Backend: state.PostgreSQL, Host: get("RFFMPEG_TEST_PG_HOST", "127.0.0.1"), Port: port,
		User: get("RFFMPEG_TEST_PG_USER", "rffmpeg_test"), Password: get("RFFMPEG_TEST_PG_PASS", "rffmpeg_test"), Name: "postgres"}
}

// prepare makes a fresh database with the hosts and the frontends' rffmpeg.yml.
func prepare(b state.Backend, r *result, perHost int) (*env, error) {
	dir, err := workDir()
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, config: filepath.Join(dir, "rffmpeg.yml")}
	db := ""
	switch b {
	case state.PostgreSQL:
		admin := pgAdmin()
		if *restart != "" {
			e.restartFn = func() error {
				if out, err := exec.Command("sh", "-c", *restart).CombinedOutput(); err != nil {
					return fmt.Errorf("%s: %v: %s", *restart, err, out)
				}
				return nil
			}
		}
		if *pgServer == "private" {
			if e.server, err = startPrivate(); err != nil {
				return nil, err
			}
			admin = e.server.admin()
			e.restartFn = func() error { return e.server.restart(*downtime) }
		}
		name := fmt.Sprintf("rffmpeg_bench_scale_%d", os.Getpid())
		raw, err := sql.Open("pgx", admin.PostgresDSN())
		if err != nil {
			return nil, err
		}
		// The server may be full of other programs' connections for a
		// moment (53300): wait for a slot, as the store does.
		for try := 0; try < 100; try++ {
			if _, err = raw.Exec(`CREATE DATABASE ` + name); err == nil || !strings.Contains(err.Error(), "53300") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("create database: %w", err)
		}
		e.dropDB = func() { raw.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); raw.Close() }
		r.Server = *pgServer
		e.opts = admin
		e.opts.Name = name
		db = fmt.Sprintf("    type: postgresql\n    host: %s\n    port: %d\n    user: %s\n    password: %s\n    name: %s\n",
			admin.Host, admin.Port, admin.User, admin.Password, name)
	default:
		e.opts = state.Options{Backend: state.SQLite, Path: filepath.Join(dir, "rffmpeg.db")}
		db = "    type: sqlite\n    path: " + e.opts.Path + "\n"
	}
	cfg := fmt.Sprintf("rffmpeg:\n  logging:\n    log_to_file: false\n  directories:\n    state: %s\n    persist: %s\n"+
		"  commands:\n    ffmpeg: /bin/true\n    fallback_ffmpeg: /bin/true\n  database:\n%s    lease: %d\n    wait: %d\n",
		dir, dir, db, *lease, *wait)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if e.store, err = state.Init(ctx, e.opts); err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range *hosts {
		if _, err := e.store.AddHostWith(ctx, "localhost", fmt.Sprintf("bench-h%03d", i), 1, state.HostProps{MaxJobs: &perHost}, now); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// start runs n frontend processes, bench-f0 … bench-f(n-1).
func (e *env) start(n int) ([]*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var fs []*proc
	for i := range n {
		p := &proc{id: fmt.Sprintf("bench-f%d", i)}
		p.cmd = exec.Command(self, "-frontend")
		p.cmd.Env = append(os.Environ(), "RFFMPEG_CONFIG="+e.config, "RFFMPEG_FRONTEND_ID="+p.id)
		p.cmd.Stderr = os.Stderr
		if p.in, err = p.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		p.out = bufio.NewScanner(out)
		p.out.Buffer(make([]byte, 1<<20), 16<<20)
		if err := p.cmd.Start(); err != nil {
			return nil, err
		}
		fs = append(fs, p)
	}
	return fs, nil
}

// snapshot reads the pool, retrying while the server restarts.
func (e *env) snapshot() (state.Snapshot, error) {
	var err error
	for range 50 {
		var s state.Snapshot
		if s, err = e.store.Snapshot(ctx); err == nil {
			return s, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return state.Snapshot{}, err
}

// perHostCount is how many jobs each host runs (host 0, the fallback, left out).
func perHostCount(s state.Snapshot) map[int64]int {
	n := map[int64]int{}
	for _, p := range s.Processes {
		if p.HostID != state.LocalHostID {
			n[p.HostID]++
		}
	}
	return n
}

// burst: every frontend starts its share of capacity+extra jobs at once,
// while the pool is watched for a host above its max_jobs.
func (e *env) burst(r *result, fs []*proc, perHost int) error {
	each := (r.Capacity + *extra + len(fs) - 1) / len(fs)
	r.BurstAsked = each * len(fs)
	over := map[int64]bool{}
	var mu sync.Mutex
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // the overbooking watch
		defer close(watched)
		for {
			if s, err := e.store.Snapshot(ctx); err == nil {
				mu.Lock()
				for id, n := range perHostCount(s) {
					if n > perHost {
						over[id] = true
					}
				}
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	replies, err := all(fs, fmt.Sprintf("hold %d", each))
	r.BurstSeconds = time.Since(t0).Seconds()
	close(stop)
	<-watched
	if err != nil {
		return err
	}
	for _, rp := range replies {
		r.BurstFallback += rp.Fallback
		if rp.Errors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("burst: %d errors: %s", rp.Errors, rp.Err))
		}
	}
	s, err := e.snapshot()
	if err != nil {
		return err
	}
	counts := perHostCount(s)
	for _, h := range s.Hosts {
		if counts[h.ID] > perHost {
			over[h.ID] = true
		}
		if counts[h.ID] != perHost {
			r.Uneven++
		}
	}
	r.Overbooked = len(over)
	replies, err = all(fs, "release-fallback")
	for _, rp := range replies {
		r.Held += rp.Held
	}
	return err
}

// latency times selections at the held load: from every frontend at
// once, then from one alone. The hosts get one more slot each first, so a
// selection picks a host (at capacity every one would fall back).
func (e *env) latency(r *result, fs []*proc, perHost int) error {
	more := perHost + 1
	for i := range *hosts {
		if _, err := e.store.SetHostProps(ctx, fmt.Sprintf("bench-h%03d", i), state.HostProps{MaxJobs: &more}); err != nil {
			return err
		}
	}
	replies, err := all(fs, fmt.Sprintf("paced %d", *samples))
	if err != nil {
		return err
	}
	var paced []float64
	for _, rp := range replies {
		paced = append(paced, rp.Latencies...)
	}
	r.P50Paced, r.P99Paced = percentile(paced, 0.5), percentile(paced, 0.99)
	replies, err = all(fs, fmt.Sprintf("measure %d", *samples))
	if err != nil {
		return err
	}
	var lat []float64
	for _, rp := range replies {
		lat = append(lat, rp.Latencies...)
		r.Statements = rp.Statements
		if rp.Errors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("measure: %d errors: %s", rp.Errors, rp.Err))
		}
	}
	r.P50, r.P99, r.Max = percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1)
	alone, err := all(fs[:1], fmt.Sprintf("measure %d", *samples))
	if err != nil {
		return err
	}
	r.P50Alone, r.P99Alone = percentile(alone[0].Latencies, 0.5), percentile(alone[0].Latencies, 0.99)
	return nil
}

// callOverhead times the real shim (the ffmpeg name of the binary) against
// the program it runs, called directly, paired: a localhost host runs
// commands.ffmpeg (/bin/true) here, after a whole selection.
func (e *env) callOverhead(r *result) {
	if *binary == "" {
		return
	}
	shim := filepath.Join(e.dir, "ffmpeg")
	os.Symlink(*binary, shim)
	args := []string{"-i", "in.mkv", "-c:v", "libx264", "out.ts"}
	var direct, call []float64
	for range 40 {
		t0 := time.Now()
		exec.Command("/bin/true", args...).Run()
		direct = append(direct, ms(time.Since(t0)))
		c := exec.Command(shim, args...)
		c.Env = append(os.Environ(), "RFFMPEG_CONFIG="+e.config, "RFFMPEG_FRONTEND_ID=bench-call")
		t0 = time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("shim call: %v: %s", err, lastLine(out)))
			return
		}
		call = append(call, ms(time.Since(t0)))
	}
	r.DirectMedian, r.CallMedian = percentile(direct, 0.5), percentile(call, 0.5)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// byFrontend counts the job rows of each frontend.
func byFrontend(s state.Snapshot) map[string]int {
	n := map[string]int{}
	for _, p := range s.Processes {
		if p.Cmd != probeCmd { // held jobs only (see probeCmd)
			n[frontendOf(p)]++
		}
	}
	return n
}

// reap SIGKILLs the first frontend (its jobs' rows stay behind) and times
// how long the others' selections take to reap them, checking that no
// live frontend's row goes with them.
func (e *env) reap(r *result, fs []*proc) error {
	s, err := e.snapshot()
	if err != nil {
		return err
	}
	before := byFrontend(s)
	victim := fs[0]
	t0 := time.Now()
	victim.kill()
	deadline := t0.Add(time.Duration(*lease)*time.Second + 30*time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		s, err := e.snapshot()
		if err != nil {
			return err
		}
		now := byFrontend(s)
		for _, f := range fs[1:] {
			r.LiveLost = max(r.LiveLost, before[f.id]-now[f.id])
		}
		if now[victim.id] == 0 {
			r.ReapSeconds = time.Since(t0).Seconds()
			return nil
		}
	}
	r.Errors = append(r.Errors, fmt.Sprintf("the killed frontend's rows were not reaped within %v", deadline.Sub(t0)))
	return nil
}

// restart restarts PostgreSQL while the frontends select without pause and
// a real shim call runs, then checks that every host and live job's row
// is still there.
func (e *env) restart(r *result, fs []*proc) error {
	s, err := e.snapshot()
	if err != nil {
		return err
	}
	before := byFrontend(s)
	for _, f := range fs {
		if err := f.send(fmt.Sprintf("outage %d", outageFor.Milliseconds())); err != nil {
			return err
		}
	}
	o := &outage{}
	r.Restart = o
	time.Sleep(time.Second)
	var wg sync.WaitGroup
	if *binary != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(300 * time.Millisecond) // while the server is down
			c := exec.Command(filepath.Join(e.dir, "ffmpeg"), "-i", "in.mkv", "out.ts")
			c.Env = append(os.Environ(), "RFFMPEG_CONFIG="+e.config, "RFFMPEG_FRONTEND_ID=bench-call")
			t0 := time.Now()
			out, _ := c.CombinedOutput()
			r.CallDuringRestart, r.CallDuringRestartRC = ms(time.Since(t0)), c.ProcessState.ExitCode()
			r.CallDuringRestartLog = lastLine(out)
		}()
	}
	t0 := time.Now()
	if err := e.restartFn(); err != nil {
		return err
	}
	o.RestartSeconds = time.Since(t0).Seconds()
	wg.Wait()
	for _, f := range fs {
		rp, err := f.recv()
		if err != nil {
			return err
		}
		o.Selections += len(rp.Latencies)
		o.FellBack += rp.FellBack
		o.MaxWait = max(o.MaxWait, rp.MaxWait)
	}
	time.Sleep(2 * time.Second)
	if s, err = e.snapshot(); err != nil {
		return err
	}
	after := byFrontend(s)
	r.HostsAfterRestart = len(s.Hosts)
	for _, f := range fs {
		r.HeldAfterRestart += after[f.id]
		r.LiveLost = max(r.LiveLost, before[f.id]-after[f.id])
	}
	return nil
}

func (r *result) print() {
	fmt.Printf("\n== %s%s: %d frontend process(es), %d localhost hosts, capacity %d (max_jobs %d each)\n",
		r.Backend, map[string]string{"private": " (a private server)", "shared": " (the shared server)"}[r.Server], r.Frontends, r.Hosts, r.Capacity, r.Capacity/max(r.Hosts, 1))
	fmt.Printf("burst        %d jobs asked at once by %d frontends in %.1f s: %d held on hosts, %d on the fallback\n",
		r.BurstAsked, r.Frontends, r.BurstSeconds, r.Held, r.BurstFallback)
	fmt.Printf("overbooking  %d hosts ever above max_jobs [must be 0]; %d hosts not exactly full after the burst [spread, must be 0]\n", r.Overbooked, r.Uneven)
	fmt.Printf("selection    at %d running jobs, %d frontends each selecting every 50 ms on average: p50 %.2f ms, p99 %.2f ms [target p99 < 10 ms]\n",
		r.Held, r.Frontends, r.P50Paced, r.P99Paced)
	fmt.Printf("selection    same, back to back (the write lock always busy): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		r.P50, r.P99, r.Max)
	trips := ""
	if r.Backend == string(state.PostgreSQL) {
		trips = fmt.Sprintf("; %.1f round trips per selection", r.Statements)
	}
	fmt.Printf("selection    one frontend alone: p50 %.2f ms, p99 %.2f ms%s\n", r.P50Alone, r.P99Alone, trips)
	if r.CallMedian > 0 {
		fmt.Printf("call         rffmpeg ffmpeg (localhost host) %.1f ms vs /bin/true %.1f ms: overhead %.1f ms (medians of 40)\n",
			r.CallMedian, r.DirectMedian, r.CallMedian-r.DirectMedian)
	}
	if r.ReapSeconds >= 0 {
		fmt.Printf("reaping      SIGKILLed frontend's jobs reaped by the others after %.1f s (database.lease %d s) [target <= 60 s]; live rows lost: %d [must be 0]\n",
			r.ReapSeconds, r.LeaseSeconds, r.LiveLost)
	}
	if o := r.Restart; o != nil {
		fmt.Printf("restart      PostgreSQL restarted (%.1f s from stop to accepting again) under load: %d selections, %d gave up within database.wait (%d s) and would run on the fallback, longest %.0f ms\n",
			o.RestartSeconds, o.Selections, o.FellBack, *wait, o.MaxWait)
		fmt.Printf("restart      after: %d of %d hosts, %d live jobs' rows kept, live rows lost: %d [must be 0]\n",
			r.HostsAfterRestart, r.Hosts, r.HeldAfterRestart, r.LiveLost)
		if r.CallDuringRestart >= 0 {
			fmt.Printf("restart      a shim call during it: exit %d after %.0f ms\n", r.CallDuringRestartRC, r.CallDuringRestart)
		}
	}
	for _, e := range r.Errors {
		fmt.Printf("ERROR        %s\n", e)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(load)); len(f) >= 3 {
		fmt.Printf("load         average %s at the end of this run\n", strings.Join(f[:3], " "))
	}
}
