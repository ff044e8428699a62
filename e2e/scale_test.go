package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scaleResult is what scripts/bench-scale reports per database (the
// fields the test checks).
type scaleResult struct {
	Backend                      string
	Frontends, Hosts             int
	Held, Capacity               int
	BurstAsked, BurstFallback    int
	Overbooked, Uneven           int
	P50Paced, P99Paced, P50, P99 float64
	Statements                   float64
	CallMedian                   float64
	LeaseSeconds                 int
	ReapSeconds                  float64
	LiveLost                     int
	Restart                      *struct {
		Selections, FellBack int
		MaxWait              float64
	}
	HeldAfterRestart, HostsAfterRestart int
	CallDuringRestart                   float64
	CallDuringRestartRC                 int
	Errors                              []string
}

// privatePG reports whether the test can run a private PostgreSQL server
// (a fresh cluster of the installed PostgreSQL, as root) to restart under
// load: restarting the shared server would disturb every other user of it.
func privatePG() bool {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	return os.Geteuid() == 0 && len(bins) > 0
}

// TestScale is make bench-scale reduced: 3 frontend processes with their
// own identities share a PostgreSQL with 10 localhost hosts of 10 slots;
// they ask for 120 jobs at once (never more than max_jobs on a host, the
// 20 beyond capacity on the fallback, every host exactly full); selection
// costs a constant number of statements; a real shim call runs; the first
// frontend is SIGKILLed and the others reap its rows within the lease
// while every row of theirs stays; PostgreSQL (a private server, as root)
// is down for 3 s under load and no host or live job's row is lost while
// calls wait at most database.wait, then run on the fallback. Then the same on SQLite with one
// frontend. Timing bounds are coarse: the machine is shared.
func TestScale(t *testing.T) {
	if os.Getenv("RFFMPEG_TEST_PG_HOST") == "" && !privatePG() {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_PG") == "1" {
			t.Fatal("RFFMPEG_TEST_REQUIRE_PG=1 but RFFMPEG_TEST_PG_HOST is not set")
		}
		t.Skip("PostgreSQL not configured (RFFMPEG_TEST_PG_HOST)")
	}
	bench := filepath.Join(binDir, "bench-scale")
	if out, err := exec.Command("go", "build", "-o", bench, "../scripts/bench-scale").CombinedOutput(); err != nil {
		t.Fatalf("build bench-scale: %v\n%s", err, out)
	}
	const lease, wait = 5, 2
	args := []string{"-frontends", "3", "-hosts", "10", "-jobs", "100", "-extra", "20", "-samples", "30",
		"-lease", "5", "-wait", "2", "-outage", "8s", "-binary", filepath.Join(binDir, "rffmpeg"), "-json"}
	restart := privatePG()
	if restart {
		args = append(args, "-pg", "private", "-down", "3s")
	} else {
		t.Log("no PostgreSQL restart (needs root and the installed PostgreSQL for a private server)")
	}
	cmd := exec.Command(bench, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	t.Logf("bench-scale:\n%s", out)
	if err != nil {
		t.Fatalf("bench-scale: %v", err)
	}
	var results []scaleResult
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r scaleResult
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				t.Fatal(err)
			}
			results = append(results, r)
		}
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2 (postgresql, sqlite)", len(results))
	}
	for _, r := range results {
		checkScale(t, r, lease, wait, restart)
	}
}

func checkScale(t *testing.T, r scaleResult, lease, wait int, restarted bool) {
	t.Helper()
	pg := r.Backend == "postgresql"
	for _, e := range r.Errors {
		t.Errorf("%s: %s", r.Backend, e)
	}
	checks := []struct {
		what      string
		got, want int
	}{
		{"hosts above max_jobs", r.Overbooked, 0},
		{"hosts not exactly full after the burst", r.Uneven, 0},
		{"jobs held on hosts", r.Held, r.Capacity},
		{"jobs on the fallback", r.BurstFallback, r.BurstAsked - r.Capacity},
		{"live rows lost", r.LiveLost, 0},
	}
	if pg {
		// Round trips: BEGIN, the reads (one pipelined batch), the lock
		// with the count per host (another), the job's rows, COMMIT.
		checks = append(checks, struct {
			what      string
			got, want int
		}{"round trips per selection", int(r.Statements + 0.5), 5})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s = %d, want %d", r.Backend, c.what, c.got, c.want)
		}
	}
	if r.P50 <= 0 || r.P50 > 500 || r.CallMedian <= 0 || r.CallMedian > 2000 {
		t.Errorf("%s: selection p50 %.1f ms, call %.1f ms: want some and under 500 ms, 2 s", r.Backend, r.P50, r.CallMedian)
	}
	if !pg {
		return
	}
	// Reaped after the lease (the heartbeat before the kill is at most a
	// quarter of it old) and not much later.
	if r.ReapSeconds < float64(lease)*0.5 || r.ReapSeconds > float64(lease)+10 {
		t.Errorf("killed frontend's rows reaped after %.1f s, want between %.1f and %d s", r.ReapSeconds, float64(lease)*0.5, lease+10)
	}
	if !restarted {
		return
	}
	if r.Restart == nil || r.Restart.Selections == 0 {
		t.Fatalf("no selections across the restart: %+v", r.Restart)
	}
	if r.HostsAfterRestart != r.Hosts {
		t.Errorf("%d hosts after the restart, want %d", r.HostsAfterRestart, r.Hosts)
	}
	if bound := float64(wait*1000 + 3000); r.Restart.MaxWait > bound || r.CallDuringRestart > bound+5000 || r.CallDuringRestart < 0 {
		t.Errorf("across the restart a selection waited %.0f ms, a call took %.0f ms: want at most %.0f ms (database.wait %d s)",
			r.Restart.MaxWait, r.CallDuringRestart, bound, wait)
	}
	if r.CallDuringRestartRC != 0 {
		t.Errorf("a shim call during the restart exited %d, want 0 (run on a host or the fallback)", r.CallDuringRestartRC)
	}
}
