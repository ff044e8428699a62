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
	if err := metrics.WriteText(&b, metrics.Registry(metrics.NewCollector(read, 5*time.Second))); err != nil {
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
			policy := func() selector.Policy {
				return selector.Policy{Now: now, BadTTL: time.Hour, Dead: func(int, string, time.Time) bool { return false }}
			}
			mfs := parse(t, text(t, metrics.StoreReader(s, policy)))
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

// Hostile host names survive as label values: escaped by the library,
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

// A failed read fails the scrape (500 on /metrics, an error when printing)
// rather than showing an empty, healthy-looking pool.
func TestMetricsReadError(t *testing.T) {
	read := func(context.Context) (metrics.Data, error) { return metrics.Data{}, io.ErrUnexpectedEOF }
	reg := metrics.Registry(metrics.NewCollector(read, time.Second))
	var b bytes.Buffer
	if err := metrics.WriteText(&b, reg); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("WriteText error = %v", err)
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
}

func TestMetricsHandler(t *testing.T) {
	read := func(context.Context) (metrics.Data, error) {
		return metrics.Data{View: selector.View{Hosts: []selector.HostView{{Host: state.Host{ID: 1, Servername: "a", Hostname: "a", Weight: 3}, State: state.StateActive}}}}, nil
	}
	srv := httptest.NewServer(metrics.Handler(metrics.Registry(metrics.NewCollector(read, time.Second))))
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
		if n == metrics.JobDuration {
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
