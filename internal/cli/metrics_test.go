package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// `rffmpeg metrics --listen` serves /metrics on the address it is given
// (here 127.0.0.1:0, announced on stderr) until interrupted, then returns 0.
func TestMetricsListen(t *testing.T) {
	dir := t.TempDir()
	o := statetest.NewSQLite(t)
	cfg := "rffmpeg:\n  logging:\n    logfile: " + filepath.Join(dir, "log") + "\n  directories:\n    state: " + dir +
		"\n    persist: " + dir + "\n  database:\n    path: " + o.Path + "\n"
	if err := os.WriteFile(filepath.Join(dir, "rffmpeg.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"RFFMPEG_CONFIG": filepath.Join(dir, "rffmpeg.yml")}
	var out, errb lockedBuffer
	env := testEnv(vars, &out, &errb)
	if code := cli.Main([]string{"init", "--no-root", "-y"}, env); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	if code := cli.Main([]string{"add", "--no-check", "-w", "3", "gpu1.lan"}, env); code != 0 {
		t.Fatalf("add: %d %s", code, errb.String())
	}
	ctx, stop := context.WithCancel(context.Background())
	env.Interrupted = func() (context.Context, context.CancelFunc) { return ctx, stop }
	done := make(chan int, 1)
	go func() { done <- cli.Main([]string{"metrics", "--listen", "127.0.0.1:0"}, env) }()

	re := regexp.MustCompile(`serving metrics on (http://127\.0\.0\.1:\d+/metrics)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		stop()
		t.Fatalf("no address announced; stderr: %q", errb.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	w := mfs["rffmpeg_host_weight"]
	if w == nil || len(w.Metric) != 1 || w.Metric[0].Gauge.GetValue() != 3 {
		t.Errorf("rffmpeg_host_weight = %v", w)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after interrupt; stderr %q", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("metrics --listen did not stop when interrupted")
	}
}
