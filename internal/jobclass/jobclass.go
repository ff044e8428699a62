// Package jobclass reads an ffmpeg or ffprobe command line for what the job
// is (a probe, a capability check, an image, trickplay tiles, subtitle or
// attachment extraction, keyframe extraction or a transcode) and what
// hardware it needs (-hwaccel cuda, h264_nvenc, scale_vaapi, …). It only
// reads: the arguments are never altered, the job is routed to a host that
// has what they ask for. It also parses the output of the probes that find
// out what a host has. Pure: no I/O.
package jobclass

import (
	"path"
	"regexp"
	"strings"
)

// Class is what a call does, as config rules name it.
type Class string

// The classes, from Jellyfin's and its plugins' command lines.
const (
	Probe      Class = "probe"      // ffprobe reading media information
	Capability Class = "capability" // -version, -encoders, -h filter=X, the lavfi self-tests
	Image      Class = "image"      // one still frame (a thumbnail, an embedded cover)
	Trickplay  Class = "trickplay"  // a series of frames at an interval (seek-bar tiles)
	Subtitle   Class = "subtitle"   // subtitle or attachment (font) extraction
	Keyframes  Class = "keyframes"  // keyframe positions (ffprobe -skip_frame nokey)
	Transcode  Class = "transcode"  // everything else: transcodes, remuxes, analysis
)

// Classes lists every class, in the order help and errors name them.
var Classes = []Class{Probe, Capability, Image, Trickplay, Subtitle, Keyframes, Transcode}

// ParseClass reads a class name as config rules write it.
func ParseClass(s string) (Class, bool) {
	for _, c := range Classes {
		if string(c) == s {
			return c, true
		}
	}
	return "", false
}

// Job is what one call is and needs.
type Job struct {
	Tool  string // "ffmpeg" or "ffprobe"
	Class Class
	Needs Requirements
}

// Of classifies a call: tool is the program ("ffmpeg", "ffprobe"; a path
// or a name containing ffprobe counts as ffprobe, as argv[0] dispatch
// does), args its arguments without argv[0].
func Of(tool string, args []string) Job {
	t := "ffmpeg"
	if strings.Contains(path.Base(tool), "ffprobe") {
		t = "ffprobe"
	}
	j := Job{Tool: t, Needs: Needs(args)}
	if t == "ffprobe" {
		j.Class = probeClass(args)
	} else {
		j.Class = ffmpegClass(args)
	}
	return j
}

// infoFlags answer from the program itself: no input is read. The shim's
// special flags and the rest of ffmpeg's -L/-formats family.
var infoFlags = map[string]bool{
	"-version": true, "-buildconf": true, "-formats": true, "-muxers": true, "-demuxers": true,
	"-devices": true, "-codecs": true, "-decoders": true, "-encoders": true, "-bsfs": true,
	"-protocols": true, "-filters": true, "-pix_fmts": true, "-layouts": true, "-sample_fmts": true,
	"-dispositions": true, "-colors": true, "-hwaccels": true, "-h": true, "-help": true, "--help": true,
	"-?": true, "-L": true, "-sources": true, "-sinks": true,
}

// opts reads "-name value" pairs: the value following each option. It is
// enough for classification (a flag without value takes the next word as
// its value, which matters only if that word is itself an option we read).
type opts []string

func (o opts) has(name string) bool {
	for _, a := range o {
		if a == name {
			return true
		}
	}
	return false
}

// values returns the values of every option whose name matches (exactly,
// or as name:stream-specifier when spec is true).
func (o opts) values(spec bool, names ...string) []string {
	var out []string
	for i := 0; i+1 < len(o); i++ {
		if optMatch(o[i], spec, names) {
			out = append(out, o[i+1])
		}
	}
	return out
}

func optMatch(a string, spec bool, names []string) bool {
	for _, n := range names {
		if a == n || spec && strings.HasPrefix(a, n+":") {
			return true
		}
	}
	return false
}

func infoOnly(args []string) bool {
	o := opts(args)
	if o.has("-i") {
		return false
	}
	for _, a := range args {
		if infoFlags[a] {
			return true
		}
	}
	return false
}

func probeClass(args []string) Class {
	o := opts(args)
	if infoOnly(args) {
		return Capability
	}
	for _, v := range o.values(false, "-show_entries") {
		if strings.Contains(v, "packet=") && strings.Contains(v, "flags") {
			return Keyframes
		}
	}
	for _, v := range o.values(false, "-skip_frame") {
		if v == "nokey" {
			return Keyframes
		}
	}
	return Probe
}

// inputs are the -i values (ffprobe also takes its input bare; unused there).
func inputs(args []string) []string { return opts(args).values(false, "-i") }

var (
	// An output name with a frame-number pattern: img%08d.jpg, %d.png.
	framePattern = regexp.MustCompile(`%0?\d*d`)
	imageExt     = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true, ".bmp": true, ".gif": false, ".avif": true, ".tif": true, ".tiff": true}
	subtitleExt  = map[string]bool{".srt": true, ".ass": true, ".ssa": true, ".vtt": true, ".sup": true, ".sub": true, ".ttml": true, ".mks": true}
	subtitleFmt  = map[string]bool{"srt": true, "ass": true, "ssa": true, "webvtt": true, "sup": true, "ttml": true, "subrip": true}
)

func ffmpegClass(args []string) Class {
	o := opts(args)
	if infoOnly(args) {
		return Capability
	}
	ins := inputs(args)
	// Jellyfin's startup self-tests read a synthetic lavfi source and throw
	// the result away.
	if len(ins) > 0 && onlyLavfi(args) && strings.HasSuffix(strings.Join(outputFormats(args), ","), "null") {
		return Capability
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-dump_attachment") {
			return Subtitle
		}
	}
	out := lastOutput(args)
	ext := strings.ToLower(path.Ext(out))
	fmts := outputFormats(args)
	lastFmt := ""
	if len(fmts) > 0 {
		lastFmt = fmts[len(fmts)-1]
	}
	image := lastFmt == "image2" || lastFmt == "mjpeg" && imageExt[ext] || imageExt[ext] || lastFmt == "image2pipe"
	if image {
		if framePattern.MatchString(path.Base(out)) && !oneFrame(o) {
			return Trickplay
		}
		return Image
	}
	videoOff, audioOff := o.has("-vn"), o.has("-an")
	if subtitleExt[ext] || subtitleFmt[lastFmt] || videoOff && audioOff && len(o.values(true, "-c:s", "-codec:s", "-scodec")) > 0 {
		return Subtitle
	}
	return Transcode
}

// onlyLavfi: every input is a lavfi graph (-f lavfi before each -i).
func onlyLavfi(args []string) bool {
	format := ""
	n := 0
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-f":
			format = args[i+1]
		case "-i":
			if format != "lavfi" {
				return false
			}
			format = ""
			n++
		}
	}
	return n > 0
}

// outputFormats are the -f values after the last input.
func outputFormats(args []string) []string {
	last := -1
	for i, a := range args {
		if a == "-i" {
			last = i + 1
		}
	}
	if last < 0 {
		return nil
	}
	return opts(args[last+1:]).values(false, "-f")
}

// lastOutput is the last word, which is ffmpeg's last output (Jellyfin puts
// the output last; an option value there would be unusual).
func lastOutput(args []string) string {
	if len(args) == 0 {
		return ""
	}
	out := args[len(args)-1]
	return strings.TrimPrefix(out, "file:")
}

func oneFrame(o opts) bool {
	for _, v := range o.values(true, "-vframes", "-frames:v", "-frames") {
		if v == "1" {
			return true
		}
	}
	return false
}

// DescribeCaps lists capability tokens for a person.
func DescribeCaps(caps []string) string {
	if len(caps) == 0 {
		return "no hardware, no external encoders"
	}
	return strings.Join(caps, ", ")
}
