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
package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Data is what one scrape shows: the classified state and the retained
// history (commands need not be read).
type Data struct {
	View selector.View
	Jobs []state.JobRecord
}

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
)

// Names lists every metric family the collector exports.
func Names() []string {
	return []string{Hosts, HostState, HostWeight, HostJobsRunning, HostBad, HostLastCheck, HostLastError,
		HostHistoryJobs, JobDuration, HistoryOldest, ReadDuration}
}

var hostLabels = []string{"host", "hostname"}

// Collector turns one Data read into metrics on every Collect.
type Collector struct {
	read    Reader
	timeout time.Duration
	descs   map[string]*prometheus.Desc
}

// NewCollector reads through read, giving each scrape at most timeout.
func NewCollector(read Reader, timeout time.Duration) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{read: read, timeout: timeout, descs: map[string]*prometheus.Desc{
		Hosts:           d(Hosts, "Hosts in each state (idle, active, bad, draining).", "state"),
		HostState:       d(HostState, "1 for the host's current state, 0 for the others.", "host", "hostname", "state"),
		HostWeight:      d(HostWeight, "The host's weight.", hostLabels...),
		HostJobsRunning: d(HostJobsRunning, "Jobs running on the host now (the local fallback and removed hosts included).", hostLabels...),
		HostBad:         d(HostBad, "1 while the host has a bad mark in force.", hostLabels...),
		HostLastCheck:   d(HostLastCheck, "When the host last passed its health check (Unix seconds).", hostLabels...),
		HostLastError:   d(HostLastError, "When the host last failed (Unix seconds); its reason is in 'rffmpeg status'.", hostLabels...),
		HostHistoryJobs: d(HostHistoryJobs, "Jobs in the retained history by host and outcome (ok or the failure class).", "host", "outcome"),
		JobDuration:     d(JobDuration, "Durations of the jobs in the retained history, by class and outcome (a window: count and sum can go down when old jobs are pruned).", "class", "outcome"),
		HistoryOldest:   d(HistoryOldest, "Start of the oldest job in the retained history (Unix seconds): the window the job metrics cover.", nil...),
		ReadDuration:    d(ReadDuration, "How long reading the database for this scrape took.", nil...),
	}}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect reads the database and sends the metrics; a failed read is one
// invalid metric, which makes the scrape fail visibly instead of showing
// a healthy empty pool.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	data, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.descs[Hosts], fmt.Errorf("read rffmpeg state: %w", err))
		return
	}
	c.collectHosts(ch, data.View)
	c.collectJobs(ch, data.Jobs)
	ch <- prometheus.MustNewConstMetric(c.descs[ReadDuration], prometheus.GaugeValue, time.Since(start).Seconds())
}

func (c *Collector) gauge(ch chan<- prometheus.Metric, name string, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) collectHosts(ch chan<- prometheus.Metric, v selector.View) {
	count := map[string]int{}
	for _, h := range v.Hosts {
		count[h.State]++
		l := []string{h.Servername, h.Hostname}
		for _, st := range HostStates {
			c.gauge(ch, HostState, b2f(h.State == st), h.Servername, h.Hostname, st)
		}
		c.gauge(ch, HostWeight, float64(h.Weight), l...)
		c.gauge(ch, HostJobsRunning, float64(len(h.Processes)), l...)
		c.gauge(ch, HostBad, b2f(h.Bad != nil), l...)
		if !h.CheckedAt.IsZero() {
			c.gauge(ch, HostLastCheck, unix(h.CheckedAt), l...)
		}
		if !h.LastErrAt.IsZero() {
			c.gauge(ch, HostLastError, unix(h.LastErrAt), l...)
		}
	}
	for _, st := range HostStates {
		c.gauge(ch, Hosts, float64(count[st]), st)
	}
	if len(v.Fallback) > 0 {
		c.gauge(ch, HostJobsRunning, float64(len(v.Fallback)), FallbackHost, "localhost")
	}
	if len(v.Orphans) > 0 {
		c.gauge(ch, HostJobsRunning, float64(len(v.Orphans)), RemovedHost, RemovedHost)
	}
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type classOutcome struct{ class, outcome string }

type histo struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

func (c *Collector) collectJobs(ch chan<- prometheus.Metric, jobs []state.JobRecord) {
	byClass := map[classOutcome]*histo{}
	byHost := map[[2]string]int{}
	var oldest time.Time
	for _, j := range jobs {
		k := classOutcome{j.Class, j.Outcome()}
		h := byClass[k]
		if h == nil {
			// Every bucket, empty ones included: a missing bucket
			// would make histogram_quantile interpolate across it.
			h = &histo{buckets: map[float64]uint64{}}
			for _, b := range DurationBuckets {
				h.buckets[b] = 0
			}
			byClass[k] = h
		}
		secs := j.Duration.Seconds()
		h.count++
		h.sum += secs
		for _, b := range DurationBuckets {
			if secs <= b {
				h.buckets[b]++ // cumulative, as the exposition format wants
			}
		}
		byHost[[2]string{HostLabel(j.HostID, j.Servername), j.Outcome()}]++
		if oldest.IsZero() || j.Started.Before(oldest) {
			oldest = j.Started
		}
	}
	keys := make([]classOutcome, 0, len(byClass))
	for k := range byClass {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].class+"\x00"+keys[i].outcome < keys[j].class+"\x00"+keys[j].outcome
	})
	for _, k := range keys {
		h := byClass[k]
		ch <- prometheus.MustNewConstHistogram(c.descs[JobDuration], h.count, h.sum, h.buckets, k.class, k.outcome)
	}
	for k, n := range byHost {
		c.gauge(ch, HostHistoryJobs, float64(n), k[0], k[1])
	}
	if !oldest.IsZero() {
		c.gauge(ch, HistoryOldest, unix(oldest))
	}
}

// Registry is a registry holding only the collector (no Go runtime or
// process metrics: a textfile is about rffmpeg, and the listener's own
// process is not what an admin watches).
func Registry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg
}

// WriteText gathers g once and writes the text format (version 0.0.4, what
// the textfile collector reads).
func WriteText(w io.Writer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// Handler serves g on /metrics; a failed read answers 500 with the error.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "rffmpeg metrics: see /metrics\n")
	})
	return mux
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
// (as `rffmpeg status` does) and the retained history without commands.
func StoreReader(s *state.Store, policy func() selector.Policy) Reader {
	return func(ctx context.Context) (Data, error) {
		v, err := selector.Load(ctx, s, policy())
		if err != nil {
			return Data{}, err
		}
		jobs, err := s.History(ctx, state.HistoryQuery{OmitCommand: true})
		if err != nil {
			return Data{}, err
		}
		return Data{View: v, Jobs: jobs}, nil
	}
}
