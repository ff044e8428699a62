package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rffmpeg/rffmpeg/internal/metrics"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

var (
	ctx = context.Background()
	now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

// parse reads the text format with the Prometheus libraries' own parser.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return mfs
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func text(t *testing.T, read metrics.Reader) string {
	t.Helper()
	var b bytes.Buffer
	if err := metrics.WriteText(ctx, &b, metrics.NewCollector(read, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A real database on each backend: hosts in several states, running jobs,
// a bad mark, and a history; the printed text parsed back.
func TestMetricsFromStore(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			o := b.New(t)
			s, err := state.Init(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, h := range []string{"gpu1.lan", "gpu2.lan", "cpu.lan"} {
				if _, err := s.AddHost(ctx, h, strings.TrimSuffix(h, ".lan"), 2, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.SetDrain(ctx, "cpu", true); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkBad(ctx, 2, state.Claim{PID: 77, Owner: "x", Now: now}, "Connection refused"); err != nil {
				t.Fatal(err)
			}
			db := statetest.Raw(t, o)
			for _, q := range []string{
				`INSERT INTO processes (host_id, process_id, cmd) VALUES (1, 11, 'ffmpeg a')`,
				`INSERT INTO processes (host_id, process_id, cmd) VALUES (1, 12, 'ffmpeg b')`,
				`INSERT INTO processes (host_id, process_id, cmd) VALUES (0, 13, 'ffprobe c')`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			for _, j := range []state.JobRecord{
				{HostID: 1, Servername: "gpu1", Class: "transcode", Started: now, Duration: 40 * time.Second},
				{HostID: 1, Servername: "gpu1", Class: "transcode", Started: now, Duration: 20 * time.Minute},
				{HostID: 2, Servername: "gpu2", Class: "probe", Started: now.Add(-time.Hour), Duration: 300 * time.Millisecond, ExitCode: 255, Failure: state.FailConnect},
				{HostID: 0, Servername: "localhost", Class: "probe", Started: now, Duration: 200 * time.Millisecond},
			} {
				if err := s.RecordJob(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []state.CheckResult{
				{HostID: 1, At: now.Add(-2 * time.Hour), Latency: 9 * time.Second, OK: true}, // out of the window
				{HostID: 1, At: now.Add(-10 * time.Minute), Latency: 20 * time.Millisecond, OK: true},
				{HostID: 1, At: now.Add(-5 * time.Minute), Latency: 40 * time.Millisecond, OK: true},
				{HostID: 2, At: now.Add(-2 * time.Minute), Latency: time.Second, Reason: "timed out after 1s"},
			} {
				if err := s.RecordCheck(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			policy := func() selector.Policy {
				return selector.Policy{Now: now, BadTTL: time.Hour, Dead: func(int, string, time.Time) bool { return false }}
			}
			mfs := parse(t, text(t, metrics.StoreReader(s, policy)))
			checkHealth(t, mfs)
			for _, c := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{metrics.Hosts, map[string]string{"state": "active"}, 1},
				{metrics.Hosts, map[string]string{"state": "bad"}, 1},
				{metrics.Hosts, map[string]string{"state": "draining"}, 1},
				{metrics.Hosts, map[string]string{"state": "idle"}, 0},
				{metrics.HostState, map[string]string{"host": "gpu2", "state": "bad"}, 1},
				{metrics.HostState, map[string]string{"host": "gpu2", "state": "idle"}, 0},
				{metrics.HostWeight, map[string]string{"host": "cpu", "hostname": "cpu.lan"}, 2},
				{metrics.HostJobsRunning, map[string]string{"host": "gpu1"}, 2},
				{metrics.HostJobsRunning, map[string]string{"host": "gpu2"}, 0},
				{metrics.HostJobsRunning, map[string]string{"host": metrics.FallbackHost}, 1},
				{metrics.HostBad, map[string]string{"host": "gpu2"}, 1},
				{metrics.HostBad, map[string]string{"host": "gpu1"}, 0},
				{metrics.HostHistoryJobs, map[string]string{"host": "gpu1", "outcome": "ok"}, 2},
				{metrics.HostHistoryJobs, map[string]string{"host": "gpu2", "outcome": "connect"}, 1},
				{metrics.HostHistoryJobs, map[string]string{"host": metrics.FallbackHost, "outcome": "ok"}, 1},
				{metrics.JobDuration, map[string]string{"class": "transcode", "outcome": "ok"}, 2},
				{metrics.JobDuration, map[string]string{"class": "probe", "outcome": "connect"}, 1},
				{metrics.HistoryOldest, nil, float64(now.Add(-time.Hour).Unix())},
			} {
				got, ok := value(t, mfs, c.name, c.labels)
				if !ok || got != c.want {
					t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
				}
			}
			if got := mfs[metrics.JobDuration].GetType(); got != dto.MetricType_HISTOGRAM {
				t.Errorf("%s is a %v, want a histogram", metrics.JobDuration, got)
			}
			checkBuckets(t, mfs[metrics.JobDuration])
		})
	}
}

// checkHealth: the last hour's checks (two passed on gpu1, one failed on
// gpu2) and the day's mark on gpu2.
func checkHealth(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.CheckDuration, map[string]string{"host": "gpu1", "outcome": "ok"}, 2},
		{metrics.CheckDuration, map[string]string{"host": "gpu2", "outcome": "failed"}, 1},
		{metrics.LastCheckTook, map[string]string{"host": "gpu1"}, 0.04},
		{metrics.BadMarks, map[string]string{"host": "gpu2", "class": "connect"}, 1},
	} {
		if got, ok := value(t, mfs, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(t, mfs, metrics.LastCheckTook, map[string]string{"host": "gpu2"}); ok {
		t.Errorf("gpu2 has a last passed check's latency, but none passed")
	}
	mf := mfs[metrics.CheckDuration]
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("%s is a %v, want a histogram", metrics.CheckDuration, mf.GetType())
	}
	for _, m := range mf.Metric {
		if m.Label[0].GetValue() != "gpu1" {
			continue
		}
		got := map[float64]uint64{}
		for _, b := range m.Histogram.Bucket {
			got[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		if len(got) != len(metrics.CheckBuckets)+1 || got[0.01] != 0 || got[0.025] != 1 || got[0.05] != 2 || got[10] != 2 {
			t.Errorf("gpu1's check buckets %v", got)
		}
		if sum := m.Histogram.GetSampleSum(); sum < 0.0599 || sum > 0.0601 {
			t.Errorf("gpu1's check sum %v, want 0.06", sum)
		}
	}
}

// checkBuckets: the transcode/ok histogram holds 40 s and 20 min.
func checkBuckets(t *testing.T, mf *dto.MetricFamily) {
	t.Helper()
	for _, m := range mf.Metric {
		if m.Label[0].GetValue() != "transcode" {
			continue
		}
		if len(m.Histogram.Bucket) != len(metrics.DurationBuckets)+1 { // and +Inf
			t.Errorf("%d buckets, want all %d and +Inf", len(m.Histogram.Bucket), len(metrics.DurationBuckets))
		}
		got := map[float64]uint64{}
		for _, b := range m.Histogram.Bucket {
			got[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		for ub, want := range map[float64]uint64{30: 0, 60: 1, 900: 1, 1800: 2, 7200: 2} {
			if got[ub] != want {
				t.Errorf("bucket le=%v: %d, want %d", ub, got[ub], want)
			}
		}
		if s := m.Histogram.GetSampleSum(); s != 1240 {
			t.Errorf("sum = %v, want 1240", s)
		}
		return
	}
	t.Error("no transcode histogram")
}

// Hostile host names survive as label values: escaped as the format says,
// parsed back exactly.
func TestMetricsLabelEscaping(t *testing.T) {
	name := "evil\"} 1\nrffmpeg_hosts{state=\"idle\"} 99\\"
	read := func(context.Context) (metrics.Data, error) {
		return metrics.Data{View: selector.View{Hosts: []selector.HostView{{
			Host: state.Host{ID: 1, Servername: name, Hostname: "h\x1b[2J", Weight: 1}, State: state.StateIdle}}}}, nil
	}
	out := text(t, read)
	mfs := parse(t, out)
	if got, _ := value(t, mfs, metrics.Hosts, map[string]string{"state": "idle"}); got != 1 {
		t.Errorf("idle hosts = %v, want 1 (a forged sample got in?)\n%s", got, out)
	}
	if got, ok := value(t, mfs, metrics.HostWeight, map[string]string{"host": name, "hostname": "h\x1b[2J"}); !ok || got != 1 {
		t.Errorf("weight of the hostile host = %v, %v\n%s", got, ok, out)
	}
}

// Hostile label values, one table row each: every one parses back with
// the Prometheus parser, forges no sample, and reads back as written, except
// invalid UTF-8, which the format cannot carry: each invalid byte becomes
// U+FFFD.
func TestMetricsHostileLabels(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"quote and brace", `a"} 1`, `a"} 1`},
		{"backslashes", `a\b\\n\`, `a\b\\n\`},
		{"newline forging a sample", "x\nrffmpeg_hosts{state=\"idle\"} 99\n", "x\nrffmpeg_hosts{state=\"idle\"} 99\n"},
		{"escaped-looking text", `\"\n`, `\"\n`},
		{"control bytes", "\x00\x01\t\r\x1b[2J\x7f", "\x00\x01\t\r\x1b[2J\x7f"},
		{"hash and braces", "# HELP x y\n# TYPE", "# HELP x y\n# TYPE"},
		{"valid non-ASCII", "hôte-é-☃", "hôte-é-☃"},
		{"invalid UTF-8", "a\xffb\xc3\x28c\xe2\x82", "a\uFFFDb\uFFFD(c\uFFFD\uFFFD"},
		{"empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			read := func(context.Context) (metrics.Data, error) {
				return metrics.Data{View: selector.View{Hosts: []selector.HostView{{
					Host: state.Host{ID: 1, Servername: c.in, Hostname: c.in + "h", Weight: 7}, State: state.StateIdle}}}}, nil
			}
			out := text(t, read)
			mfs := parse(t, out)
			if got, _ := value(t, mfs, metrics.Hosts, map[string]string{"state": "idle"}); got != 1 {
				t.Errorf("idle hosts = %v, want 1 (a forged sample got in?)\n%s", got, out)
			}
			got, ok := value(t, mfs, metrics.HostWeight, map[string]string{"host": c.want, "hostname": c.want + "h"})
			if !ok || got != 7 {
				t.Errorf("weight of host %q = %v (present %v), want 7\n%s", c.want, got, ok, out)
			}
			if n := len(mfs[metrics.HostWeight].Metric); n != 1 {
				t.Errorf("%d weight series, want 1\n%s", n, out)
			}
		})
	}
}

// The text written is exactly what the Prometheus libraries' own encoder
// writes for the same families (escaping, float spelling, le labels,
// +Inf, _sum and _count), and its series come in a stable order.
func TestMetricsMatchesExpfmt(t *testing.T) {
	read := func(context.Context) (metrics.Data, error) {
		return metrics.Data{
			View: selector.View{
				Hosts: []selector.HostView{
					{Host: state.Host{ID: 2, Servername: "b\\\"", Hostname: "b\n", Weight: 1, CheckedAt: now}, State: state.StateActive},
					{Host: state.Host{ID: 1, Servername: "a", Hostname: "a", Weight: 3, LastErrAt: now.Add(1500 * time.Millisecond)}, State: state.StateIdle},
				},
				Fallback: make([]state.Process, 2),
				Orphans:  make([]state.Process, 1),
			},
			Jobs: []state.JobRecord{
				{HostID: 1, Servername: "a", Class: "transcode", Started: now, Duration: 3 * time.Hour},
				{HostID: 0, Class: "probe", Started: now.Add(-time.Minute), Duration: 123456789 * time.Nanosecond},
				{HostID: 9, Class: "probe", Started: now, Duration: 0, ExitCode: 1, Failure: state.FailConnect},
			},
		}, nil
	}
	readTime := regexp.MustCompile(`(?m)^# HELP rffmpeg_metrics_read_duration_seconds .*\n# TYPE .*\nrffmpeg_metrics_read_duration_seconds \S+\n`)
	out := text(t, read)
	got := readTime.ReplaceAllString(out, "")
	if again := readTime.ReplaceAllString(text(t, read), ""); again != got || got == out {
		t.Error("two scrapes of the same data differ (or the read time is missing)")
	}
	mfs := parse(t, out)
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	sort.Strings(names)
	known := exported()
	for _, n := range names {
		if !known[n] || mfs[n].GetHelp() == "" {
			t.Errorf("family %s: in Names() %v, help %q; want both", n, known[n], mfs[n].GetHelp())
		}
	}
	var want bytes.Buffer
	for _, n := range names {
		if n == metrics.ReadDuration {
			continue // its value changes from run to run
		}
		if _, err := expfmt.MetricFamilyToText(&want, mfs[n]); err != nil {
			t.Fatal(err)
		}
	}
	if got != want.String() {
		t.Errorf("text differs from expfmt's encoding\ngot:\n%s\nwant:\n%s", got, want.String())
	}
	// Series sorted by label values, families by name.
	if a, b := strings.Index(out, `rffmpeg_host_weight{host="a"`), strings.Index(out, `rffmpeg_host_weight{host="b`); a < 0 || b < a {
		t.Errorf("host a's weight at %d, host b's at %d: want a first", a, b)
	}
	if a, b := strings.Index(out, "# HELP "+metrics.HostBad), strings.Index(out, "# HELP "+metrics.Hosts+" "); a < 0 || b < a {
		t.Errorf("families out of name order\n%s", out)
	}
	for _, line := range []string{
		`rffmpeg_job_duration_seconds_bucket{class="transcode",outcome="ok",le="+Inf"} 1`,
		`rffmpeg_job_duration_seconds_bucket{class="transcode",outcome="ok",le="7200"} 0`,
		`rffmpeg_job_duration_seconds_sum{class="transcode",outcome="ok"} 10800`,
		`rffmpeg_job_duration_seconds_count{class="probe",outcome="ok"} 1`,
		`rffmpeg_host_weight{host="b\\\"",hostname="b\n"} 1`,
		`rffmpeg_host_last_error_timestamp_seconds{host="a",hostname="a"} ` + strconv.FormatFloat(float64(now.Unix())+1.5, 'g', -1, 64),
		`rffmpeg_host_jobs_running{host="localhost (fallback)",hostname="localhost"} 2`,
		`rffmpeg_host_jobs_running{host="(removed host)",hostname="(removed host)"} 1`,
		`rffmpeg_host_history_jobs{host="9",outcome="connect"} 1`,
		"# TYPE rffmpeg_job_duration_seconds histogram",
		"# TYPE rffmpeg_hosts gauge",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("no line %s in\n%s", line, out)
		}
	}
}

// A failed read fails the scrape (500 on /metrics, an error when printing)
// rather than showing an empty, healthy-looking pool.
func TestMetricsReadError(t *testing.T) {
	read := func(context.Context) (metrics.Data, error) { return metrics.Data{}, io.ErrUnexpectedEOF }
	reg := metrics.NewCollector(read, time.Second)
	var b bytes.Buffer
	if err := metrics.WriteText(ctx, &b, reg); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("WriteText error = %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("a failed read wrote %q, want nothing", b.String())
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "unexpected EOF") {
		t.Errorf("status %d, body %q; want 500 naming the error", resp.StatusCode, body)
	}
}

func TestMetricsHandler(t *testing.T) {
	read := func(context.Context) (metrics.Data, error) {
		return metrics.Data{View: selector.View{Hosts: []selector.HostView{{Host: state.Host{ID: 1, Servername: "a", Hostname: "a", Weight: 3}, State: state.StateActive}}}}, nil
	}
	srv := httptest.NewServer(metrics.Handler(metrics.NewCollector(read, time.Second)))
	defer srv.Close()
	for _, c := range []struct {
		path string
		code int
	}{{"/metrics", 200}, {"/", 200}, {"/other", 404}} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, c.code)
		}
		if c.path == "/metrics" {
			if got, want := resp.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if got, want := expfmt.ResponseFormat(resp.Header), expfmt.NewFormat(expfmt.TypeTextPlain); got != want {
				t.Errorf("expfmt reads the response as %q, want %q", got, want)
			}
			if got, _ := value(t, parse(t, string(body)), metrics.HostWeight, map[string]string{"host": "a"}); got != 3 {
				t.Errorf("weight over HTTP = %v, want 3", got)
			}
		}
	}
}

// exported lists every series name the collector can produce, with the
// ones a histogram adds.
func exported() map[string]bool {
	names := map[string]bool{}
	for _, n := range metrics.Names() {
		names[n] = true
		if n == metrics.JobDuration || n == metrics.CheckDuration {
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				names[n+suf] = true
			}
		}
	}
	return names
}

// The dashboard is valid JSON and every expression names only exported
// metrics (a renamed metric breaks the test, not a panel in production).
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(exprs) < 5 {
		t.Fatalf("only %d expressions in the dashboard", len(exprs))
	}
	known := exported()
	used := map[string]bool{}
	re := regexp.MustCompile(`\brffmpeg_[a-z_]+`)
	for _, e := range exprs {
		names := re.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("expression names no rffmpeg metric: %s", e)
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("expression uses %s, which is not exported: %s", n, e)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
		}
	}
	var unused []string
	for _, n := range metrics.Names() {
		if !used[n] && n != metrics.ReadDuration {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	if want := []string(nil); !reflect.DeepEqual(unused, want) {
		t.Errorf("metrics no panel shows: %v", unused)
	}
}
