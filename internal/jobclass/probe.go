package jobclass

import (
	"strings"
)

// What a host has is found by running its ffmpeg (over SSH for a remote
// host, here for the local machine and localhost hosts) with the argument
// lists below, then reading the answers with the parsers. A build lists
// hardware it was compiled for whether or not the machine has it
// (Debian's ffmpeg lists cuda, vaapi, qsv, vdpau and vulkan everywhere), so
// what counts is whether a device of each type actually initialises; the
// encoders, decoders and filters of a device type that does not are left
// out.

// ProbeDevices are the device types tried with DeviceProbeArgs.
var ProbeDevices = []string{"cuda", "vaapi", "qsv", "vulkan", "opencl", "amf", "videotoolbox"}

// ListProbeArgs are the listing calls whose outputs Probe reads, by name.
var ListProbeArgs = map[string][]string{
	"hwaccels": {"-hide_banner", "-hwaccels"},
	"encoders": {"-hide_banner", "-encoders"},
	"decoders": {"-hide_banner", "-decoders"},
	"filters":  {"-hide_banner", "-filters"},
}

// DeviceProbeArgs is the smallest job that initialises a device of type
// dev and exits 0 only if that worked: ffmpeg creates the device while it
// parses its options, and then needs an input and an output to run at all,
// so one blank frame from lavfi goes to the null muxer.
func DeviceProbeArgs(dev string) []string {
	return []string{"-hide_banner", "-loglevel", "error", "-init_hw_device", dev,
		"-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04", "-frames:v", "1", "-f", "null", "-"}
}

// ParseHWAccels reads `ffmpeg -hwaccels`: a heading, then one method a line.
func ParseHWAccels(out string) []string {
	var names []string
	started := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Hardware acceleration methods"):
			started = true
		case started && line != "" && !strings.ContainsAny(line, " \t:"):
			names = append(names, line)
		}
	}
	return uniq(names)
}

// ParseCodecs reads `ffmpeg -encoders` or `-decoders`: a legend, a line of
// dashes, then " V....D name  description" lines. Only the names are kept.
func ParseCodecs(out string) []string {
	var names []string
	started := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 1 && strings.Trim(f[0], "-") == "" {
			started = true
			continue
		}
		if started && len(f) >= 2 && len(f[0]) == 6 {
			names = append(names, f[1])
		}
	}
	return uniq(names)
}

// ParseFilters reads `ffmpeg -filters`: a legend, then " TSC name  V->V
// description" lines (a long name may run into the next column).
func ParseFilters(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && len(f[0]) == 3 && strings.Trim(f[0], ".TSC") == "" && strings.Contains(f[2], "->") {
			names = append(names, f[1])
		}
	}
	return uniq(names)
}

// ProbeResult is what the probe calls answered.
type ProbeResult struct {
	// Devices maps a tried device type to whether DeviceProbeArgs exited 0.
	Devices  map[string]bool
	HWAccels string // the outputs of the ListProbeArgs calls ("" when not run)
	Encoders string
	Decoders string
	Filters  string
	// Opened maps a hardware encoder tried with EncoderProbeArgs to
	// whether it encoded a frame; nil when no encoder was tried (then a
	// listed encoder of a working device counts).
	Opened map[string]bool
}

// Capabilities turns probe answers into capability tokens (see
// Requirements): the device types that initialised, then the hardware
// encoders, decoders and filters the build lists whose device type
// initialised (or that need none that can be tried, such as v4l2m2m) —
// of the encoders only those that opened, when they were tried — and the
// external libraries' encoders (lib*) the build lists.
func Capabilities(p ProbeResult) []string {
	works := map[string]bool{}
	var out []string
	for dev, ok := range p.Devices {
		if ok {
			works[dev] = true
			out = append(out, dev)
		}
	}
	usable := func(dev string) bool { return dev == "" || works[dev] }
	for _, name := range ParseCodecs(p.Encoders) {
		dev, ok := hwCodec(name)
		switch {
		case !ok && libEncoder(name):
			out = append(out, "enc:"+name)
		case ok && usable(dev) && (p.Opened == nil || p.Opened[name]):
			out = append(out, "enc:"+name)
		}
	}
	for _, name := range ParseCodecs(p.Decoders) {
		if dev, ok := hwCodec(name); ok && usable(dev) {
			out = append(out, "dec:"+name)
		}
	}
	for _, name := range ParseFilters(p.Filters) {
		if dev, ok := hwFilter(name); ok && dev != "" && works[dev] {
			out = append(out, "filter:"+name)
		}
	}
	return uniq(out)
}

// Satisfies reports whether a host with the capability tokens have (its
// probed capabilities and its tags) can run a job needing r, and if not,
// what it lacks.
func Satisfies(have []string, r Requirements) (bool, []string) {
	set := map[string]bool{}
	devices := false
	for _, h := range have {
		set[h] = true
		if !strings.Contains(h, ":") {
			devices = true
		}
	}
	var missing []string
	for _, t := range r.Tokens() {
		if !set[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 && r.Hardware && len(r.Devices) == 0 && !devices {
		missing = append(missing, "a hardware device")
	}
	return len(missing) == 0, missing
}

// probeMark starts each section of ProbeScript's output.
const probeMark = "@@rffmpeg-probe"

// ProbeScript is one POSIX sh script that runs every probe with the
// command words ffmpeg (the pre words and the ffmpeg path, e.g. ["nice",
// "/usr/lib/jellyfin-ffmpeg/ffmpeg"]) and prints the answers in sections
// ParseProbeScript reads: one SSH round trip per host instead of ten. Each
// device try is bounded by timeout(1) when the host has it (a wedged driver
// must not hang the check).
func ProbeScript(ffmpeg []string) string {
	var b strings.Builder
	b.WriteString("ff() { ")
	for _, w := range ffmpeg {
		b.WriteString(shQuote(w) + " ")
	}
	b.WriteString("\"$@\"; }\n")
	b.WriteString("t=; command -v timeout >/dev/null 2>&1 && t='timeout 10'\n")
	for _, name := range []string{"hwaccels", "encoders", "decoders", "filters"} {
		b.WriteString("echo '" + probeMark + " " + name + "'; ff")
		for _, a := range ListProbeArgs[name] {
			b.WriteString(" " + shQuote(a))
		}
		b.WriteString(" 2>/dev/null\n")
	}
	for _, dev := range ProbeDevices {
		// The function cannot run under timeout(1); the words can.
		b.WriteString("$t")
		for _, w := range ffmpeg {
			b.WriteString(" " + shQuote(w))
		}
		for _, a := range DeviceProbeArgs(dev) {
			b.WriteString(" " + shQuote(a))
		}
		b.WriteString(" </dev/null >/dev/null 2>&1; echo \"" + probeMark + " device " + dev + " $?\"\n")
	}
	return b.String()
}

// shQuote quotes a word for sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ParseProbeScript reads ProbeScript's output.
func ParseProbeScript(out string) ProbeResult {
	p := ProbeResult{Devices: map[string]bool{}}
	var section *string
	for _, line := range strings.SplitAfter(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == probeMark {
			section = nil
			switch {
			case f[1] == "device" && len(f) == 4:
				p.Devices[f[2]] = f[3] == "0"
			case f[1] == "hwaccels":
				section = &p.HWAccels
			case f[1] == "encoders":
				section = &p.Encoders
			case f[1] == "decoders":
				section = &p.Decoders
			case f[1] == "filters":
				section = &p.Filters
			}
			continue
		}
		if section != nil {
			*section += line
		}
	}
	return p
}

// EncoderCandidates are the hardware encoders worth opening: listed by the
// build, of a device type that initialised (or of none: v4l2m2m), with
// the device each needs ("" for none).
func EncoderCandidates(p ProbeResult) map[string]string {
	out := map[string]string{}
	for _, name := range ParseCodecs(p.Encoders) {
		if dev, ok := hwCodec(name); ok && (dev == "" || p.Devices[dev]) {
			out[name] = dev
		}
	}
	return out
}

// EncoderProbeArgs is the smallest job that opens hardware encoder enc (of
// device type dev, "" for none) and encodes one 8-bit frame with it: a
// build lists NVENC whether or not the card's driver can run it, and a
// v4l2m2m encoder whether or not there is a /dev/video device. Encoders
// that take frames in device memory get them uploaded.
func EncoderProbeArgs(enc, dev string) []string {
	a := []string{"-hide_banner", "-loglevel", "error"}
	vf := "format=nv12"
	if dev != "" {
		a = append(a, "-init_hw_device", dev+"=hw", "-filter_hw_device", "hw")
		if dev == "vaapi" || dev == "vulkan" {
			vf += ",hwupload"
		}
	}
	return append(a, "-f", "lavfi", "-i", "nullsrc=s=256x256:d=0.04", "-vf", vf,
		"-c:v", enc, "-frames:v", "1", "-f", "null", "-")
}

// EncoderProbeScript is the second round trip of a probe (only when
// EncoderCandidates has any): one open try per encoder, each bounded like
// a device try, in the sections ParseEncoderProbe reads.
func EncoderProbeScript(ffmpeg []string, cands map[string]string) string {
	var b strings.Builder
	b.WriteString("t=; command -v timeout >/dev/null 2>&1 && t='timeout 10'\n")
	names := make([]string, 0, len(cands))
	for n := range cands {
		names = append(names, n)
	}
	for _, enc := range uniq(names) {
		b.WriteString("$t")
		for _, w := range ffmpeg {
			b.WriteString(" " + shQuote(w))
		}
		for _, a := range EncoderProbeArgs(enc, cands[enc]) {
			b.WriteString(" " + shQuote(a))
		}
		b.WriteString(" </dev/null >/dev/null 2>&1; echo \"" + probeMark + " encoder " + enc + " $?\"\n")
	}
	return b.String()
}

// ParseEncoderProbe reads EncoderProbeScript's output into p.Opened.
func ParseEncoderProbe(p *ProbeResult, out string) {
	p.Opened = map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == probeMark && f[1] == "encoder" {
			p.Opened[f[2]] = f[3] == "0"
		}
	}
}
