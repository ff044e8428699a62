package setup

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

func TestJobPolicy(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	c, err := config.Parse([]byte("rffmpeg:\n  scheduling:\n    when_full: wait\n    rules: [probe=local, transcode=tag:gpu]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	self := owner.Identity{Machine: "m1", PID: 7}
	p, err := JobPolicy(c, time.Now(), self, "/usr/bin/ffmpeg", []string{"-hwaccel", "cuda", "-i", "a.mkv", "-c:v", "h264_nvenc", "out.ts"}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if p.Job.Class != jobclass.Transcode || p.Job.Needs.String() != "cuda, enc:h264_nvenc" || p.Machine != "m1" || p.Waiting != 42 {
		t.Errorf("policy job %+v machine %q waiting %d", p.Job, p.Machine, p.Waiting)
	}
	if p.Rules.WhenFull != selector.FullWait || len(p.Rules.Classes) != 2 || p.Rules.QueueMax != 100 || !p.Fallback {
		t.Errorf("rules %+v fallback %v", p.Rules, p.Fallback)
	}
	c.Scheduling.Rules = []string{"probe=moon"}
	p, err = JobPolicy(c, time.Now(), self, "ffprobe", []string{"a.mkv"}, 0)
	if err == nil || !strings.Contains(err.Error(), `scheduling: rule "probe=moon"`) || len(p.Rules.Classes) != 0 || p.Job.Class != jobclass.Probe {
		t.Errorf("bad rule: %v, %+v", err, p)
	}
}

func TestPrograms(t *testing.T) {
	c, _ := config.Parse(nil, func(string) (string, bool) { return "", false })
	for _, tc := range []struct {
		h            state.Host
		ffmpeg, prob string
	}{
		{state.Host{}, "/usr/lib/jellyfin-ffmpeg/ffmpeg", "/usr/lib/jellyfin-ffmpeg/ffprobe"},
		{state.Host{FFmpeg: "/usr/bin/ffmpeg"}, "/usr/bin/ffmpeg", "/usr/lib/jellyfin-ffmpeg/ffprobe"},
		{state.Host{FFmpeg: "/a/ffmpeg", FFprobe: "/a/ffprobe"}, "/a/ffmpeg", "/a/ffprobe"},
	} {
		if f, p := Programs(c, tc.h); f != tc.ffmpeg || p != tc.prob {
			t.Errorf("%+v: got %s %s", tc.h, f, p)
		}
	}
}

// The local probe with the real ffmpeg; a missing one is an error, not
// "no hardware" (which would refuse every hardware job).
func TestProbeLocal(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	c, _ := config.Parse(nil, func(string) (string, bool) { return "", false })
	c.Commands.FallbackFFmpeg = ff
	c.Commands.Pre = []string{"", "nice"}
	caps, err := ProbeLocal(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	direct := exec.Command(ff, jobclass.DeviceProbeArgs("cuda")...).Run() == nil
	if slices.Contains(caps, "cuda") != direct {
		t.Errorf("cuda in %q, but a direct try says %v", caps, direct)
	}
	c.Commands.FallbackFFmpeg = "/nonexistent/ffmpeg"
	if _, err := ProbeLocal(context.Background(), c); err == nil || !strings.Contains(err.Error(), "listed no encoders") {
		t.Errorf("missing ffmpeg: %v", err)
	}
}

func TestProbeArgv(t *testing.T) {
	c, _ := config.Parse(nil, func(string) (string, bool) { return "", false })
	argv := ProbeArgv(c, state.Host{Hostname: "gpu1.lan", FFmpeg: "/opt/ff/ffmpeg"})
	last := argv[len(argv)-1]
	if !slices.Contains(argv, "gpu1.lan") || !strings.Contains(last, "'/opt/ff/ffmpeg'") || !strings.Contains(last, "-init_hw_device") {
		t.Errorf("argv %q", argv)
	}
}
