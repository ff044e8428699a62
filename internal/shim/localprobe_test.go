package shim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/owner"
)

// This machine's capabilities are read from the selection's own snapshot
// (no query of their own on every call): a job needing something waits for
// one probe of a machine never probed, then selects again knowing; a
// machine probed recently, or a job needing nothing, never waits. The probe
// is of the real ffmpeg installed here.
func TestLocalProbeFromSelection(t *testing.T) {
	const x264 = "enc:libx264"
	tests := []struct {
		name      string
		known     []string // this machine's stored capabilities; nil: never probed
		args      []string
		wantProbe bool // the call probed this machine before routing
		wantCaps  bool // the machine's capabilities are known afterwards
	}{
		{"never probed, the job needs libx264", nil, []string{"-i", "in.mkv", "-c:v", "libx264", "out.mkv"}, true, true},
		{"probed just now", []string{x264}, []string{"-i", "in.mkv", "-c:v", "libx264", "out.mkv"}, false, true},
		{"never probed, the job needs nothing", nil, []string{"-i", "in.mkv", "-c:v", "mpeg4", "out.mkv"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "rffmpeg:\n  commands:\n    fallback_ffmpeg: /usr/bin/ffmpeg\n")
			machine := owner.Self().Machine
			ctx := context.Background()
			if tt.known != nil {
				if err := w.store.SetMachineCapabilities(ctx, machine, tt.known, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			f := &fake{}
			for call := 1; call <= 2; call++ {
				mark := len(w.logText())
				if code := w.call(f, tt.args...); code != 0 {
					t.Fatalf("call %d: exit %d\n%s", call, code, w.logText())
				}
				log := w.logText()[mark:]
				got := strings.Count(log, "Probed this machine")
				want := 0
				if tt.wantProbe && call == 1 {
					want = 1 // the second call reads the first one's answer
				}
				if got != want {
					t.Errorf("call %d probed this machine %d times, want %d\n%s", call, got, want, log)
				}
				if !strings.Contains(log, "Running command on host 'localhost' (localhost)") {
					t.Errorf("call %d did not run on this machine:\n%s", call, log)
				}
			}
			m, known, err := w.store.MachineCapabilities(ctx, machine)
			if err != nil {
				t.Fatal(err)
			}
			if known != tt.wantCaps || known && !slices.Contains(m.Capabilities, x264) {
				t.Errorf("capabilities afterwards: known %v %q; want known %v with %s", known, m.Capabilities, tt.wantCaps, x264)
			}
			if got, want := f.Calls(), []string{"local /usr/bin/ffmpeg", "local /usr/bin/ffmpeg"}; !slices.Equal(got, want) {
				t.Errorf("runs: got %q, want %q", got, want)
			}
		})
	}
}
