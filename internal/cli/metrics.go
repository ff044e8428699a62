package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/metrics"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// MetricsOptions: print once, or serve /metrics on Listen.
type MetricsOptions struct {
	Listen string
}

// metricsTimeout bounds one scrape's database read.
const metricsTimeout = 10 * time.Second

func (x *verb) metrics(o MetricsOptions) error {
	return x.withStore(func(s *state.Store) error {
		policy := func() selector.Policy { return setup.Policy(x.cfg, x.env.Now(), owner.Self()) }
		reg := metrics.Registry(metrics.NewCollector(metrics.StoreReader(s, policy), metricsTimeout))
		if o.Listen == "" {
			return metrics.WriteText(x.env.Stdout, reg)
		}
		return x.serveMetrics(o.Listen, metrics.Handler(reg))
	})
}

// serveMetrics serves h on addr until the user interrupts. It binds only
// where told: ADDR is required, and ":9101" (every address) must be asked
// for explicitly.
func (x *verb) serveMetrics(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := x.env.Interrupted()
	defer stop()
	fmt.Fprintf(x.env.Stderr, "rffmpeg: serving metrics on http://%s/metrics\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(x.ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: stop: %w", err)
	}
	return nil
}

func metricsCommand() command {
	var o MetricsOptions
	return command{name: "metrics", args: "[--listen ADDR]", short: "Print metrics for Prometheus, or serve them (--listen)",
		long: "Prints hosts by state, running jobs per host, bad marks, and job counts and durations\n" +
			"by class and outcome over the retained history, in the Prometheus text format. For\n" +
			"node_exporter's textfile collector, write a temporary file and rename it:\n" +
			"  rffmpeg metrics > DIR/rffmpeg.prom.$$ && mv DIR/rffmpeg.prom.$$ DIR/rffmpeg.prom\n" +
			"--listen ADDR (e.g. 127.0.0.1:9101) serves /metrics until interrupted instead.",
		flags: []flag{stringFlag("", "listen", "ADDR", &o.Listen, "", "serve /metrics on ADDR (host:port) instead of printing once")},
		run:   func(x *verb) error { return x.metrics(o) }}
}
