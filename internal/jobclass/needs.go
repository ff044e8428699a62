package jobclass

import (
	"sort"
	"strings"
)

// Requirements is what a job's arguments ask for of the ffmpeg that runs
// it: hardware, and the external libraries' encoders (lib*) that builds
// differ on. Each item is a
// capability token, the same vocabulary a host's probe records (see
// Capabilities) and an admin's tags may add:
//
//	cuda, vaapi, qsv, vulkan, opencl, …  a hardware device type that must initialise
//	enc:h264_nvenc                       a hardware encoder
//	enc:libx264                          an external library's encoder (software)
//	dec:hevc_cuvid                       a hardware decoder
//	filter:scale_cuda                    a hardware filter
type Requirements struct {
	Devices  []string // device types (from -hwaccel, -init_hw_device, codec and filter families)
	Encoders []string
	Decoders []string
	Filters  []string
	// Hardware is true when the arguments use hardware without naming its
	// type (-hwaccel_device /dev/dri/renderD128 alone, hwupload): the job
	// wants some device, which one is not known from the arguments.
	Hardware bool
}

// Empty reports whether the job needs nothing of its host.
func (r Requirements) Empty() bool { return len(r.Tokens()) == 0 && !r.Hardware }

// Tokens lists the requirement as capability tokens, sorted, no duplicates.
func (r Requirements) Tokens() []string {
	var out []string
	out = append(out, r.Devices...)
	for _, e := range r.Encoders {
		out = append(out, "enc:"+e)
	}
	for _, d := range r.Decoders {
		out = append(out, "dec:"+d)
	}
	for _, f := range r.Filters {
		out = append(out, "filter:"+f)
	}
	return uniq(out)
}

// String is the requirement for a person ("cuda, enc:h264_nvenc").
func (r Requirements) String() string {
	t := r.Tokens()
	if len(t) == 0 && r.Hardware {
		return "a hardware device"
	}
	return strings.Join(t, ", ")
}

func uniq(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	s := append([]string(nil), in...)
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// codecFamilies maps a codec name's suffix to the device type it needs
// ("" when the codec needs no device that can be initialised by type:
// v4l2m2m opens /dev/video*, rkmpp its own driver).
var codecFamilies = []struct{ suffix, device string }{
	{"_nvenc", "cuda"}, {"_cuvid", "cuda"}, {"_qsv", "qsv"}, {"_vaapi", "vaapi"},
	{"_amf", "amf"}, {"_v4l2m2m", ""}, {"_videotoolbox", "videotoolbox"}, {"_mediacodec", "mediacodec"},
	{"_rkmpp", "rkmpp"}, {"_vulkan", "vulkan"}, {"_d3d12va", "d3d12va"}, {"_mf", ""},
}

// libEncoder reports whether an encoder name is an external library's
// (libx264, libfdk_aac, libsvtav1): software, but not in every build.
func libEncoder(name string) bool { return strings.HasPrefix(name, "lib") && len(name) > 3 }

// hwCodec returns the device a codec name needs, ok false for a software codec.
func hwCodec(name string) (device string, ok bool) {
	for _, f := range codecFamilies {
		if strings.HasSuffix(name, f.suffix) && len(name) > len(f.suffix) {
			return f.device, true
		}
	}
	return "", false
}

// filterFamilies maps a filter name's suffix to its device type.
var filterFamilies = []struct{ suffix, device string }{
	{"_cuda", "cuda"}, {"_npp", "cuda"}, {"_vaapi", "vaapi"}, {"_qsv", "qsv"}, {"_opencl", "opencl"},
	{"_vulkan", "vulkan"}, {"_videotoolbox", "videotoolbox"}, {"_vt", "videotoolbox"}, {"_rkrga", "rkmpp"},
}

// generic are the hardware filters of every build, tied to no device type.
var generic = map[string]bool{"hwupload": true, "hwdownload": true, "hwmap": true}

// hwFilter returns what a filter needs: its device type (""
// when it uses whatever device the graph has), ok false for a software filter.
func hwFilter(name string) (device string, ok bool) {
	switch name {
	case "hwupload", "hwdownload", "hwmap":
		return "", true
	case "libplacebo":
		return "vulkan", true
	case "hwupload_cuda":
		return "cuda", true
	}
	for _, f := range filterFamilies {
		if strings.HasSuffix(name, f.suffix) && len(name) > len(f.suffix) {
			return f.device, true
		}
	}
	return "", false
}

// deviceType reads a hardware type from -hwaccel or -init_hw_device values:
// "cuda", "vaapi=va:/dev/dri/renderD128", "qsv=qs@va", "opencl=ocl@cu".
func deviceType(v string) string {
	t, _, _ := strings.Cut(v, "=")
	t, _, _ = strings.Cut(t, ":")
	t = strings.ToLower(strings.TrimSpace(t))
	switch t {
	case "", "none", "auto":
		return ""
	}
	return t
}

// codecOptions are the options that name a codec (with or without a
// stream specifier: -c:v:0, -codec:v, -vcodec).
var codecOptions = []string{"-c", "-codec", "-vcodec", "-acodec"}

// filterOptions carry filter graphs.
var filterOptions = []string{"-vf", "-filter", "-filter_complex", "-lavfi", "-filter_complex_script", "-af"}

// Needs reads the hardware requirements of an ffmpeg argument list.
func Needs(args []string) Requirements {
	var r Requirements
	lastInput := -1
	for i, a := range args {
		if a == "-i" {
			lastInput = i
		}
	}
	for i := 0; i+1 < len(args); i++ {
		a, v := args[i], args[i+1]
		switch {
		case a == "-hwaccel":
			if t := deviceType(v); t != "" {
				r.Devices = append(r.Devices, t)
			}
		case a == "-init_hw_device":
			if t := deviceType(v); t != "" {
				r.Devices = append(r.Devices, t)
			}
		case a == "-hwaccel_device" || a == "-filter_hw_device":
			r.Hardware = true
		case optName(a, codecOptions):
			dev, ok := hwCodec(v)
			if !ok {
				if i > lastInput && libEncoder(v) {
					// An external library's encoder: builds differ on these
					// (jellyfin-ffmpeg has libfdk_aac, a distribution's may
					// lack libx265); every build has the native ones.
					r.Encoders = append(r.Encoders, v)
				}
				continue
			}
			if i < lastInput {
				r.Decoders = append(r.Decoders, v) // an input option: decode with it
			} else {
				r.Encoders = append(r.Encoders, v)
			}
			if dev != "" {
				r.Devices = append(r.Devices, dev)
			}
		case optName(a, filterOptions) && a != "-filter_complex_script":
			for _, f := range FilterNames(v) {
				dev, ok := hwFilter(f.Name)
				if !ok {
					continue
				}
				if generic[f.Name] {
					// Every build has these; what they need is a device,
					// of the type derive_device names when it does.
					r.Hardware = true
					if t := deviceType(f.Args["derive_device"]); t != "" {
						r.Devices = append(r.Devices, t)
					}
					continue
				}
				r.Devices = append(r.Devices, dev)
				r.Filters = append(r.Filters, f.Name)
			}
		}
	}
	r.Devices, r.Encoders, r.Decoders, r.Filters = uniq(r.Devices), uniq(r.Encoders), uniq(r.Decoders), uniq(r.Filters)
	if len(r.Devices) > 0 {
		r.Hardware = true
	}
	return r
}

// optName matches an option name with an optional stream specifier
// (-c:v:0 is -c; -filter:v is -filter).
func optName(a string, names []string) bool {
	base, _, _ := strings.Cut(a, ":")
	for _, n := range names {
		if base == n {
			return true
		}
	}
	return false
}

// Filter is one filter of a graph, with its key=value options.
type Filter struct {
	Name string
	Args map[string]string
}

// FilterNames splits a filter graph into its filters: chains are separated
// by ';', filters by ',', a filter's name ends at '=' or '@'; link labels
// ([in]) are dropped; '\' escapes and '…' quotes are honoured so a comma
// inside an option value does not split.
func FilterNames(graph string) []Filter {
	var out []Filter
	for _, part := range splitGraph(graph) {
		part = strings.TrimSpace(stripLabels(part))
		if part == "" {
			continue
		}
		name, rest, _ := strings.Cut(part, "=")
		name, _, _ = strings.Cut(name, "@") // an instance name: scale_cuda@main
		f := Filter{Name: strings.TrimSpace(name), Args: map[string]string{}}
		for _, kv := range strings.Split(rest, ":") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f.Args[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), "'")
			}
		}
		out = append(out, f)
	}
	return out
}

// splitGraph splits at unquoted, unescaped ',' and ';'.
func splitGraph(g string) []string {
	var parts []string
	var b strings.Builder
	quoted := false
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '\\' && i+1 < len(g):
			b.WriteByte(c)
			b.WriteByte(g[i+1])
			i++
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case !quoted && (c == ',' || c == ';'):
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String())
}

// stripLabels removes [label] link names before and after a filter.
func stripLabels(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ParseTokens is Tokens' inverse: the requirements a list of capability
// tokens names (a queued job's needs, as its queue row records them).
func ParseTokens(tokens []string) Requirements {
	var r Requirements
	for _, t := range tokens {
		kind, name, ok := strings.Cut(t, ":")
		switch {
		case !ok:
			r.Devices = append(r.Devices, t)
		case kind == "enc":
			r.Encoders = append(r.Encoders, name)
		case kind == "dec":
			r.Decoders = append(r.Decoders, name)
		case kind == "filter":
			r.Filters = append(r.Filters, name)
		}
	}
	r.Hardware = len(r.Devices) > 0
	return r
}
