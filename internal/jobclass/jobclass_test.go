package jobclass

import (
	"reflect"
	"strings"
	"testing"
)

// words splits a command line as a shell would for these fixtures: on
// blanks, with "double quotes" grouping (Jellyfin quotes paths and filter
// graphs), and "" giving an empty argument.
func words(s string) []string {
	var out []string
	var b strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\n' || r == '\t') && !quoted:
			if in {
				out = append(out, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, b.String())
	}
	return out
}

// Command lines as Jellyfin 10.9–10.11 and its plugins write them.
var jellyfin = []struct {
	name  string
	tool  string
	args  string
	class Class
	needs []string // Requirements.Tokens()
	hw    bool     // Requirements.Hardware
}{
	{"version check", "ffmpeg", `-version`, Capability, nil, false},
	{"encoders list", "ffmpeg", `-hide_banner -encoders`, Capability, nil, false},
	{"filter help", "ffmpeg", `-hide_banner -h filter=scale_cuda`, Capability, nil, false},
	{"bsf help", "ffmpeg", `-hide_banner -h bsf=hevc_mp4toannexb`, Capability, nil, false},
	{"pause-key self-test", "ffmpeg", `-hide_banner -f lavfi -i nullsrc=s=1x1:d=500 -f null -`, Capability, nil, false},
	{"ffprobe version", "/usr/lib/jellyfin-ffmpeg/ffprobe", `-version`, Capability, nil, false},
	{"media info", "ffprobe", `-analyzeduration 200M -probesize 1G -i file:"/media/Movies/A (2020)/a.mkv" -threads 0 -v warning -print_format json -show_streams -show_chapters -show_format`, Probe, nil, false},
	{"intro skipper probe", "ffprobe", `-v error -of csv=p=0 -show_entries format=duration "/media/tv/e01.mkv"`, Probe, nil, false},
	{"keyframes", "ffprobe", `-fflags +genpts -v error -skip_frame nokey -show_entries format=duration -show_entries stream=duration -show_entries packet=pts_time,flags -select_streams v -of csv "/media/tv/e01.mkv"`, Keyframes, nil, false},
	{"attachments", "ffmpeg", `-dump_attachment:t "" -y -i file:"/media/a.mkv" -t 0 -f null null`, Subtitle, nil, false},
	{"subtitle srt", "ffmpeg", `-i file:"/media/a.mkv" -copyts -map 0:2 -an -vn -c:s srt "/config/data/subtitles/ab/abcdef.srt"`, Subtitle, nil, false},
	{"subtitle copy ass", "ffmpeg", `-i file:"/media/a.mkv" -copyts -map 0:3 -an -vn -c:s copy "/config/data/subtitles/ab/abcdef.ass"`, Subtitle, nil, false},
	{"image extraction", "ffmpeg", `-analyzeduration 200M -probesize 1G -ss 00:05:00.000 -i file:"/media/a.mkv" -threads 0 -v quiet -vframes 1 -vf "scale=trunc(ih*dar):ih,thumbnail=n=24" -f image2 "/tmp/jellyfin/5d1c.jpg"`, Image, nil, false},
	{"embedded cover", "ffmpeg", `-i file:"/media/a.mkv" -map 0:v:1 -an -vn? -c:v copy -frames:v 1 -f image2 "/tmp/jellyfin/cover.png"`, Image, nil, false},
	{"trickplay software", "ffmpeg", `-loglevel error -threads 1 -skip_interval_frames 1 -i file:"/media/a.mkv" -an -sn -vf "fps=1/10,scale=320:-2" -threads 2 -c:v mjpeg -qscale:v 4 -f image2 "/tmp/jellyfin/0f3a/%08d.jpg"`, Trickplay, nil, false},
	{"trickplay vaapi", "ffmpeg", `-loglevel error -init_hw_device vaapi=va:/dev/dri/renderD128 -filter_hw_device va -hwaccel vaapi -hwaccel_output_format vaapi -noautorotate -threads 1 -skip_interval_frames 1 -i file:"/media/a.mkv" -an -sn -vf "fps=1/10,setparams=color_primaries=bt709,scale_vaapi=w=320:h=180:format=nv12,hwmap=mode=read,format=nv12" -threads 2 -c:v mjpeg -f image2 "/tmp/jellyfin/0f3a/%08d.jpg"`,
		Trickplay, []string{"filter:scale_vaapi", "vaapi"}, true},
	{"transcode software", "ffmpeg", `-analyzeduration 200M -probesize 1G -f matroska -i file:"/media/a.mkv" -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 libx264 -preset veryfast -crf 23 -maxrate 8000000 -bufsize 16000000 -profile:v:0 high -x264opts:0 subme=0:me_range=4:rc_lookahead=10:me=dia:no_chroma_me:8x8dct=0:partitions=none -force_key_frames:0 "expr:gte(t,n_forced*3)" -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale=trunc(min(max(iw\,ih*a)\,1920)/2)*2:trunc(ow/a/2)*2,format=yuv420p" -codec:a:0 libfdk_aac -ac 2 -ab 256000 -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type mpegts -start_number 0 -hls_segment_filename "/cache/transcodes/b1c2%d.ts" -hls_playlist_type vod -hls_list_size 0 -y "/cache/transcodes/b1c2.m3u8"`,
		Transcode, []string{"enc:libfdk_aac", "enc:libx264"}, false},
	{"transcode nvenc", "ffmpeg", `-analyzeduration 200M -probesize 1G -init_hw_device cuda=cu:0 -filter_hw_device cu -hwaccel cuda -hwaccel_output_format cuda -noautorotate -hwaccel_flags +unsafe_output -threads 1 -autorotate 0 -i file:"/media/a.mkv" -autoscale 0 -map_metadata -1 -map_chapters -1 -threads 0 -map 0:0 -map 0:1 -map -0:s -codec:v:0 h264_nvenc -preset p1 -b:v 7616000 -maxrate 7616000 -bufsize 15232000 -g:v:0 72 -keyint_min:v:0 72 -vf "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709,scale_cuda=format=yuv420p" -codec:a:0 copy -copyts -avoid_negative_ts disabled -max_muxing_queue_size 2048 -f hls -max_delay 5000000 -hls_time 3 -hls_segment_type fmp4 -hls_fmp4_init_filename "x-1.mp4" -start_number 0 -hls_segment_filename "/cache/transcodes/x%d.mp4" -hls_playlist_type vod -hls_list_size 0 -y "/cache/transcodes/x.m3u8"`,
		Transcode, []string{"cuda", "enc:h264_nvenc", "filter:scale_cuda"}, true},
	{"transcode nvdec+tonemap opencl", "ffmpeg", `-init_hw_device cuda=cu:0 -init_hw_device opencl=ocl@cu -filter_hw_device ocl -hwaccel cuda -hwaccel_output_format cuda -i file:"/media/hdr.mkv" -codec:v:0 hevc_nvenc -filter_complex "[0:0]scale_cuda=w=1920:h=1080:format=p010,hwmap=derive_device=opencl:mode=read,tonemap_opencl=format=nv12:p=bt709:t=bt709:m=bt709:tonemap=bt2390:peak=100:desat=0,hwmap=derive_device=cuda:mode=write,format=cuda[main]" -f hls "/cache/transcodes/y.m3u8"`,
		Transcode, []string{"cuda", "enc:hevc_nvenc", "filter:scale_cuda", "filter:tonemap_opencl", "opencl"}, true},
	{"transcode vaapi", "ffmpeg", `-init_hw_device vaapi=va:/dev/dri/renderD128 -filter_hw_device va -hwaccel vaapi -hwaccel_output_format vaapi -autorotate 0 -i file:"/media/a.mkv" -codec:v:0 h264_vaapi -rc_mode VBR -b:v 7616000 -vf "setparams=color_primaries=bt709,scale_vaapi=w=1920:h=1080:format=nv12:extra_hw_frames=24" -f hls "/cache/transcodes/z.m3u8"`,
		Transcode, []string{"enc:h264_vaapi", "filter:scale_vaapi", "vaapi"}, true},
	{"transcode qsv over vaapi", "ffmpeg", `-init_hw_device vaapi=va:/dev/dri/renderD128 -init_hw_device qsv=qs@va -filter_hw_device qs -hwaccel qsv -hwaccel_output_format qsv -c:v hevc_qsv -i file:"/media/a.mkv" -codec:v:0 h264_qsv -vf "vpp_qsv=w=1920:h=1080:format=nv12" -f hls "/cache/transcodes/q.m3u8"`,
		Transcode, []string{"dec:hevc_qsv", "enc:h264_qsv", "filter:vpp_qsv", "qsv", "vaapi"}, true},
	{"transcode vulkan libplacebo", "ffmpeg", `-init_hw_device vaapi=va:/dev/dri/renderD128 -init_hw_device vulkan=vk@va -filter_hw_device vk -hwaccel vaapi -hwaccel_output_format vaapi -i file:"/media/hdr.mkv" -codec:v:0 h264_vaapi -vf "hwmap=derive_device=vulkan,libplacebo=tonemapping=bt.2390:format=nv12,hwmap=derive_device=vaapi:reverse=1" -f hls "/cache/transcodes/v.m3u8"`,
		Transcode, []string{"enc:h264_vaapi", "filter:libplacebo", "vaapi", "vulkan"}, true},
	{"hwupload cuda in -filter:v", "ffmpeg", `-i in.mkv -filter:v "format=nv12,hwupload_cuda,overlay_cuda" -c:v h264_nvenc out.mp4`,
		Transcode, []string{"cuda", "enc:h264_nvenc", "filter:hwupload_cuda", "filter:overlay_cuda"}, true},
	{"v4l2m2m needs no device type", "ffmpeg", `-i in.mkv -c:v h264_v4l2m2m out.mp4`, Transcode, []string{"enc:h264_v4l2m2m"}, false},
	{"amf", "ffmpeg", `-i in.mkv -c:v hevc_amf out.mp4`, Transcode, []string{"amf", "enc:hevc_amf"}, true},
	{"videotoolbox", "ffmpeg", `-hwaccel videotoolbox -i in.mkv -c:v h264_videotoolbox out.mp4`, Transcode, []string{"enc:h264_videotoolbox", "videotoolbox"}, true},
	{"hwaccel auto asks for nothing", "ffmpeg", `-hwaccel auto -i in.mkv -c:v libx264 out.mp4`, Transcode, []string{"enc:libx264"}, false},
	{"a library decoder is no encoder", "ffmpeg", `-c:v libdav1d -i in.mkv -c:v mpeg4 -c:a aac out.mp4`, Transcode, nil, false},
	{"device path alone", "ffmpeg", `-hwaccel_device /dev/dri/renderD128 -i in.mkv -vf hwdownload,format=nv12 out.mp4`, Transcode, nil, true},
	{"chromaprint fingerprint", "ffmpeg", `-t 600 -i file:"/media/tv/e01.mkv" -ac 2 -acodec pcm_s16le -ar 44100 -f chromaprint -fp_format raw -`, Transcode, nil, false},
	{"silencedetect", "ffmpeg", `-i file:"/media/tv/e01.mkv" -af silencedetect=noise=-50dB:duration=0.33 -f null -`, Transcode, nil, false},
	{"quoted comma is not a filter", "ffmpeg", `-i in.mkv -vf "drawtext=text='a,scale_cuda':x=1" out.mp4`, Transcode, nil, false},
}

func TestOf(t *testing.T) {
	for _, tc := range jellyfin {
		t.Run(tc.name, func(t *testing.T) {
			j := Of(tc.tool, words(tc.args))
			if j.Class != tc.class {
				t.Errorf("class: got %q, want %q", j.Class, tc.class)
			}
			if got := j.Needs.Tokens(); !reflect.DeepEqual(got, tc.needs) {
				t.Errorf("needs: got %q, want %q", got, tc.needs)
			}
			if j.Needs.Hardware != tc.hw {
				t.Errorf("hardware: got %v, want %v", j.Needs.Hardware, tc.hw)
			}
		})
	}
}

func TestWords(t *testing.T) {
	got := words(`-dump_attachment:t "" -i file:"/a b.mkv"`)
	want := []string{"-dump_attachment:t", "", "-i", "file:/a b.mkv"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFilterNames(t *testing.T) {
	for _, tc := range []struct {
		graph string
		want  []string
	}{
		{"scale_cuda=w=1:h=2,format=nv12", []string{"scale_cuda", "format"}},
		{"[0:v]scale_vaapi@main=w=1[a];[a][1:v]overlay_vaapi[out]", []string{"scale_vaapi", "overlay_vaapi"}},
		{`drawtext=text='x,y':fontsize=3,hwupload`, []string{"drawtext", "hwupload"}},
		{`scale=trunc(iw\,2),null`, []string{"scale", "null"}},
		{"", nil},
	} {
		var got []string
		for _, f := range FilterNames(tc.graph) {
			got = append(got, f.Name)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.graph, got, tc.want)
		}
	}
}

func TestParseClass(t *testing.T) {
	for _, c := range Classes {
		if got, ok := ParseClass(string(c)); !ok || got != c {
			t.Errorf("%q: got %q %v", c, got, ok)
		}
	}
	if _, ok := ParseClass("transcodes"); ok {
		t.Error("a misspelt class was accepted")
	}
}
