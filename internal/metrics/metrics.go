// Package metrics exposes rffmpeg's state and job history in the Prometheus
// text format: printed once for node_exporter's textfile collector
// (`rffmpeg metrics`) or served on /metrics (`rffmpeg metrics --listen`).
// Every scrape reads the database afresh: other processes (the shims of
// every frontend) write it, so there is nothing to keep in memory.
//
// Job counts and durations come from the retained history as a histogram
// (rffmpeg_job_duration_seconds, by class and outcome): buckets add up
// across classes, hosts and frontends in PromQL, where a summary's
// quantiles cannot, and histogram_quantile() over the buckets gives the
// quantiles of the retained window directly. Because pruning drops old
// jobs, the histogram's _count and _sum are the retained window's, not
// counters since the beginning of time: they can go down, so read them
// as gauges (delta(), or the values themselves), not with rate().
//
// Check latency and bad marks come from the health history (the rows each
// host check and bad mark leaves, state.Store.Health) over fixed windows:
// the checks of the last hour as a histogram by host and outcome
// (rffmpeg_host_check_duration_seconds, a window too), the last passed
// check's latency, and the bad marks of the last day by host and class.
//
// The text format (version 0.0.4) is written here by hand rather than with
// client_golang: the same binary is the ffmpeg shim, started thousands of
// times in a library scan, and that library's package init (default
// collectors, protobuf descriptors) cost every start about a millisecond
// for a verb few runs. Label values are escaped as the format says
// (backslash, double quote, newline); the format is UTF-8, so a value that
// is not valid UTF-8 has each invalid byte replaced by U+FFFD (and two
// hosts whose names differ only there would share a series: Prometheus
// then rejects the scrape as duplicated, which is loud, not silent).
package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Data is what one scrape shows: the classified state, the retained
// history (commands need not be read), and from the health history the
// checks of the last CheckWindow and the bad marks of the last MarkWindow.
type Data struct {
	View   selector.View
	Jobs   []state.JobRecord
	Checks []state.HealthEvent
	Marks  []state.HealthEvent
}

// The windows of the health metrics: a fixed window (not the retained
// history's, which depends on the retention and the check rate) makes
// them comparable from scrape to scrape and across frontends.
const (
	CheckWindow = time.Hour
	MarkWindow  = 24 * time.Hour
)

// Reader reads Data for one scrape.
type Reader func(ctx context.Context) (Data, error)

// Names of the pseudo-hosts, as `rffmpeg status` names them.
const (
	FallbackHost = "localhost (fallback)"
	RemovedHost  = "(removed host)"
)

// HostStates are the states a host is counted in, all always exported so
// a state with no host reads 0 rather than "no data".
var HostStates = []string{state.StateIdle, state.StateActive, state.StateBad, state.StateDraining}

// DurationBuckets span a probe (well under a second) to a film transcode
// (hours).
var DurationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200}

// CheckBuckets span a check over a warm master connection (milliseconds)
// to one that ran into its timeout (remote.check_timeout, seconds).
var CheckBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metric names, exported for the dashboard test and for anyone writing
// alerts against them.
const (
	Hosts           = "rffmpeg_hosts"
	HostState       = "rffmpeg_host_state"
	HostWeight      = "rffmpeg_host_weight"
	HostJobsRunning = "rffmpeg_host_jobs_running"
	HostBad         = "rffmpeg_host_bad"
	HostLastCheck   = "rffmpeg_host_last_check_timestamp_seconds"
	HostLastError   = "rffmpeg_host_last_error_timestamp_seconds"
	HostHistoryJobs = "rffmpeg_host_history_jobs"
	JobDuration     = "rffmpeg_job_duration_seconds"
	HistoryOldest   = "rffmpeg_history_oldest_job_timestamp_seconds"
	ReadDuration    = "rffmpeg_metrics_read_duration_seconds"
	CheckDuration   = "rffmpeg_host_check_duration_seconds"
	LastCheckTook   = "rffmpeg_host_last_check_duration_seconds"
	BadMarks        = "rffmpeg_host_bad_marks"
)

// Names lists every metric family the collector exports.
func Names() []string {
	return []string{Hosts, HostState, HostWeight, HostJobsRunning, HostBad, HostLastCheck, HostLastError,
		HostHistoryJobs, JobDuration, HistoryOldest, ReadDuration, CheckDuration, LastCheckTook, BadMarks}
}

// help holds each family's HELP text.
var help = map[string]string{
	Hosts:           "Hosts in each state (idle, active, bad, draining).",
	HostState:       "1 for the host's current state, 0 for the others.",
	HostWeight:      "The host's weight.",
	HostJobsRunning: "Jobs running on the host now (the local fallback and removed hosts included).",
	HostBad:         "1 while the host has a bad mark in force.",
	HostLastCheck:   "When the host last passed its health check (Unix seconds).",
	HostLastError:   "When the host last failed (Unix seconds); its reason is in 'rffmpeg status'.",
	HostHistoryJobs: "Jobs in the retained history by host and outcome (ok or the failure class).",
	JobDuration:     "Durations of the jobs in the retained history, by class and outcome (a window: count and sum can go down when old jobs are pruned).",
	HistoryOldest:   "Start of the oldest job in the retained history (Unix seconds): the window the job metrics cover.",
	ReadDuration:    "How long reading the database for this scrape took.",
	CheckDuration:   "How long the hosts' health checks of the last hour took, by host and outcome (ok or failed; a window: count and sum can go down).",
	LastCheckTook:   "How long the host's last passed health check (within the last hour) took.",
	BadMarks:        "Bad marks set on the host in the last 24 hours, by failure class (as status --json names it; other: none named).",
}

// label is one name="value" pair; names are fixed here, values come from
// the database.
type label struct{ name, value string }

// sample is one series of a family: a gauge's value, or a histogram.
type sample struct {
	labels []label
	value  float64
	histo  *histo
}

// families collects one scrape's samples by family name.
type families map[string][]sample

func (f families) gauge(name string, v float64, labels ...label) {
	f[name] = append(f[name], sample{labels: labels, value: v})
}

// Collector turns one Data read into metrics on every scrape.
type Collector struct {
	read    Reader
	timeout time.Duration
}

// NewCollector reads through read, giving each scrape at most timeout.
func NewCollector(read Reader, timeout time.Duration) *Collector {
	return &Collector{read: read, timeout: timeout}
}

// gather reads the database once and builds every family; a failed read
// is an error, which fails the scrape visibly instead of showing a
// healthy empty pool.
func (c *Collector) gather(ctx context.Context) (families, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	data, err := c.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read rffmpeg state: %w", err)
	}
	f := families{}
	collectHosts(f, data.View)
	collectJobs(f, data.Jobs)
	collectHealth(f, data.Checks, data.Marks)
	f.gauge(ReadDuration, time.Since(start).Seconds())
	return f, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func hostLabels(servername, hostname string) []label {
	return []label{{"host", servername}, {"hostname", hostname}}
}

func collectHosts(f families, v selector.View) {
	count := map[string]int{}
	for _, h := range v.Hosts {
		count[h.State]++
		l := hostLabels(h.Servername, h.Hostname)
		for _, st := range HostStates {
			f.gauge(HostState, b2f(h.State == st), append(l[:2:2], label{"state", st})...)
		}
		f.gauge(HostWeight, float64(h.Weight), l...)
		f.gauge(HostJobsRunning, float64(len(h.Processes)), l...)
		f.gauge(HostBad, b2f(h.Bad != nil), l...)
		if !h.CheckedAt.IsZero() {
			f.gauge(HostLastCheck, unix(h.CheckedAt), l...)
		}
		if !h.LastErrAt.IsZero() {
			f.gauge(HostLastError, unix(h.LastErrAt), l...)
		}
	}
	for _, st := range HostStates {
		f.gauge(Hosts, float64(count[st]), label{"state", st})
	}
	if len(v.Fallback) > 0 {
		f.gauge(HostJobsRunning, float64(len(v.Fallback)), hostLabels(FallbackHost, "localhost")...)
	}
	if len(v.Orphans) > 0 {
		f.gauge(HostJobsRunning, float64(len(v.Orphans)), hostLabels(RemovedHost, RemovedHost)...)
	}
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type classOutcome struct{ class, outcome string }

// histo is one series of JobDuration; buckets[i] counts the jobs of at
// most DurationBuckets[i] seconds (cumulative, as the format wants), and
// every bucket is written, empty ones included: a missing bucket would
// make histogram_quantile interpolate across it.
type histo struct {
	bounds  []float64 // DurationBuckets or CheckBuckets
	count   uint64
	sum     float64
	buckets []uint64
}

func newHisto(bounds []float64) *histo {
	return &histo{bounds: bounds, buckets: make([]uint64, len(bounds))}
}

func (h *histo) observe(secs float64) {
	h.count++
	h.sum += secs
	for i, b := range h.bounds {
		if secs <= b {
			h.buckets[i]++
		}
	}
}

func collectJobs(f families, jobs []state.JobRecord) {
	byClass := map[classOutcome]*histo{}
	byHost := map[[2]string]int{}
	var oldest time.Time
	for _, j := range jobs {
		k := classOutcome{j.Class, j.Outcome()}
		h := byClass[k]
		if h == nil {
			h = newHisto(DurationBuckets)
			byClass[k] = h
		}
		h.observe(j.Duration.Seconds())
		byHost[[2]string{HostLabel(j.HostID, j.Servername), j.Outcome()}]++
		if oldest.IsZero() || j.Started.Before(oldest) {
			oldest = j.Started
		}
	}
	for k, h := range byClass {
		f[JobDuration] = append(f[JobDuration], sample{labels: []label{{"class", k.class}, {"outcome", k.outcome}}, histo: h})
	}
	for k, n := range byHost {
		f.gauge(HostHistoryJobs, float64(n), label{"host", k[0]}, label{"outcome", k[1]})
	}
	if !oldest.IsZero() {
		f.gauge(HistoryOldest, unix(oldest))
	}
}

// collectHealth exports the checks' latency as a histogram by host and
// outcome, the last passed check's latency, and the marks by host and
// class. The rows come newest first (state.Store.Health).
func collectHealth(f families, checks, marks []state.HealthEvent) {
	type hostOutcome struct{ host, outcome string }
	byHost := map[hostOutcome]*histo{}
	last := map[string]float64{}
	for _, e := range checks {
		host := HostLabel(e.HostID, e.Servername)
		k := hostOutcome{host, OutcomeFailed}
		if e.OK {
			k.outcome = state.OutcomeOK
			if _, ok := last[host]; !ok {
				last[host] = e.Latency.Seconds()
			}
		}
		if byHost[k] == nil {
			byHost[k] = newHisto(CheckBuckets)
		}
		byHost[k].observe(e.Latency.Seconds())
	}
	for k, h := range byHost {
		f[CheckDuration] = append(f[CheckDuration], sample{labels: []label{{"host", k.host}, {"outcome", k.outcome}}, histo: h})
	}
	for host, v := range last {
		f.gauge(LastCheckTook, v, label{"host", host})
	}
	count := map[[2]string]int{}
	for _, e := range marks {
		class := selector.MarkClass(e.Reason) // as status names it
		count[[2]string{HostLabel(e.HostID, e.Servername), class}]++
	}
	for k, n := range count {
		f.gauge(BadMarks, float64(n), label{"host", k[0]}, label{"class", k[1]})
	}
}

// OutcomeFailed is the outcome label of a failed check.
const OutcomeFailed = "failed"

// WriteText reads through c once and writes the text format (version
// 0.0.4, what the textfile collector reads). Nothing is written when the
// read fails.
func WriteText(ctx context.Context, w io.Writer, c *Collector) error {
	f, err := c.gather(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	encode(&b, f)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// ContentType is the text format's media type, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves c on /metrics; a failed read answers 500 with the error.
func Handler(c *Collector) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		f, err := c.gather(r.Context())
		if err != nil {
			http.Error(w, "rffmpeg metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var b strings.Builder
		encode(&b, f)
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		io.WriteString(w, b.String())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "rffmpeg metrics: see /metrics\n")
	})
	return mux
}

// encode writes every non-empty family, families by name and series by
// their label values, so the output is stable from scrape to scrape (as
// client_golang's registry made it). A family with no series is left out,
// as the registry did.
func encode(b *strings.Builder, f families) {
	names := make([]string, 0, len(f))
	for n, ss := range f {
		if len(ss) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		ss := f[n]
		sort.Slice(ss, func(i, j int) bool { return lessLabels(ss[i].labels, ss[j].labels) })
		kind := "gauge"
		if ss[0].histo != nil {
			kind = "histogram"
		}
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", n, escapeHelp(help[n]), n, kind)
		for _, s := range ss {
			if s.histo == nil {
				writeSample(b, n, s.labels, s.value)
				continue
			}
			writeHisto(b, n, s.labels, s.histo)
		}
	}
}

func lessLabels(a, b []label) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].value != b[i].value {
			return a[i].value < b[i].value
		}
	}
	return len(a) < len(b)
}

func writeHisto(b *strings.Builder, name string, labels []label, h *histo) {
	le := func(bound string) []label { return append(labels[:len(labels):len(labels)], label{"le", bound}) }
	for i, ub := range h.bounds {
		writeSample(b, name+"_bucket", le(formatFloat(ub)), float64(h.buckets[i]))
	}
	writeSample(b, name+"_bucket", le("+Inf"), float64(h.count))
	writeSample(b, name+"_sum", labels, h.sum)
	writeSample(b, name+"_count", labels, float64(h.count))
}

// writeSample writes one line: name{l="v",...} value.
func writeSample(b *strings.Builder, name string, labels []label, v float64) {
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.name)
			b.WriteString(`="`)
			b.WriteString(escapeLabel(l.value))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

// formatFloat spells a value as the format does: +Inf, -Inf, NaN, or the
// shortest decimal that reads back as the same float.
func formatFloat(v float64) string {
	switch {
	case v != v:
		return "NaN"
	case v > 0 && v*0.5 == v:
		return "+Inf"
	case v < 0 && v*0.5 == v:
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes a label value: backslash, double quote and newline
// as the format says; every other byte (control bytes included) may stand
// as it is inside the quotes, but the format is UTF-8, so each invalid
// byte becomes U+FFFD.
func escapeLabel(s string) string { return labelEscaper.Replace(validUTF8(s)) }

// escapeHelp escapes HELP text: backslash and newline (quotes stand).
func escapeHelp(s string) string { return helpEscaper.Replace(validUTF8(s)) }

// validUTF8 replaces each invalid byte with U+FFFD (strings.ToValidUTF8
// would fold a run into one, hiding how many bytes there were).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte, n == 1
		i += n
	}
	return b.String()
}

// HostLabel is the host label of a job in the history: its server name as
// recorded, the fallback's name for host 0.
func HostLabel(id int64, servername string) string {
	if id == state.LocalHostID {
		return FallbackHost
	}
	if servername == "" {
		return strconv.FormatInt(id, 10)
	}
	return servername
}

// StoreReader reads Data from s: the state classified under a fresh policy
// (as `rffmpeg status` does), the retained history without commands, and
// the health history's windows, measured back from the policy's now.
func StoreReader(s *state.Store, policy func() selector.Policy) Reader {
	return func(ctx context.Context) (Data, error) {
		p := policy()
		v, err := selector.Load(ctx, s, p)
		if err != nil {
			return Data{}, err
		}
		d := Data{View: v}
		if d.Jobs, err = s.History(ctx, state.HistoryQuery{OmitCommand: true}); err != nil {
			return Data{}, err
		}
		now := p.Now
		if now.IsZero() {
			now = time.Now()
		}
		if d.Checks, err = s.Health(ctx, state.HealthQuery{Kind: state.HealthCheck, Since: now.Add(-CheckWindow)}); err != nil {
			return Data{}, err
		}
		if d.Marks, err = s.Health(ctx, state.HealthQuery{Kind: state.HealthMark, Since: now.Add(-MarkWindow)}); err != nil {
			return Data{}, err
		}
		return d, nil
	}
}
