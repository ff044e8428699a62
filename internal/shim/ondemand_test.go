package shim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hookScript writes an executable shell script into dir.
func hookScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// With every host full the job falls back, and the hook (a real script)
// gets the need as JSON on stdin; the call waits for it at its end.
func TestOnDemandHook(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  scheduling:\n    on_demand_timeout: 5\n", "gpu1")
	out := filepath.Join(w.dir, "need.json")
	w.o.OnDemand = hookScript(t, w.dir, "hook", "cat > "+out+"\necho started cloud-7\n")
	one := 1
	w.set("gpu1", state.HostProps{MaxJobs: &one})
	w.occupy(1)
	if code := w.call(&fake{}, "-i", "in.mkv", "-c:v", "libx264", "out.mp4"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.logText())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook did not run: %v\n%s", err, w.logText())
	}
	var got Need
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Class != "transcode" || got.Tool != "ffmpeg" || strings.Join(got.Needs, ",") != "enc:libx264" ||
		got.Pool.Hosts != 1 || got.Pool.Full != 1 || got.Pool.Running != 1 || !strings.Contains(got.Reason, "full") {
		t.Errorf("need %+v", got)
	}
	if log := w.logText(); !strings.Contains(log, "on_demand hook "+w.o.OnDemand+" done in") || !strings.Contains(log, "started cloud-7") {
		t.Errorf("log:\n%s", log)
	}
}

// A hook that hangs is killed at its bound, one that fails is logged, and
// neither changes the job's exit code; a job a host takes runs no hook.
func TestOnDemandBounded(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"hangs", "sleep 30\n", "killed after 1s"},
		{"fails", "echo no quota >&2; exit 3\n", "failed after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "rffmpeg:\n  scheduling:\n    on_demand_timeout: 1\n")
			w.o.OnDemand = hookScript(t, w.dir, "hook", tc.body)
			t0 := time.Now()
			if code := w.call(&fake{localCode: 4}, "-i", "in.mkv", "out.mp4"); code != 4 {
				t.Errorf("exit %d, want the job's 4", code)
			}
			if took := time.Since(t0); took > 8*time.Second {
				t.Errorf("the call took %v: the hook's bound is 1s", took)
			}
			if log := w.logText(); !strings.Contains(log, tc.want) {
				t.Errorf("log lacks %q:\n%s", tc.want, log)
			}
		})
	}
	w := newWorld(t, "", "gpu1")
	w.o.OnDemand = hookScript(t, w.dir, "hook", "touch "+filepath.Join(w.dir, "ran")+"\n")
	w.call(&fake{}, "-i", "in.mkv", "out.mp4")
	if _, err := os.Stat(filepath.Join(w.dir, "ran")); err == nil {
		t.Errorf("the hook ran for a job an idle host took")
	}
}
