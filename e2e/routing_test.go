package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// Routing by what the hosts' ffmpeg can really do (issue 13): hosts that
// differ (one host's ffmpeg is a wrapper around the real one that lacks
// libx264, as a build without it does), the capability probe finding it,
// jobs routed by what their arguments need, a job nobody can run refused
// at once, class rules, path maps.

// noX264 writes an ffmpeg without libx264 into dir: it hides the encoder
// from -encoders and refuses it as ffmpeg refuses an unknown encoder.
func noX264(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ffmpeg-nox264")
	script := `#!/bin/sh
for a in "$@"; do
  case "$a" in libx264) echo "Unknown encoder 'libx264'" >&2; exit 8;; esac
done
for a in "$@"; do
  case "$a" in -encoders) /usr/bin/ffmpeg "$@" | grep -v ' libx264 '; exit 0;; esac
done
exec /usr/bin/ffmpeg "$@"
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// withScheduling adds a scheduling section to an installation's config.
func withScheduling(t *testing.T, e *env, lines string) {
	t.Helper()
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("  scheduling:\n")
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		f.WriteString("    " + l + "\n")
	}
}

// hostCaps reads each host's probed capabilities from status --json.
func hostCaps(t *testing.T, e *env) map[string][]string {
	t.Helper()
	var s struct {
		Hosts []struct {
			Servername   string   `json:"servername"`
			Capabilities []string `json:"capabilities"`
		} `json:"hosts"`
	}
	out := e.mustCLI("status", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	caps := map[string][]string{}
	for _, h := range s.Hosts {
		caps[h.Servername] = h.Capabilities
	}
	return caps
}

func TestRoutingByCapability(t *testing.T) {
	r := needRig(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // the test user runs the wrapper
	wrapper := noX264(t, dir)
	// This machine lacks libx264 too: its fallback is the wrapper.
	e := newEnv(t, r, map[string]string{"commands": "fallback_ffmpeg: " + wrapper + "\n"})
	in := media(t, e.dir, 1)

	// The host without libx264 comes first (the first idle host wins) and
	// is never probed before its first job; the full one is probed by add.
	e.mustCLI("add", "--no-check", "-n", "nox264", testrig.HostB)
	e.mustCLI("set", "nox264", "ffmpeg="+wrapper)
	out := e.mustCLI("add", "-n", "full", testrig.HostA)
	if !strings.Contains(out, "Checked host '"+testrig.HostA+"' (full): ffmpeg version") || !strings.Contains(out, "enc:libx264") {
		t.Fatalf("add said:\n%s", out)
	}
	caps := hostCaps(t, e)
	if !slices.Contains(caps["full"], "enc:libx264") || caps["nox264"] != nil {
		t.Fatalf("capabilities after add: %q", caps)
	}

	// A libx264 job: the unprobed host is probed (the call waits: the job
	// needs something), found lacking, and the job runs on the other.
	res := e.run("ffmpeg", nil, "-nostdin", "-y", "-loglevel", "error", "-i", in, "-t", "0.5", "-c:v", "libx264", "-an", filepath.Join(e.dir, "x264.mkv"))
	log := e.logText()
	if res.code != 0 || !strings.Contains(log, "Skipping host "+testrig.HostB+" (nox264): lacks enc:libx264 (probed just now)") ||
		!strings.Contains(log, "Running command on host '"+testrig.HostA+"' (full)") {
		t.Fatalf("libx264 job: exit %d %s\n%s", res.code, res.stderr, log)
	}
	caps = hostCaps(t, e)
	if c := caps["nox264"]; c == nil || slices.Contains(c, "enc:libx264") || !slices.Contains(c, "enc:libx265") {
		t.Fatalf("the probe of the wrapper host recorded %q: want its encoders without libx264", c)
	}

	// A job needing nothing takes the first idle host, the wrapper one.
	mark := len(e.logText())
	res = e.run("ffmpeg", nil, "-nostdin", "-y", "-loglevel", "error", "-i", in, "-t", "0.5", "-c:v", "mpeg4", "-an", filepath.Join(e.dir, "mpeg4.mkv"))
	if log := e.logText()[mark:]; res.code != 0 || !strings.Contains(log, "Running command on host '"+testrig.HostB+"' (nox264)") {
		t.Fatalf("mpeg4 job: exit %d %s\n%s", res.code, res.stderr, log)
	}

	// Nobody else has libx264 (the full host drains; this machine's probe
	// finds it lacks it too): the job fails at once with one line.
	e.mustCLI("drain", "full")
	outFile := filepath.Join(e.dir, "refused.mkv")
	res = e.run("ffmpeg", nil, "-nostdin", "-y", "-i", in, "-c:v", "libx264", outFile)
	want := "rffmpeg: no usable transcode host, and not this machine, has what this job needs: enc:libx264\n"
	if res.code != 1 || string(res.stderr) != want || len(res.stdout) != 0 {
		t.Fatalf("refused job: exit %d, stdout %q, stderr %q; want exit 1 and %q", res.code, res.stdout, res.stderr, want)
	}
	// Fast: this machine's probe (about a second, once) and no job.
	if res.took > 15*time.Second {
		t.Errorf("the refusal took %v", res.took)
	}
	if _, err := os.Stat(outFile); err == nil {
		t.Errorf("a refused job wrote its output")
	}
	if log := e.logText(); !strings.Contains(log, "Probed this machine") || !strings.Contains(log, "Not running: no usable host, nor this machine, has what the job needs") {
		t.Errorf("log:\n%s", log)
	}
	// The second refusal does not probe again.
	mark = len(e.logText())
	if res = e.run("ffmpeg", nil, "-nostdin", "-y", "-i", in, "-c:v", "libx264", outFile); res.code != 1 || strings.Contains(e.logText()[mark:], "Probed") {
		t.Errorf("second refusal: exit %d\n%s", res.code, e.logText()[mark:])
	}
}

// probe=local: media probes run here while transcodes go to the host.
func TestClassRuleProbesLocal(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	withScheduling(t, e, "rules:\n  - probe=local")
	e.mustCLI("add", "--no-check", "-n", "a", testrig.HostA)
	in := media(t, e.dir, 1)

	res := e.run("ffprobe", nil, "-v", "error", "-print_format", "json", "-show_format", in)
	log := e.logText()
	if res.code != 0 || !strings.Contains(string(res.stdout), `"format_name"`) ||
		!strings.Contains(log, "Running command on host 'localhost' (localhost)") || strings.Contains(log, "on host '"+testrig.HostA+"'") {
		t.Fatalf("probe: exit %d %s\n%s", res.code, res.stderr, log)
	}
	mark := len(log)
	res = e.run("ffmpeg", nil, "-nostdin", "-y", "-loglevel", "error", "-i", in, "-t", "0.5", "-c:v", "mpeg4", "-an", filepath.Join(e.dir, "t.mkv"))
	if log := e.logText()[mark:]; res.code != 0 || !strings.Contains(log, "Running command on host '"+testrig.HostA+"' (a)") {
		t.Fatalf("transcode: exit %d %s\n%s", res.code, res.stderr, log)
	}
}

// A host that mounts the media elsewhere: its path map rewrites the
// arguments (input after file:, output), so the job finds its files only
// there; the same call without the map fails.
func TestPathMap(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, map[string]string{"commands": "fallback: false\n"})
	e.mustCLI("add", "--no-check", "-n", "nas", testrig.HostA)
	in := media(t, e.dir, 1)
	prefix := "/srv/rffmpeg-e2e-nonexistent"
	args := []string{"-nostdin", "-y", "-loglevel", "error", "-i", "file:" + prefix + "/" + filepath.Base(in), "-t", "0.5", "-c:v", "mpeg4", "-an", prefix + "/mapped.mkv"}

	if res := e.run("ffmpeg", nil, args...); res.code == 0 {
		t.Fatalf("without a map the job found %s", prefix)
	}
	e.mustCLI("set", "nas", "path_map="+prefix+":"+e.dir)
	mark := len(e.logText())
	res := e.run("ffmpeg", nil, args...)
	log := e.logText()[mark:]
	if res.code != 0 || !strings.Contains(log, "Path map of host '"+testrig.HostA+"' (nas, id 1) ("+prefix+":"+e.dir+") rewrote 2 arguments") {
		t.Fatalf("mapped job: exit %d %s\n%s", res.code, res.stderr, log)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "mapped.mkv")); err != nil {
		t.Errorf("the mapped output is missing: %v", err)
	}
}
