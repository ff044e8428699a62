package doctor

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// probeLimit is how fast Jellyfin's startup calls must answer: it makes
// about twenty of them one after the other, with no timeout of its own.
const probeLimit = time.Second

// shimResult is one command run the way the shim runs it.
type shimResult struct {
	output
	started bool   // the wrapper reported the start: ssh and the login worked
	diag    string // what ssh said before the start
	job     []byte // the job's own stderr
}

// viaShim runs prog args on the host exactly as the shim does: the same
// ssh argv (master connection included), the same wrapper script.
func (r *hostRun) viaShim(ctx context.Context, prog string, args []string, stdin []byte, limit time.Duration) shimResult {
	cmd := append(append(append([]string{}, r.c.Commands.Pre...), prog), args...)
	token := remote.NewToken()
	res := r.a.run(ctx, r.ssh.Argv(remote.Script("", token, cmd), remote.Quiet(true)), stdin, limit)
	s := shimResult{output: res}
	s.started, s.diag, s.job = remote.SplitFrames(token, res.Stderr)
	return s
}

// tools: the remote ffmpeg and ffprobe exist and say what they are.
func (r *hostRun) tools(ctx context.Context) bool {
	ok := true
	for _, t := range []struct{ name, path string }{{"ffmpeg", r.c.Commands.FFmpeg}, {"ffprobe", r.c.Commands.FFprobe}} {
		res := r.viaShim(ctx, t.path, []string{"-version"}, nil, 10*time.Second)
		first := firstLine(res.Stdout)
		fix := fmt.Sprintf("install %s on the host, or set commands.%s to its path there (command -v %s)", t.name, t.name, t.name)
		switch {
		case !res.started:
			r.timed("remote "+t.name, Fail, "the command did not start: "+remote.Classify(res.Code, res.diag), "", res.Took)
			ok = false
		case res.Code == 127:
			r.timed("remote "+t.name, Fail, t.path+" not found on the host (exit 127)", fix, res.Took)
			ok = false
		case res.Code != 0 || !strings.HasPrefix(first, t.name+" version"):
			r.timed("remote "+t.name, Fail, fmt.Sprintf("%s -version: exit %d, first line %q (Jellyfin needs %q)", t.path, res.Code, first, t.name+" version …"),
				fix, res.Took)
			ok = false
		default:
			first = strings.TrimSpace(strings.SplitN(first, " Copyright", 2)[0])
			r.version[t.name] = first
			r.timed("remote "+t.name, OK, t.path+": "+first, "", res.Took)
		}
	}
	return ok
}

// probe is one of Jellyfin's startup calls and how to judge its answer.
type probe struct {
	args  []string
	stdin []byte
	want  string // in stdout (or stderr when onStderr)
	// onStderr: the answer is on stderr (the pause-key run).
	onStderr bool
	// exitOnly: Jellyfin judges it by exit code alone; compared with the
	// local fallback's exit code for the same call.
	exitOnly bool
	tool     string
	limit    time.Duration
	name     string // for the report; default: the arguments
}

// jellyfinProbes are the calls Jellyfin makes when it starts (10.10,
// EncoderValidator): each answers on stdout, except where marked.
func jellyfinProbes() []probe {
	ps := []probe{
		{args: []string{"-version"}, want: "ffmpeg version"},
		{args: []string{"-encoders"}, want: "Encoders:"},
		{args: []string{"-decoders"}, want: "Decoders:"},
		{args: []string{"-filters"}, want: "Filters:"},
		{args: []string{"-hwaccels"}, want: "Hardware acceleration methods:"},
	}
	for _, f := range []string{"scale_cuda", "tonemap_cuda", "tonemap_opencl", "overlay_opencl", "overlay_vaapi",
		"overlay_vulkan", "transpose_opencl", "overlay_rkrga", "tonemap_vaapi"} {
		ps = append(ps, probe{args: []string{"-h", "filter=" + f}})
	}
	for _, b := range []string{"hevc_metadata", "av1_metadata", "dovi_rpu", "h264_metadata", "hevc_mp4toannexb"} {
		ps = append(ps, probe{args: []string{"-h", "bsf=" + b}})
	}
	ps = append(ps,
		probe{args: strings.Fields("-hide_banner -f lavfi -i nullsrc=s=1x1:d=500 -f null -"), stdin: []byte("?"),
			want: "show this help", onStderr: true, limit: 3 * time.Second, name: "keys on stdin (? for help)"},
		probe{args: strings.Fields("-loglevel quiet -hwaccel_flags +unsafe_output -hide_banner -f lavfi -i nullsrc=s=1x1:d=100 -f null -"),
			exitOnly: true, limit: 3 * time.Second, name: "exit code of -hwaccel_flags +unsafe_output"},
		probe{tool: "ffprobe", args: strings.Fields("-loglevel quiet -hide_banner -f lavfi -i nullsrc=s=1x1:d=1"), exitOnly: true,
			name: "exit code of ffprobe on lavfi"})
	return ps
}

// probes runs Jellyfin's startup calls through the shim's path, timed.
func (r *hostRun) probes(ctx context.Context) {
	for _, p := range jellyfinProbes() {
		prog, local := r.c.Commands.FFmpeg, r.c.Commands.FallbackFFmpeg
		if p.tool == "ffprobe" {
			prog, local = r.c.Commands.FFprobe, r.c.Commands.FallbackFFprobe
		}
		limit := p.limit
		if limit == 0 {
			limit = probeLimit
		}
		name := p.name
		if name == "" {
			name = strings.Join(p.args, " ")
		}
		res := r.viaShim(ctx, prog, p.args, p.stdin, 30*time.Second)
		st, msg, fix := r.judge(ctx, p, res, local)
		if st == OK && res.Took > limit {
			st, fix = Warn, "the host or its ffmpeg is slow to start: Jellyfin makes about twenty of these calls at startup"
			msg += fmt.Sprintf("; slower than %s", limit)
		}
		r.timed(name, st, msg, fix, res.Took)
	}
}

func (r *hostRun) judge(ctx context.Context, p probe, res shimResult, local string) (Status, string, string) {
	if !res.started {
		return Fail, "did not start: " + remote.Classify(res.Code, res.diag), ""
	}
	if p.exitOnly {
		msg := fmt.Sprintf("exit %d", res.Code)
		lres := r.a.run(ctx, append([]string{local}, p.args...), nil, 30*time.Second)
		if lres.Err == nil && lres.Code >= 0 {
			if lres.Code != res.Code {
				return Warn, msg + fmt.Sprintf(", the local %s exits %d: Jellyfin's feature check differs between them", local, lres.Code),
					"use the same ffmpeg build on every host and locally (jellyfin-ffmpeg)"
			}
			msg += ", as locally"
		}
		return OK, msg, ""
	}
	out := res.Stdout
	if p.onStderr {
		out = res.job
	}
	switch {
	case res.Code != 0:
		return Fail, fmt.Sprintf("exit %d: %s", res.Code, firstLine(res.job)), ""
	case len(bytes.TrimSpace(res.Stdout)) == 0 && !p.onStderr:
		return Fail, "nothing on stdout (Jellyfin reads the answer there)", "make sure nothing on the host (a login script) swallows or redirects output"
	case p.want != "" && !bytes.Contains(out, []byte(p.want)):
		if p.onStderr {
			return Fail, "the ? key written to stdin got no help text: keys do not reach ffmpeg (no throttling, no clean stop with q)", ""
		}
		return Fail, fmt.Sprintf("answer lacks %q: %s", p.want, firstLine(out)), ""
	}
	if p.onStderr && !bytes.Contains(out, []byte("pause transcoding")) {
		return Warn, "keys reach ffmpeg, but this ffmpeg has no pause key (jellyfin-ffmpeg has): Jellyfin's throttling stays off",
			"install jellyfin-ffmpeg on the host"
	}
	if p.onStderr {
		return OK, "keys reach ffmpeg, including p (pause)", ""
	}
	return OK, fmt.Sprintf("%d bytes on stdout: %s", len(res.Stdout), clip(firstLine(res.Stdout), 60)), ""
}

// clock compares the host's clock with ours (logs and bad-mark times
// disagree otherwise; large skews upset TLS and NFS too).
func (r *hostRun) clock(ctx context.Context) {
	before := time.Now()
	res := r.a.run(ctx, r.ssh.Argv("date +%s.%N", remote.Quiet(false)), nil, 10*time.Second)
	after := time.Now()
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(res.Stdout)), 64)
	if res.Code != 0 || err != nil {
		r.add("clock", Warn, "cannot read the host's clock: "+firstLine(res.Stderr), "")
		return
	}
	mid := before.Add(after.Sub(before) / 2)
	skew := secs - float64(mid.UnixNano())/1e9
	msg := fmt.Sprintf("%+.3f s from this machine", skew)
	if math.Abs(skew) > 2 {
		r.add("clock", Warn, msg, "run an NTP client (systemd-timesyncd, chrony) on both machines")
		return
	}
	r.add("clock", OK, msg, "")
}

// parity compares the ffmpeg and ffprobe versions of every host with each
// other and with the local fallback: a job must not behave differently
// depending on where it lands.
func parity(ctx context.Context, c *config.Config, a account, runs []*hostRun) []Check {
	var out []Check
	for _, t := range []struct{ name, local string }{{"ffmpeg", c.Commands.FallbackFFmpeg}, {"ffprobe", c.Commands.FallbackFFprobe}} {
		seen := map[string][]string{}
		for _, r := range runs {
			if v := r.version[t.name]; v != "" {
				seen[v] = append(seen[v], r.h.Hostname)
			}
		}
		if len(seen) == 0 {
			continue
		}
		if res := a.run(ctx, []string{t.local, "-version"}, nil, 10*time.Second); res.Code == 0 {
			v := strings.TrimSpace(strings.SplitN(firstLine(res.Stdout), " Copyright", 2)[0])
			seen[v] = append(seen[v], "local fallback")
		}
		ch := Check{Section: SectionHosts, Name: t.name + " versions", Status: OK}
		if len(seen) == 1 {
			for v, where := range seen {
				ch.Message = v + " on " + strings.Join(where, ", ")
			}
		} else {
			var parts []string
			for v, where := range seen {
				parts = append(parts, strings.Join(where, ", ")+": "+v)
			}
			sort.Strings(parts)
			ch.Status, ch.Message = Warn, "versions differ: "+strings.Join(parts, "; ")
			ch.Fix = "install the same ffmpeg build everywhere (jellyfin-ffmpeg of the same version)"
		}
		out = append(out, ch)
	}
	return out
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
