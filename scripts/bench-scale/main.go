// Command bench-scale measures rffmpeg with many frontends sharing one
// PostgreSQL (issue 16): F frontend processes with separate identities, H
// transcode hosts and J running jobs held by live processes. It prints
// selection latency (p50/p99), the whole call's overhead, how many times a
// host ran more than its capacity, the time to reap a SIGKILLed frontend's
// rows, and what a PostgreSQL restart did; then the same on SQLite with one
// frontend. The hosts are `localhost` hosts (they run jobs here without
// SSH): what is measured is the shared state, not SSH (make bench measures
// that). `make bench-scale` runs it; e2e/scale_test.go runs a reduced one.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

var (
	backends  = flag.String("backends", "postgresql,sqlite", "databases to run on, in order")
	frontends = flag.Int("frontends", 5, "frontend processes on PostgreSQL (SQLite: 1)")
	hosts     = flag.Int("hosts", 100, "transcode hosts (localhost hosts)")
	jobs      = flag.Int("jobs", 1000, "running jobs held, in all (the pool's capacity: hosts × max_jobs)")
	extra     = flag.Int("extra", 100, "jobs asked for beyond the capacity in the burst (they must not overbook)")
	samples   = flag.Int("samples", 200, "selections timed per frontend")
	lease     = flag.Int("lease", 60, "database.lease in seconds")
	wait      = flag.Int("wait", 2, "database.wait in seconds (the bound of a call during an outage)")
	pgServer  = flag.String("pg", "shared", "PostgreSQL: shared (RFFMPEG_TEST_PG_*, restarted only with -restart) or private (a fresh cluster of the installed PostgreSQL, as root, restarted under load)")
	restart   = flag.String("restart", "", "with -pg shared: command restarting the server (e.g. 'pg_ctlcluster 15 main restart'); empty: no restart")
	downtime  = flag.Duration("down", 3*time.Second, "with -pg private: how long the server stays down in its restart")
	outageFor = flag.Duration("outage", 12*time.Second, "how long the frontends select without pause around the restart")
	binary    = flag.String("binary", "", "the rffmpeg binary, for the whole call's overhead; empty: skip")
	jsonOut   = flag.Bool("json", false, "print the results as JSON lines too")
	child     = flag.Bool("frontend", false, "internal: run as a frontend")
)

func main() {
	flag.Parse()
	if *child {
		os.Exit(runFrontend())
	}
	fmt.Printf("rffmpeg scale benchmark on %s\n", machine())
	for _, b := range strings.Split(*backends, ",") {
		res, err := run(state.Backend(b))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-scale: %s: %v\n", b, err)
			os.Exit(1)
		}
		res.print()
		if *jsonOut {
			j, _ := json.Marshal(res)
			fmt.Printf("RESULT %s\n", j)
		}
	}
}

// result is one backend's figures.
type result struct {
	Backend              string
	Server               string // PostgreSQL: shared or private
	Frontends, Hosts     int
	Held, Capacity       int
	BurstAsked           int
	BurstSeconds         float64
	BurstFallback        int
	Overbooked           int     // hosts running more than max_jobs, ever seen
	Uneven               int     // hosts not at exactly max_jobs after a burst above capacity (spread)
	P50Paced, P99Paced   float64 // ms, selections at a steady rate
	P50, P99, Max        float64 // ms, back to back
	P50Alone, P99Alone   float64
	Statements           float64
	CallMedian           float64 // ms, the shim's whole call
	DirectMedian         float64 // ms, the program run directly
	LeaseSeconds         int
	ReapSeconds          float64 // SIGKILL to the last row gone; -1: not measured
	LiveLost             int     // live frontends' rows that disappeared (must be 0)
	Restart              *outage `json:",omitempty"`
	Errors               []string
	HeldAfterRestart     int
	HostsAfterRestart    int
	CallDuringRestart    float64 // ms; -1: not measured
	CallDuringRestartRC  int
	CallDuringRestartLog string `json:"-"`
}

// outage is what a PostgreSQL restart did.
type outage struct {
	RestartSeconds float64 // the restart command's own duration
	Selections     int
	FellBack       int     // selections that gave up within database.wait
	MaxWait        float64 // ms
}

func run(b state.Backend) (*result, error) {
	nf := *frontends
	if b == state.SQLite {
		nf = 1
	}
	perHost := max(*jobs / *hosts, 1)
	r := &result{Backend: string(b), Frontends: nf, Hosts: *hosts, Capacity: perHost * *hosts, LeaseSeconds: *lease,
		ReapSeconds: -1, CallDuringRestart: -1}
	env, err := prepare(b, r, perHost)
	if err != nil {
		return nil, err
	}
	defer env.close()
	progress("%s: %d hosts added; starting %d frontends", b, *hosts, nf)
	fs, err := env.start(nf)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range fs {
			f.kill()
		}
	}()
	progress("%s: burst", b)
	if err := env.burst(r, fs, perHost); err != nil {
		return nil, err
	}
	progress("%s: selection latency", b)
	if err := env.latency(r, fs, perHost); err != nil {
		return nil, err
	}
	progress("%s: shim calls", b)
	env.callOverhead(r)
	if nf > 1 {
		progress("%s: SIGKILL of a frontend, waiting for its rows to be reaped (lease %d s)", b, *lease)
		if err := env.reap(r, fs); err != nil {
			return nil, err
		}
		fs = fs[1:]
	}
	if env.restartFn != nil {
		progress("%s: restart under load", b)
		if err := env.restart(r, fs); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// proc is a running frontend process.
type proc struct {
	id  string
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (p *proc) send(command string) error {
	_, err := fmt.Fprintln(p.in, command)
	return err
}

func (p *proc) recv() (reply, error) {
	var r reply
	if !p.out.Scan() {
		return r, fmt.Errorf("frontend %s ended", p.id)
	}
	return r, json.Unmarshal(p.out.Bytes(), &r)
}

// all sends a command to every frontend at once and collects the replies.
func all(fs []*proc, command string) ([]reply, error) {
	for _, f := range fs {
		if err := f.send(command); err != nil {
			return nil, err
		}
	}
	var out []reply
	for _, f := range fs {
		r, err := f.recv()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// frontendOf is the frontend a processes row's owner names.
func frontendOf(p state.Process) string { return owner.Frontend(p.Owner) }

func machine() string {
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	la := ""
	if len(f) >= 3 {
		la = strings.Join(f[:3], " ")
	}
	cpu := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = strings.Count(string(b), "processor\t:")
	}
	return fmt.Sprintf("%s, %d CPUs, load average %s (at start)", host, cpu, la)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// workDir is a fresh directory for a run's database and configuration.
func workDir() (string, error) {
	d, err := os.MkdirTemp("", "rffmpeg-bench-scale-")
	if err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o755)
}

func itoa(n int) string { return strconv.Itoa(n) }

// progress says on stderr what the run is doing (a phase can take a minute).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
