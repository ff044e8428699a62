package remote

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// ffmpegStderr is a real job's stderr (ffmpeg 5.1, `-re -f lavfi -i
// testsrc … -f lavfi -i sine … -c:v mpeg4 -f mpegts -`), cut short in the
// header: stats lines ended by '\r', the last by '\n', with ffmpeg's
// padding before each end and "speed=   1x" on the last.
const ffmpegStderr = "Input #0, lavfi, from 'testsrc=duration=2:size=160x120:rate=25':\n" +
	"  Duration: N/A, start: 0.000000, bitrate: N/A\n" +
	"  Stream #0:0: Video: mpeg4, yuv420p(tv, progressive), 160x120 [SAR 1:1 DAR 4:3], q=2-31, 200 kb/s, 25 fps, 90k tbn\n" +
	"Press [q] to stop, [?] for help\n" +
	"frame=    1 fps=0.0 q=3.9 size=       0kB time=00:00:00.00 bitrate=   0.0kbits/s speed=0.0044x    \r" +
	"frame=   13 fps=0.0 q=1.6 size=      45kB time=00:00:00.51 bitrate= 714.4kbits/s speed=1.01x    \r" +
	"frame=   26 fps= 26 q=2.0 size=      85kB time=00:00:01.00 bitrate= 690.9kbits/s speed=0.998x    \r" +
	"frame=   50 fps= 25 q=2.0 Lsize=     167kB time=00:00:02.00 bitrate= 681.9kbits/s speed=   1x    \n" +
	"video:53kB audio:94kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 13.274077%\n"

var ffmpegStderrWant = []Progress{
	{Frame: 1, FPS: 0, Position: 0, HasPosition: true, Speed: 0.0044},
	{Frame: 13, FPS: 0, Position: 510 * time.Millisecond, HasPosition: true, Speed: 1.01},
	{Frame: 26, FPS: 26, Position: time.Second, HasPosition: true, Speed: 0.998},
	{Frame: 50, FPS: 25, Position: 2 * time.Second, HasPosition: true, Speed: 1},
}

func TestParseStats(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       Progress
		ok         bool
	}{
		{"ffmpeg 7 with dup, drop and elapsed",
			"frame=  151 fps= 30 q=28.0 size=     256KiB time=00:01:04.96 bitrate= 422.7kbits/s dup=0 drop=3 speed=0.992x elapsed=0:00:05.00",
			Progress{Frame: 151, FPS: 30, Position: 64960 * time.Millisecond, HasPosition: true, Speed: 0.992}, true},
		{"audio only, exponent speed (real ffmpeg 5.1)", "size=N/A time=00:00:01.00 bitrate=N/A speed=2.33e+03x    ",
			Progress{Frame: -1, Position: time.Second, HasPosition: true, Speed: 2330}, true},
		{"nothing yet", "frame=    0 fps=0.0 q=0.0 size=       0kB time=N/A bitrate=N/A speed=N/A",
			Progress{Frame: 0}, true},
		{"negative start", "size=       0kB time=-00:00:00.02 bitrate=N/A speed=N/A",
			Progress{Frame: -1, HasPosition: true}, true},
		{"hours", "frame=90000 fps=120 q=-1.0 size= 2048000kB time=02:30:00.50 bitrate=1864.1kbits/s speed=4.8x",
			Progress{Frame: 90000, FPS: 120, Position: 2*time.Hour + 30*time.Minute + 500*time.Millisecond, HasPosition: true, Speed: 4.8}, true},
		{"two outputs", "frame=  10 fps=5.0 q=28.0 q=27.0 size=N/A time=00:00:00.40 bitrate=N/A speed=0.2x",
			Progress{Frame: 10, FPS: 5, Position: 400 * time.Millisecond, HasPosition: true, Speed: 0.2}, true},
		{"a log line mentioning time=", "[hls @ 0x55] Opening 'seg1.ts' time=00:00:04.00 for writing", Progress{}, false},
		{"frame= without time=", "frame=  10 fps=5.0", Progress{}, false},
		{"banner", "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers", Progress{}, false},
		{"garbage clock", "size=1kB time=aa:bb:cc speed=1x", Progress{Frame: -1, Speed: 1}, true},
	} {
		got, ok := ParseStats([]byte(c.line))
		if ok != c.ok || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// TestProgressTapSplitReads feeds the real sample in every split of two
// reads and in single bytes: the same lines come out.
func TestProgressTapSplitReads(t *testing.T) {
	var got []Progress
	tap := newProgressTap(func(p Progress) { got = append(got, p) })
	b := []byte(ffmpegStderr)
	for cut := 0; cut <= len(b); cut++ {
		got = nil
		tap.feed(b[:cut])
		tap.feed(b[cut:])
		if !reflect.DeepEqual(got, ffmpegStderrWant) {
			t.Fatalf("split at %d: got %+v, want %+v", cut, got, ffmpegStderrWant)
		}
	}
	got = nil
	for i := range b {
		tap.feed(b[i : i+1])
	}
	if !reflect.DeepEqual(got, ffmpegStderrWant) {
		t.Fatalf("byte by byte: got %+v, want %+v", got, ffmpegStderrWant)
	}
}

// TestProgressTapLongLine: a line longer than the buffer is skipped whole,
// and the next line is read again.
func TestProgressTapLongLine(t *testing.T) {
	var got []Progress
	tap := newProgressTap(func(p Progress) { got = append(got, p) })
	long := "frame=1 time=00:00:01.00 speed=1x " + string(bytes.Repeat([]byte("x"), 3*maxStatsLine))
	tap.feed([]byte(long[:maxStatsLine-10]))
	tap.feed([]byte(long[maxStatsLine-10:] + "\rsize=1kB time=00:00:02.00 speed=2x\r"))
	want := []Progress{{Frame: -1, Position: 2 * time.Second, HasPosition: true, Speed: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestFilterProgress runs the sample through the wrapper's filter with
// frames (start, PID, heartbeats) between and inside its lines: the
// caller's stderr gets exactly the job's bytes, and the tap the same lines.
func TestFilterProgress(t *testing.T) {
	const token = "tok123"
	beat := string(Frame(token, 'H', ""))
	job := ffmpegStderr
	var in bytes.Buffer
	in.Write(Frame(token, frameStart, ""))
	in.Write(Frame(token, framePID, "4242"))
	for i := 0; i < len(job); i += 37 {
		in.WriteString(job[i:min(i+37, len(job))])
		in.WriteString(beat)
	}
	var out bytes.Buffer
	var got []Progress
	f := newFilter(&out, token, make(chan struct{}), make(chan int, 1))
	f.tap = newProgressTap(func(p Progress) { got = append(got, p) })
	b := in.Bytes()
	for i := 0; i < len(b); i += 5 {
		f.write(b[i:min(i+5, len(b))])
	}
	f.flush()
	if out.String() != job {
		t.Fatalf("stderr changed:\n got %q\nwant %q", out.String(), job)
	}
	if !reflect.DeepEqual(got, ffmpegStderrWant) {
		t.Fatalf("progress: got %+v, want %+v", got, ffmpegStderrWant)
	}
}

// TestProgressTapAllocs: bytes that are not a stats line cost no
// allocation, however they are split.
func TestProgressTapAllocs(t *testing.T) {
	tap := newProgressTap(func(Progress) {})
	chunk := []byte("  Stream #0:0: Video: mpeg4, yuv420p(tv, progressive), 160x120\n[hls @ 0x55] Opening 'seg1.ts' for writing\r")
	if n := testing.AllocsPerRun(100, func() {
		tap.feed(chunk[:17])
		tap.feed(chunk[17:])
	}); n != 0 {
		t.Fatalf("%v allocations per feed, want 0", n)
	}
}
