package setup

import (
	"context"
	"os"
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

// What a remote host's login shell runs: the probe script under sh, its
// words quoted for any POSIX shell (here bash stands in for the remote
// login shell, with the real ffmpeg behind a path that needs quoting).
func TestProbeCommand(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	dir := t.TempDir() + "/it's $HOME"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ff, dir+"/ffmpeg"); err != nil {
		t.Fatal(err)
	}
	login := func(ctx context.Context, script string) (string, error) {
		out, err := exec.CommandContext(ctx, "bash", "-c", ProbeCommand(script)).Output()
		return string(out), err
	}
	caps, err := Probe(context.Background(), login, []string{dir + "/ffmpeg"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := ProbeLocalWith(context.Background(), []string{ff}, ProbeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(caps, local) || !slices.Contains(caps, "enc:libx264") {
		t.Errorf("through a login shell %q, directly %q (want libx264 in both)", caps, local)
	}
	// A v4l2m2m encoder is listed by Debian's build; it opens only with a
	// /dev/video device.
	_, video := os.Stat("/dev/video0")
	if got, want := slices.Contains(caps, "enc:h264_v4l2m2m"), video == nil; got != want {
		t.Errorf("h264_v4l2m2m recorded %v, /dev/video0 present %v", got, want)
	}
}

// An admin's check of a new host starts no master and writes no
// known_hosts (the shim's calls own both).
func TestOneOff(t *testing.T) {
	c, _ := config.Parse(nil, func(string) (string, bool) { return "", false })
	c.Directories.Persist = t.TempDir()
	argv := strings.Join(oneOff(c, state.Host{Hostname: "gpu1.lan"}).Argv("true", false), " ")
	if strings.Contains(argv, "ControlMaster") || strings.Contains(argv, c.KnownHostsPath()) || !strings.Contains(argv, "UserKnownHostsFile=/dev/null") {
		t.Errorf("argv %s", argv)
	}
}
