package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The differential conformance suite: every invocation of the corpus runs
// with the local /usr/bin/ffmpeg or /usr/bin/ffprobe and through the shim on
// a real remote host (the rig's sshd, another user on this machine), in the
// same working directory, emptied between runs. Compared: stdout byte for
// byte, stderr after conformNormalize, the exit code, and every file left in
// the working directory, by name and bytes (outputs are made bit-exact with
// -fflags/-flags +bitexact and -map_metadata -1; a -report file goes through
// conformNormalize too). Each case also runs locally twice first: a case
// whose two local runs differ after normalising is flaky, not a shim bug, and
// fails as such, so every difference reported against the shim is the shim's.

// confCase is one invocation. In args, stdin and setup paths, {W} is the
// working directory and {IN} the read-only inputs directory.
type confCase struct {
	name     string
	prog     string   // ffmpeg or ffprobe
	args     []string // after the program name
	stdin    string   // a file fed on stdin ("" → /dev/null)
	env      []string // added to the environment of both runs
	setup    func(t *testing.T, wd, in string)
	progress bool // stdout is -progress output: normalise it too
	// What the local run must do, so that a case cannot pass by both
	// runs failing alike: its exit code, and files it must leave.
	wantCode  int
	wantFiles []string
}

// confRun is what one run left behind.
type confRun struct {
	stdout, stderr string
	code           int
	files          map[string]string // path relative to the work dir → bytes ("<dir>" for directories)
}

var (
	// Log contexts print the address of their object ("[silencedetect @
	// 0x55d…]"); ASLR makes it differ between any two runs.
	reAddr = regexp.MustCompile(`@ 0x[0-9a-f]+`)
	// Progress lines' wall-clock fields: frames per second and speed.
	// time= and bitrate= are media time and stay compared.
	reFPS   = regexp.MustCompile(`fps=\s*[0-9.]+`)
	reSpeed = regexp.MustCompile(`speed=\s*(N/A|[0-9.e+]+x)`)
	// The -report file's first line carries the wall-clock start, and its
	// default name the start time (ffmpeg-YYYYMMDD-HHMMSS.log).
	reStarted    = regexp.MustCompile(`started on \d{4}-\d\d-\d\d at \d\d:\d\d:\d\d`)
	reReportName = regexp.MustCompile(`ffmpeg-\d{8}-\d{6}\.log`)
	// -progress blocks: fps= and speed= are wall-clock.
	reProgFPS   = regexp.MustCompile(`(?m)^fps=.*$`)
	reProgSpeed = regexp.MustCompile(`(?m)^speed=.*$`)
	reRepeated  = regexp.MustCompile(`^\s*Last message repeated \d+ times?\r?\n$`)
)

// conformNormalize removes from ffmpeg's stderr (and -report files) only
// what differs between two local runs of the same command: object addresses
// in log prefixes, the intermediate progress lines (ended by \r, printed
// every 0.5 s of wall clock, so how many and between which log lines is
// timing), the wall-clock fields (fps=, speed=) of the final progress line
// (ended by \n), the report's start time, and ffmpeg's repeat suppression:
// whether a warning from several threads (the swscaler's) comes out as N
// lines or as one and "Last message repeated N-1 times" depends on how the
// threads interleave, so those lines go and runs of one line are one line.
func conformNormalize(s string) string {
	s = reAddr.ReplaceAllString(s, "@ 0xADDR")
	s = reStarted.ReplaceAllString(s, "started on DATE at TIME")
	s = reReportName.ReplaceAllString(s, "ffmpeg-DATE-TIME.log")
	var out []string
	for _, r := range splitKeep(s) {
		if reRepeated.MatchString(r) || len(out) > 0 && r == out[len(out)-1] && strings.HasSuffix(r, "\n") {
			continue
		}
		if isProgress(r) {
			if strings.HasSuffix(r, "\r") {
				continue
			}
			r = reSpeed.ReplaceAllString(reFPS.ReplaceAllString(r, "fps=X"), "speed=X")
		}
		out = append(out, r)
	}
	return strings.Join(out, "")
}

// splitKeep splits after every \r and \n, keeping them.
func splitKeep(s string) []string {
	var recs []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			recs = append(recs, s)
			break
		}
		recs = append(recs, s[:i+1])
		s = s[i+1:]
	}
	return recs
}

func isProgress(rec string) bool {
	return strings.Contains(rec, "time=") && strings.Contains(rec, "bitrate=") && strings.Contains(rec, "speed=")
}

// progressNormalize reduces -progress output to its last block, with the
// wall-clock keys' values removed, preceded by the sorted set of keys seen in
// any block (the number of blocks depends on wall-clock time).
func progressNormalize(s string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			keys[k] = true
		}
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	blocks := strings.SplitAfter(s, "progress=continue\n")
	last := blocks[len(blocks)-1]
	last = reProgSpeed.ReplaceAllString(reProgFPS.ReplaceAllString(last, "fps=X"), "speed=X")
	return "keys: " + strings.Join(ks, ",") + "\n" + last
}

// snapshot reads every file under dir (empty sub-directories included).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = reReportName.ReplaceAllString(rel, "ffmpeg-DATE-TIME.log")
		switch {
		case rel == ".":
		case fi.IsDir():
			files[rel] = "<dir>"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.HasSuffix(rel, ".log") {
				b = []byte(conformNormalize(string(b)))
			}
			files[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return files
}

// emptyDir removes everything in dir (files the remote user made included:
// the test runs as root).
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func expand(s, wd, in string) string {
	return strings.NewReplacer("{W}", wd, "{IN}", in).Replace(s)
}

// runConf runs c once in wd, locally (shim nil) or through the shim, and
// returns what it left, emptying wd afterwards.
func runConf(t *testing.T, c confCase, shim *env, wd, in string) confRun {
	t.Helper()
	emptyDir(t, wd)
	if c.setup != nil {
		c.setup(t, wd, in)
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = expand(a, wd, in)
	}
	var cmd *exec.Cmd
	if shim == nil {
		cmd = exec.Command("/usr/bin/"+c.prog, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	} else {
		cmd = shim.cmd(c.prog, args...)
	}
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Dir = wd
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if c.stdin != "" {
		f, err := os.Open(expand(c.stdin, wd, in))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	res := confRun{}
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", c.name, err)
		}
		res.code = exitStatus(ee.ProcessState)
	}
	res.stdout, res.stderr = out.String(), conformNormalize(errb.String())
	if c.progress {
		res.stdout = progressNormalize(res.stdout)
	}
	res.files = snapshot(t, wd)
	emptyDir(t, wd)
	return res
}

// confDiff describes how b differs from a ("" when it does not).
func confDiff(a, b confRun) string {
	var d []string
	if a.code != b.code {
		d = append(d, fmt.Sprintf("exit code %d vs %d", a.code, b.code))
	}
	if a.stdout != b.stdout {
		d = append(d, "stdout: "+firstDiff(a.stdout, b.stdout))
	}
	if a.stderr != b.stderr {
		d = append(d, "stderr: "+firstDiff(a.stderr, b.stderr))
	}
	var names []string
	for n := range a.files {
		names = append(names, n)
	}
	for n := range b.files {
		if _, ok := a.files[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fa, oka := a.files[n]
		fb, okb := b.files[n]
		switch {
		case !oka || !okb:
			d = append(d, fmt.Sprintf("file %q: present %v vs %v", n, oka, okb))
		case fa != fb:
			d = append(d, fmt.Sprintf("file %q (%d vs %d bytes): %s", n, len(fa), len(fb), firstDiff(fa, fb)))
		}
	}
	return strings.Join(d, "\n    ")
}

// firstDiff shows where two texts part, with a little context, escaped.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("%d vs %d bytes, first difference at byte %d:\n      local: %.200q\n      shim:  %.200q",
		len(a), len(b), i, a[from:], b[from:])
}

// conformInputs makes the read-only inputs once: a 1 s H.264/AAC Matroska, a
// NUT of it for pipes, a WAV of 1 s tone then 1 s silence, raw s16le, and a
// Matroska carrying a font attachment.
func conformInputs(t *testing.T, in string) {
	t.Helper()
	mk := func(args ...string) {
		c := exec.Command("/usr/bin/ffmpeg", append([]string{"-nostdin", "-y", "-loglevel", "error"}, args...)...)
		c.Dir = in
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("make input %v: %v: %s", args, err, out)
		}
	}
	mk("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-c:a", "aac", "-fflags", "+bitexact", "a.mkv")
	mk("-i", "a.mkv", "-c", "copy", "a.nut")
	mk("-f", "lavfi", "-i", "aevalsrc=if(lt(t\\,1)\\,0.5*sin(2*PI*440*t)\\,0):d=2:s=8000", "tone-silence.wav")
	mk("-i", "tone-silence.wav", "-f", "s16le", "tone-silence.raw")
	if err := os.WriteFile(filepath.Join(in, "font.ttf"), []byte("not really a font, only bytes to carry\x00\x01\x02"), 0o644); err != nil {
		t.Fatal(err)
	}
	mk("-i", "a.mkv", "-c", "copy", "-attach", "font.ttf", "-metadata:s:t", "mimetype=application/x-truetype-font", "att.mkv")
	for name, text := range map[string]string{"question.txt": "?", "yes.txt": "y\n"} {
		if err := os.WriteFile(filepath.Join(in, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(in)
	for _, e := range ents {
		os.Chmod(filepath.Join(in, e.Name()), 0o644)
	}
}

// copyIn copies an input into the working directory under a new name.
func copyIn(from, to string) func(t *testing.T, wd, in string) {
	return func(t *testing.T, wd, in string) {
		b, err := os.ReadFile(filepath.Join(in, from))
		if err == nil {
			err = os.WriteFile(filepath.Join(wd, to), b, 0o666)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestConformance(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	e.mustCLI("add", "127.0.0.2")
	in := filepath.Join(e.dir, "in")
	wd := filepath.Join(e.dir, "work")
	for _, d := range []string{in, wd} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777) // the remote user writes outputs here
	}
	conformInputs(t, in)
	os.Chmod(in, 0o755)

	cases := conformCorpus()
	if len(cases) < 60 {
		t.Fatalf("corpus has %d invocations, want at least 60", len(cases))
	}
	remoteRuns := func() int { return strings.Count(e.logText(), "Running command on host '127.0.0.2'") }
	differ := 0
	for _, c := range cases {
		local := runConf(t, c, nil, wd, in)
		if again := runConf(t, c, nil, wd, in); confDiff(local, again) != "" {
			t.Errorf("%s: two local runs differ (a flaky case, not the shim's):\n    %s", c.name, confDiff(local, again))
			continue
		}
		if local.code != c.wantCode {
			t.Errorf("%s: local exit %d, the case expects %d: %.300q", c.name, local.code, c.wantCode, local.stderr)
		}
		for _, f := range c.wantFiles {
			if len(local.files[f]) == 0 {
				t.Errorf("%s: local run left no %q", c.name, f)
			}
		}
		before := remoteRuns()
		shim := runConf(t, c, e, wd, in)
		if remoteRuns() != before+1 {
			t.Errorf("%s: the shim did not run it on the remote host", c.name)
		}
		if d := confDiff(local, shim); d != "" {
			differ++
			t.Errorf("%s: %s %q: local and shim differ:\n    %s", c.name, c.prog, c.args, d)
		}
	}
	if log := e.logText(); strings.Contains(log, "Marking host") {
		t.Errorf("the host was marked bad:\n%s", log)
	}
	t.Logf("%d invocations, %d differ", len(cases), differ)
}

// bitexact makes outputs byte-for-byte reproducible (no encoder version
// strings, no random Matroska UIDs, no creation times).
var bitexact = []string{"-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"}

func withBitexact(args ...string) []string {
	// Output options go just before the output name (the last argument).
	n := len(args) - 1
	out := append([]string{}, args[:n]...)
	return append(append(out, bitexact...), args[n])
}

// hostile is an output name with every byte a shell, ssh or a parser could
// trip on.
const hostile = "out 'sq' \"dq\" $(touch pwned) `id` ;&|*?<>\\ \t\nnl ünï ✓ -x.mkv"

func conformCorpus() []confCase {
	var cs []confCase
	add := func(name, prog string, args ...string) *confCase {
		cs = append(cs, confCase{name: name, prog: prog, args: args})
		return &cs[len(cs)-1]
	}
	// Listings, ffmpeg then ffprobe (banner kept: it is stderr and must match).
	for _, o := range []string{"-formats", "-codecs", "-decoders", "-encoders", "-pix_fmts", "-sample_fmts", "-layouts",
		"-protocols", "-bsfs", "-devices", "-buildconf", "-L", "-colors", "-muxers", "-demuxers", "-filters", "-hwaccels", "-version"} {
		add("ffmpeg"+o, "ffmpeg", o)
	}
	for _, h := range [][]string{{"-h"}, {"-h", "full"}, {"-h", "long"}, {"-h", "filter=scale"}, {"-h", "muxer=mp4"},
		{"-h", "encoder=libx264"}, {"-h", "decoder=h264"}, {"-h", "demuxer=matroska"}, {"-h", "protocol=file"},
		{"-h", "bsf=h264_mp4toannexb"}, {"-h", "filter=nosuchfilter"}} {
		add("ffmpeg "+strings.Join(h, " "), "ffmpeg", h...)
	}
	for _, o := range []string{"-formats", "-codecs", "-decoders", "-encoders", "-pix_fmts", "-sample_fmts", "-layouts",
		"-protocols", "-bsfs", "-buildconf", "-L", "-colors", "-muxers", "-demuxers", "-filters", "-version", "-sections"} {
		add("ffprobe"+o, "ffprobe", "-hide_banner", o)
	}
	add("ffprobe -h", "ffprobe", "-hide_banner", "-h")
	add("ffprobe -h filter=scale", "ffprobe", "-hide_banner", "-h", "filter=scale")
	add("no arguments", "ffmpeg").wantCode = 1

	// Intro Skipper's calls.
	add("introskipper -version", "ffmpeg", "-version")
	add("introskipper -muxers", "ffmpeg", "-hide_banner", "-muxers")
	add("introskipper -h muxer=chromaprint", "ffmpeg", "-hide_banner", "-h", "muxer=chromaprint")
	add("introskipper -h filter=silencedetect", "ffmpeg", "-hide_banner", "-h", "filter=silencedetect")
	add("introskipper silencedetect", "ffmpeg", "-hide_banner", "-nostdin", "-i", "{IN}/tone-silence.wav", "-af", "silencedetect=n=-50dB:d=0.5", "-f", "null", "-")
	add("introskipper chromaprint raw", "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "{IN}/tone-silence.wav", "-ac", "2", "-f", "chromaprint", "-fp_format", "raw", "-")
	add("chromaprint base64", "ffmpeg", "-i", "{IN}/tone-silence.wav", "-f", "chromaprint", "-fp_format", "base64", "pipe:1")
	add("introskipper probe csv", "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", "{IN}/a.mkv")

	// Decodes and encodes to stdout.
	add("rawvideo to pipe:1", "ffmpeg", "-i", "{IN}/a.mkv", "-map", "0:v", "-frames:v", "3", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	add("s16le to -", "ffmpeg", "-i", "{IN}/a.mkv", "-map", "0:a", "-f", "s16le", "-")
	add("wav to pipe:1", "ffmpeg", withBitexact("-i", "{IN}/tone-silence.wav", "-f", "wav", "pipe:1")...)
	add("matroska to -", "ffmpeg", withBitexact("-i", "{IN}/a.mkv", "-c", "copy", "-f", "matroska", "-")...)
	add("mpegts to -", "ffmpeg", withBitexact("-hide_banner", "-i", "{IN}/a.mkv", "-c", "copy", "-f", "mpegts", "-")...)
	add("md5 to -", "ffmpeg", "-i", "{IN}/a.mkv", "-f", "md5", "-")
	add("framemd5 to -", "ffmpeg", "-hide_banner", "-i", "{IN}/a.mkv", "-f", "framemd5", "-")
	add("mjpeg to -", "ffmpeg", withBitexact("-hide_banner", "-f", "lavfi", "-i", "testsrc=size=64x48:duration=0.2", "-c:v", "mjpeg", "-f", "image2pipe", "-")...)
	add("lavfi sine s16le", "ffmpeg", "-hide_banner", "-f", "lavfi", "-i", "sine=d=0.5", "-f", "s16le", "-ac", "1", "-")

	// Binary stdin.
	add("nut on pipe:0", "ffmpeg", "-hide_banner", "-i", "pipe:0", "-f", "md5", "-").stdin = "{IN}/a.nut"
	add("nut on -", "ffmpeg", withBitexact("-i", "-", "-c", "copy", "-f", "matroska", "-")...).stdin = "{IN}/a.nut"
	add("raw s16le on -", "ffmpeg", "-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "-", "-af", "silencedetect=d=0.5", "-f", "null", "-").stdin = "{IN}/tone-silence.raw"
	add("ffprobe on pipe:0", "ffprobe", "-hide_banner", "-of", "json", "-show_streams", "pipe:0").stdin = "{IN}/a.nut"

	// -progress and -report.
	add("progress pipe:1", "ffmpeg", "-nostdin", "-i", "{IN}/a.mkv", "-progress", "pipe:1", "-f", "null", "-").progress = true
	add("progress pipe:1 -nostats", "ffmpeg", "-nostdin", "-nostats", "-i", "{IN}/a.mkv", "-progress", "pipe:1", "-f", "null", "-").progress = true
	c := add("report FFREPORT", "ffmpeg", "-nostdin", "-i", "{IN}/a.mkv", "-f", "null", "-")
	c.env, c.wantFiles = []string{"FFREPORT=file=report.log:level=32"}, []string{"report.log"}
	c = add("report -report FFREPORT", "ffmpeg", "-nostdin", "-report", "-i", "{IN}/a.mkv", "-f", "null", "-")
	c.env, c.wantFiles = []string{"FFREPORT=file=ffreport-%p.log:level=32"}, []string{"ffreport-ffmpeg.log"}
	// The default report level is debug, whose lines from decoder threads
	// come in any order: level 32 keeps the report deterministic.
	c = add("report default name", "ffmpeg", "-nostdin", "-report", "-i", "{IN}/a.mkv", "-f", "null", "-")
	c.env, c.wantFiles = []string{"FFREPORT=level=32"}, []string{"ffmpeg-DATE-TIME.log"}

	// ffprobe writers.
	for _, of := range []string{"json", "csv", "xml", "flat", "ini", "default", "compact", "json=c=1", "csv=p=0"} {
		add("ffprobe -of "+of, "ffprobe", "-v", "error", "-of", of, "-show_streams", "-show_format", "-show_chapters", "{IN}/a.mkv")
	}
	add("ffprobe -print_format json", "ffprobe", "-hide_banner", "-print_format", "json", "-show_streams", "-show_format", "{IN}/att.mkv")
	add("jellyfin probe", "ffprobe", "-analyzeduration", "200M", "-probesize", "1G", "-i", "{IN}/a.mkv", "-threads", "0", "-v", "warning",
		"-print_format", "json", "-show_streams", "-show_chapters", "-show_format")
	add("jellyfin keyframes", "ffprobe", "-fflags", "+genpts", "-v", "error", "-skip_frame", "nokey", "-select_streams", "v",
		"-show_entries", "packet=pts_time,flags", "-of", "csv", "{IN}/a.mkv")
	add("keyframes csv", "ffprobe", "-select_streams", "v", "-show_entries", "packet=pts_time,flags", "-of", "csv", "{IN}/a.mkv")
	add("ffprobe banner", "ffprobe", "{IN}/a.mkv")

	// Errors.
	add("missing input", "ffmpeg", "-nostdin", "-i", "missing.mkv", "-f", "null", "-").wantCode = 1
	add("ffprobe missing input", "ffprobe", "-hide_banner", "missing.mkv").wantCode = 1
	add("bad option", "ffmpeg", "-hide_banner", "-no-such-option").wantCode = 1
	add("ffprobe bad option", "ffprobe", "-no-such-option").wantCode = 1
	add("bad filter", "ffmpeg", "-hide_banner", "-nostdin", "-i", "{IN}/a.mkv", "-vf", "nosuchfilter", "-f", "null", "-").wantCode = 1
	add("bad encoder", "ffmpeg", "-hide_banner", "-nostdin", "-i", "{IN}/a.mkv", "-c:v", "nosuchcodec", "-f", "null", "-").wantCode = 1
	add("unwritable output", "ffmpeg", "-hide_banner", "-nostdin", "-i", "{IN}/a.mkv", "-y", "/proc/out.mkv").wantCode = 1
	add("empty input name", "ffmpeg", "-hide_banner", "-nostdin", "-i", "", "-f", "null", "-").wantCode = 1
	add("no output", "ffmpeg", "-hide_banner", "-i", "{IN}/a.mkv").wantCode = 1

	// Outputs relative to the working directory, and $TMPDIR-style paths.
	add("relative -y out.mkv", "ffmpeg", withBitexact("-nostdin", "-i", "{IN}/a.mkv", "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-y", "out.mkv")...).wantFiles = []string{"out.mkv"}
	add("relative subdir", "ffmpeg", withBitexact("-nostdin", "-i", "{IN}/a.mkv", "-c", "copy", "-y", "sub/out.nut")...).setup =
		func(t *testing.T, wd, in string) {
			os.Mkdir(filepath.Join(wd, "sub"), 0o777)
			os.Chmod(filepath.Join(wd, "sub"), 0o777)
		}
	add("dump_attachment", "ffmpeg", "-dump_attachment:t", "", "-y", "-i", "{IN}/att.mkv", "-t", "0", "-f", "null", "null").wantFiles = []string{"font.ttf"}
	add("dump_attachment named", "ffmpeg", "-hide_banner", "-dump_attachment:t:0", "font-out.ttf", "-i", "{IN}/att.mkv", "-t", "0", "-f", "null", "null").wantFiles = []string{"font-out.ttf"}
	tmpdir := func(t *testing.T, wd, in string) {
		p := filepath.Join(wd, "tmp", "jellyfin")
		os.MkdirAll(p, 0o777)
		os.Chmod(filepath.Join(wd, "tmp"), 0o777)
		os.Chmod(p, 0o777)
	}
	add("TMPDIR image extraction", "ffmpeg", withBitexact("-nostdin", "-ss", "0.5", "-i", "{IN}/a.mkv", "-frames:v", "1", "-f", "image2", "{W}/tmp/jellyfin/img.png")...).setup = tmpdir
	add("TMPDIR trickplay", "ffmpeg", withBitexact("-nostdin", "-filter_threads", "1", "-i", "{IN}/a.mkv", "-vf", "fps=2,scale=80:-1", "-c:v", "mjpeg", "-f", "image2", "{W}/tmp/jellyfin/%08d.jpg")...).setup = tmpdir
	add("hls segments", "ffmpeg", withBitexact("-nostdin", "-i", "{IN}/a.mkv", "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_segment_filename", "seg%d.ts", "-y", "main.m3u8")...).wantFiles = []string{"main.m3u8", "seg0.ts"}

	// Hostile names.
	add("hostile output name", "ffmpeg", withBitexact("-nostdin", "-i", "{IN}/a.mkv", "-c", "copy", "-f", "matroska", "-y", hostile)...).wantFiles = []string{hostile}
	add("hostile input name", "ffmpeg", "-hide_banner", "-i", hostile, "-f", "md5", "-").setup = copyIn("a.mkv", hostile)
	add("leading dash input", "ffprobe", "-hide_banner", "-of", "json", "-show_format", "./-x.mkv").setup = copyIn("a.mkv", "-x.mkv")
	add("leading dash output", "ffmpeg", withBitexact("-nostdin", "-i", "{IN}/a.mkv", "-c", "copy", "-y", "./-y.mkv")...).wantFiles = []string{"-y.mkv"}
	add("hostile metadata", "ffmpeg", "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "sine=d=0.1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
		"-metadata", "title=$(id) `id` 'q' \"d\" \n\t ünï", "-f", "ffmetadata", "-")
	add("unicode arguments echoed", "ffmpeg", "-hide_banner", "-nostdin", "-i", "nicht-da-ünï ✓ $HOME.mkv").wantCode = 1
	add("empty argument in filter", "ffmpeg", "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "sine=d=0.1", "-af", "", "-f", "null", "-").wantCode = 1
	// Environment that reaches the remote ffmpeg, and stdin interaction.
	c = add("AV_LOG_FORCE_COLOR error", "ffmpeg", "-hide_banner", "-nostdin", "-i", "missing.mkv")
	c.env, c.wantCode = []string{"AV_LOG_FORCE_COLOR=1"}, 1
	c = add("AV_LOG_FORCE_NOCOLOR", "ffmpeg", "-hide_banner", "-nostdin", "-i", "{IN}/a.mkv", "-vf", "nosuchfilter", "-f", "null", "-")
	c.env, c.wantCode = []string{"AV_LOG_FORCE_NOCOLOR=1"}, 1
	add("jellyfin pause key help", "ffmpeg", "-hide_banner", "-re", "-f", "lavfi", "-i", "nullsrc=s=16x16:d=1", "-f", "null", "-").stdin = "{IN}/question.txt"
	add("loglevel level+verbose", "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "level+verbose", "-i", "{IN}/a.mkv", "-f", "null", "-")
	// Binary on stderr: bytes a framing protocol on stderr could take for its own.
	add("binary to pipe:2", "ffmpeg", "-v", "quiet", "-i", "{IN}/a.mkv", "-map", "0:a", "-f", "s16le", "pipe:2")
	add("wav to /dev/stdout", "ffmpeg", withBitexact("-hide_banner", "-i", "{IN}/tone-silence.wav", "-f", "wav", "-y", "/dev/stdout")...)
	exists := func(t *testing.T, wd, in string) {
		p := filepath.Join(wd, "exists.nut")
		os.WriteFile(p, []byte("old"), 0o666)
		os.Chmod(p, 0o666) // the remote user may overwrite it
	}
	c = add("-n existing output", "ffmpeg", "-hide_banner", "-i", "{IN}/a.mkv", "-n", "exists.nut")
	c.setup, c.wantCode = exists, 1
	c = add("overwrite? no (stdin EOF)", "ffmpeg", "-hide_banner", "-i", "{IN}/a.mkv", "exists.nut")
	c.setup, c.wantCode = exists, 1
	c = add("overwrite? yes on stdin", "ffmpeg", withBitexact("-hide_banner", "-i", "{IN}/a.mkv", "-c", "copy", "exists.nut")...)
	c.setup, c.stdin = exists, "{IN}/yes.txt"
	add("relative input", "ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", "in.mkv").setup = copyIn("a.mkv", "in.mkv")
	add("ffprobe -show_frames audio", "ffprobe", "-v", "error", "-select_streams", "a", "-show_frames", "-of", "compact", "{IN}/a.mkv")
	add("ffprobe -show_packets -count_frames", "ffprobe", "-v", "error", "-count_frames", "-show_packets", "-show_streams", "-of", "json", "{IN}/a.mkv")
	return cs
}

// The normalising removes only what it says: timing fields, intermediate
// progress lines, addresses, the report's time; a changed byte elsewhere
// still shows.
func TestConformNormalize(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"[scale @ 0x55d1c0a3b2c0] x\n", "[scale @ 0x7f00aa11] x\n"},
		{"frame=  1 fps=0.0 q=0.0 size=N/A time=00:00:00.04 bitrate=N/A speed=N/A    \rlog\nframe= 25 fps= 12 q=-0.0 Lsize=1kB time=00:00:01.00 bitrate=8.0kbits/s speed=0.5x    \n",
			"log\nframe= 25 fps=250 q=-0.0 Lsize=1kB time=00:00:01.00 bitrate=8.0kbits/s speed= 403x    \n"},
		{"ffmpeg started on 2026-12-01 at 04:30:00\nReport written to \"ffmpeg-20261201-043000.log\"\n",
			"ffmpeg started on 2027-01-02 at 23:59:59\nReport written to \"ffmpeg-20270102-235959.log\"\n"},
		{"[swscaler @ 0x1] w\n    Last message repeated 2 times\nend\n", "[swscaler @ 0x2] w\n[swscaler @ 0x3] w\nend\n"},
	} {
		if got, want := conformNormalize(tc.a), conformNormalize(tc.b); got != want {
			t.Errorf("normalised differently:\n%q\n%q", got, want)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"frame= 25 fps=1 q=-0.0 Lsize=1kB time=00:00:01.00 bitrate=8.0kbits/s speed=1x    \n",
			"frame= 24 fps=1 q=-0.0 Lsize=1kB time=00:00:01.00 bitrate=8.0kbits/s speed=1x    \n"},
		{"frame= 25 fps=1 q=-0.0 Lsize=1kB time=00:00:01.00 bitrate=8.0kbits/s speed=1x    \n",
			"frame= 25 fps=1 q=-0.0 Lsize=1kB time=00:00:00.96 bitrate=8.0kbits/s speed=1x    \n"},
		{"Input #0, matroska,webm, from 'a.mkv':\n", "Input #0, matroska,webm, from 'b.mkv':\n"},
		{"x\n", "x\r\n"},
		{"a\x00H\x00b", "ab"},
		{"w\nx\nw\n", "w\nx\n"},
	} {
		if conformNormalize(tc.a) == conformNormalize(tc.b) {
			t.Errorf("normalising hid a real difference: %q vs %q", tc.a, tc.b)
		}
	}
	p1 := "frame=1\nfps=0.00\nout_time=00:00:00.04\nspeed=N/A\nprogress=continue\nframe=25\nfps=250\nout_time=00:00:01.00\nspeed=12x\nprogress=end\n"
	p2 := "frame=25\nfps=100\nout_time=00:00:01.00\nspeed=4x\nprogress=end\n"
	if progressNormalize(p1) != progressNormalize(p2) {
		t.Errorf("progress normalised differently:\n%s\n%s", progressNormalize(p1), progressNormalize(p2))
	}
	if p3 := strings.Replace(p2, "frame=25", "frame=24", 1); progressNormalize(p3) == progressNormalize(p2) {
		t.Errorf("progress normalising hid the frame count")
	}
}

// The comparison can fail: the original's stdout routing (opted into) is
// caught on a decode to stdout.
func TestConformanceCatchesRouting(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, map[string]string{"commands": "stdout_routing: original"})
	e.mustCLI("add", "127.0.0.2")
	in := filepath.Join(e.dir, "in")
	wd := filepath.Join(e.dir, "work")
	for _, d := range []string{in, wd} {
		os.Mkdir(d, 0o777)
		os.Chmod(d, 0o777)
	}
	conformInputs(t, in)
	c := confCase{name: "s16le to -", prog: "ffmpeg", args: []string{"-hide_banner", "-i", "{IN}/a.mkv", "-map", "0:a", "-f", "s16le", "-"}}
	local, shim := runConf(t, c, nil, wd, in), runConf(t, c, e, wd, in)
	if d := confDiff(local, shim); !strings.Contains(d, "stdout: ") || !strings.Contains(d, "stderr: ") || len(local.stdout) < 1000 {
		t.Errorf("original routing not caught (local stdout %d bytes): %q", len(local.stdout), d)
	}
}
