package jobclass

import (
	"os/exec"
	"reflect"
	"slices"
	"testing"
)

const hwaccelsOut = `Hardware acceleration methods:
vdpau
cuda
vaapi
qsv
drm
opencl
vulkan

`

const encodersOut = `Encoders:
 V..... = Video
 A..... = Audio
 ------
 V....D a64multi             Multicolor charset for Commodore 64 (codec a64_multi)
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V..... h264_v4l2m2m         V4L2 mem2mem H.264 encoder wrapper (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 V..... h264_qsv             H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (Intel Quick Sync Video acceleration) (codec h264)
 V....D h264_vaapi           H.264/AVC (VAAPI) (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
`

const decodersOut = `Decoders:
 V..... = Video
 ------
 V....D h264                 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10
 V..... h264_cuvid           Nvidia CUVID H264 decoder (codec h264)
 V....D hevc_qsv             HEVC video (Intel Quick Sync Video acceleration) (codec hevc)
`

const filtersOut = `Filters:
  T.. = Timeline support
  .S. = Slice threading
  A = Audio input/output
  | = Source or sink filter
 ... abench            A->A       Benchmark part of a filtergraph.
 ... convolution_opencl V->V       Apply convolution mask to input video
 ... hwupload          V->V       Upload a normal frame to a hardware frame
 ... scale_cuda        V->V       GPU accelerated video resizer
 ... scale_vaapi       V->V       Scale to/from VAAPI surfaces.
 ..C libplacebo        V->V       Apply various GPU filters from libplacebo
 T.. yadif_cuda        V->V       Deinterlace CUDA frames
 ... openclsrc         |->V       Generate video using an OpenCL program
`

func TestParsers(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"hwaccels", ParseHWAccels(hwaccelsOut), []string{"cuda", "drm", "opencl", "qsv", "vaapi", "vdpau", "vulkan"}},
		{"encoders", ParseCodecs(encodersOut), []string{"a64multi", "aac", "h264_nvenc", "h264_qsv", "h264_v4l2m2m", "h264_vaapi", "libx264"}},
		{"decoders", ParseCodecs(decodersOut), []string{"h264", "h264_cuvid", "hevc_qsv"}},
		{"filters", ParseFilters(filtersOut), []string{"abench", "convolution_opencl", "hwupload", "libplacebo", "openclsrc", "scale_cuda", "scale_vaapi", "yadif_cuda"}},
		{"empty", ParseCodecs(""), nil},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	lists := ProbeResult{HWAccels: hwaccelsOut, Encoders: encodersOut, Decoders: decodersOut, Filters: filtersOut}
	for _, tc := range []struct {
		name    string
		devices map[string]bool
		want    []string
	}{
		// Compiled in, nothing initialises (Debian's ffmpeg on a machine
		// without a GPU): only what needs no device type stays.
		{"no hardware", map[string]bool{"cuda": false, "vaapi": false, "qsv": false}, []string{"enc:h264_v4l2m2m", "enc:libx264"}},
		{"nvidia", map[string]bool{"cuda": true, "vaapi": false},
			[]string{"cuda", "dec:h264_cuvid", "enc:h264_nvenc", "enc:h264_v4l2m2m", "enc:libx264", "filter:scale_cuda", "filter:yadif_cuda"}},
		{"intel", map[string]bool{"cuda": false, "vaapi": true, "qsv": true, "opencl": true},
			[]string{"dec:hevc_qsv", "enc:h264_qsv", "enc:h264_v4l2m2m", "enc:h264_vaapi", "enc:libx264", "filter:convolution_opencl", "filter:scale_vaapi", "opencl", "qsv", "vaapi"}},
		{"vulkan", map[string]bool{"vulkan": true}, []string{"enc:h264_v4l2m2m", "enc:libx264", "filter:libplacebo", "vulkan"}},
	} {
		p := lists
		p.Devices = tc.devices
		if got := Capabilities(p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSatisfies(t *testing.T) {
	nvidia := []string{"cuda", "enc:h264_nvenc", "filter:scale_cuda", "gpu"}
	nvenc := Needs(words(`-init_hw_device cuda=cu:0 -hwaccel cuda -i a.mkv -c:v h264_nvenc -vf scale_cuda=w=1 out.ts`))
	for _, tc := range []struct {
		name        string
		have        []string
		need        Requirements
		ok          bool
		wantMissing []string
	}{
		{"software job anywhere", nil, Requirements{}, true, nil},
		{"nvenc on nvidia", nvidia, nvenc, true, nil},
		{"nvenc on intel", []string{"vaapi", "enc:h264_vaapi"}, nvenc, false, []string{"cuda", "enc:h264_nvenc", "filter:scale_cuda"}},
		{"a tag stands in for a probe", []string{"vaapi"}, Requirements{Devices: []string{"vaapi"}}, true, nil},
		{"some device: any device type", []string{"vaapi"}, Requirements{Hardware: true}, true, nil},
		{"some device: none", []string{"enc:h264_v4l2m2m"}, Requirements{Hardware: true}, false, []string{"a hardware device"}},
	} {
		ok, missing := Satisfies(tc.have, tc.need)
		if ok != tc.ok || !reflect.DeepEqual(missing, tc.wantMissing) {
			t.Errorf("%s: got %v %q, want %v %q", tc.name, ok, missing, tc.ok, tc.wantMissing)
		}
	}
}

// The parsers on this machine's real ffmpeg, and the device probe's exit
// status: every listed name is found, and a device type this machine has
// no hardware for does not initialise (the probe must not say it does).
func TestRealFFmpeg(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(ff, args...).Output()
		return string(out), err
	}
	enc, err := run(ListProbeArgs["encoders"]...)
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseCodecs(enc); !slices.Contains(got, "aac") || !slices.Contains(got, "rawvideo") {
		t.Errorf("encoders of the real ffmpeg: %d names, no aac/rawvideo", len(got))
	}
	flt, _ := run(ListProbeArgs["filters"]...)
	if got := ParseFilters(flt); !slices.Contains(got, "scale") || !slices.Contains(got, "hwupload") {
		t.Errorf("filters of the real ffmpeg: %d names, no scale/hwupload", len(got))
	}
	hw, _ := run(ListProbeArgs["hwaccels"]...)
	if len(ParseHWAccels(hw)) == 0 {
		t.Logf("this ffmpeg lists no hwaccels")
	}
	// A software device proves the probe's job runs at all; "cuda" without
	// libcuda (this machine) must fail.
	devs := map[string]bool{}
	for _, d := range []string{"cuda", "vulkan"} {
		_, err := run(DeviceProbeArgs(d)...)
		devs[d] = err == nil
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil && devs["cuda"] {
		t.Errorf("cuda initialised on a machine without NVIDIA tools")
	}
	caps := Capabilities(ProbeResult{Devices: devs, Encoders: enc, Filters: flt})
	if !devs["cuda"] && slices.Contains(caps, "enc:h264_nvenc") {
		t.Errorf("nvenc listed without a working cuda device: %q", caps)
	}
	t.Logf("devices %v, capabilities %q", devs, caps)
}

// The one-round-trip probe script, run by a real sh with the real ffmpeg
// behind a path that needs quoting: its sections parse to the same
// answers as the separate calls, and every device gets an exit status.
func TestProbeScript(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	dir := t.TempDir() + "/it's here"
	if err := exec.Command("mkdir", "-p", dir).Run(); err != nil {
		t.Fatal(err)
	}
	link := dir + "/ffmpeg"
	if err := exec.Command("ln", "-s", ff, link).Run(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", ProbeScript([]string{"nice", link})).Output()
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	p := ParseProbeScript(string(out))
	if len(p.Devices) != len(ProbeDevices) {
		t.Errorf("devices %v, want one answer for each of %v", p.Devices, ProbeDevices)
	}
	enc, _ := exec.Command(ff, ListProbeArgs["encoders"]...).Output()
	if got, want := ParseCodecs(p.Encoders), ParseCodecs(string(enc)); !reflect.DeepEqual(got, want) || len(got) == 0 {
		t.Errorf("encoders through the script: %d names, directly %d", len(got), len(want))
	}
	if len(ParseFilters(p.Filters)) == 0 || len(ParseCodecs(p.Decoders)) == 0 {
		t.Errorf("filters or decoders missing from the script's output")
	}
	// A device that initialises (vulkan through a software driver, when
	// present) must read as working, one that does not as failing: the
	// script's statuses match running the probe directly.
	for _, dev := range []string{"cuda", "vulkan"} {
		direct := exec.Command(ff, DeviceProbeArgs(dev)...).Run() == nil
		if p.Devices[dev] != direct {
			t.Errorf("%s: script says %v, direct run %v", dev, p.Devices[dev], direct)
		}
	}
}

func TestParseProbeScript(t *testing.T) {
	out := probeMark + " hwaccels\n" + hwaccelsOut + probeMark + " encoders\n" + encodersOut +
		probeMark + " device cuda 0\n" + probeMark + " device vaapi 1\n" + probeMark + " device qsv 124\n"
	p := ParseProbeScript(out)
	if got, want := p.Devices, map[string]bool{"cuda": true, "vaapi": false, "qsv": false}; !reflect.DeepEqual(got, want) {
		t.Errorf("devices %v, want %v", got, want)
	}
	if got := Capabilities(p); !reflect.DeepEqual(got, []string{"cuda", "enc:h264_nvenc", "enc:h264_v4l2m2m", "enc:libx264"}) {
		t.Errorf("capabilities %q", got)
	}
}

// A hardware encoder counts only if it opened, once encoders were tried;
// the candidates are those of devices that initialised and device-less ones.
func TestEncoderOpened(t *testing.T) {
	p := ParseProbeScript(probeMark + " encoders\n" + encodersOut + probeMark + " device cuda 0\n" + probeMark + " device vaapi 1\n")
	if got, want := EncoderCandidates(p), map[string]string{"h264_nvenc": "cuda", "h264_v4l2m2m": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("candidates %v, want %v", got, want)
	}
	ParseEncoderProbe(&p, probeMark+" encoder h264_nvenc 1\n"+probeMark+" encoder h264_v4l2m2m 0\n")
	if got, want := Capabilities(p), []string{"cuda", "enc:h264_v4l2m2m", "enc:libx264"}; !reflect.DeepEqual(got, want) {
		t.Errorf("capabilities %q, want %q", got, want)
	}
}

// The encoder script, run by a real sh with the real ffmpeg: a v4l2m2m
// encoder with no /dev/video device does not open, and a software encoder
// given as a candidate does (the script's statuses are the real ones).
func TestEncoderProbeScript(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	out, err := exec.Command("sh", "-c", EncoderProbeScript([]string{ff}, map[string]string{"h264_v4l2m2m": "", "mpeg4": ""})).Output()
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	var p ProbeResult
	ParseEncoderProbe(&p, string(out))
	direct := exec.Command(ff, EncoderProbeArgs("h264_v4l2m2m", "")...).Run() == nil
	if got, want := p.Opened, map[string]bool{"h264_v4l2m2m": direct, "mpeg4": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("opened %v, want %v", got, want)
	}
}
