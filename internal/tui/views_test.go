package tui

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// history records finished jobs as the shim does: on gpu1 a busy last
// hour, on gpu3 the connection failures that made it bad, a job killed by
// an admin, an ffmpeg error and one on the fallback.
func (f *fixture) history() {
	f.t.Helper()
	ctx := context.Background()
	type job struct {
		host          int64
		name, class   string
		ago, dur      time.Duration
		exit          int
		failure, kill string
		cmd           string
	}
	jobs := []job{
		{1, "gpu1", "transcode", 58 * time.Minute, 20 * time.Minute, 0, "", "", "ffmpeg -i /media/films/Elephants Dream.mkv -c:v h264_nvenc -f hls /var/cache/jellyfin/transcodes/a1.m3u8"},
		{1, "gpu1", "transcode", 45 * time.Minute, 10 * time.Minute, 0, "", "", "ffmpeg -i /media/films/Spring.mkv -c:v hevc_nvenc -f hls /var/cache/jellyfin/transcodes/b2.m3u8"},
		{1, "gpu1", "probe", 44 * time.Minute, 300 * time.Millisecond, 0, "", "", "ffprobe -show_streams /media/films/Spring.mkv"},
		{1, "gpu1", "transcode", 30 * time.Minute, 4 * time.Minute, 255, state.FailKilled, "root (uid 0)", "ffmpeg -i /media/films/Agent 327.mkv -c:v h264_nvenc -f hls /var/cache/jellyfin/transcodes/c3.m3u8"},
		{1, "gpu1", "image", 20 * time.Minute, 2 * time.Second, 1, state.FailFFmpeg, "", "ffmpeg -ss 00:05:00 -i /media/films/Broken.mkv -frames:v 1 -f image2 /var/cache/jellyfin/img.jpg"},
		{3, "gpu3", "transcode", 3 * time.Minute, 1 * time.Second, 255, state.FailConnect, "", "ffmpeg -i /media/shows/Sintel/S01E02.mkv -f hls /var/cache/jellyfin/transcodes/d4.m3u8"},
		{3, "gpu3", "probe", 10 * time.Second, 1 * time.Second, 255, state.FailConnect, "", "ffprobe -show_format /media/shows/Sintel/S01E03.mkv"},
		{0, "localhost", "subtitle", 90 * time.Second, 3 * time.Second, 0, "", "", "ffmpeg -i /media/shows/Sintel/S01E01.mkv -map 0:s:0 -f webvtt pipe:1"},
		{2, "gpu2", "trickplay", 8 * time.Minute, 95 * time.Second, 0, "", "", "ffmpeg -i /media/films/Tears of Steel.mkv -vf fps=1/10,scale=320:-1 -f image2 /var/cache/jellyfin/trickplay/%d.jpg"},
	}
	// Recorded as they end, as the shim does.
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.ago-b.dur, a.ago-a.dur) })
	for i, j := range jobs {
		r := state.JobRecord{HostID: j.host, Servername: j.name, Hostname: j.name + ".lan", Frontend: "jellyfin1", Class: j.class,
			Command: j.cmd, PID: 5000 + i, Started: now.Add(-j.ago), Duration: j.dur, ExitCode: j.exit, Failure: j.failure, KilledBy: j.kill}
		if j.host == 0 {
			r.Hostname = "localhost"
		}
		if err := f.store.RecordJob(ctx, r); err != nil {
			f.t.Fatal(err)
		}
	}
}

// The history view lists finished jobs newest first with where, what kind,
// how long and how they ended; f shows only the failed ones; the selected
// one is shown in full.
func TestHistoryView(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.history()
	f.sync()
	f.press("h")
	if f.m.mode != modeHistory || len(f.m.hist.jobs) != 9 {
		t.Fatalf("h: mode %d, %d jobs", f.m.mode, len(f.m.hist.jobs))
	}
	golden(t, "history", f.m)
	f.press("j")
	f.press("f")
	var outcomes []string
	for _, j := range f.m.hist.jobs {
		outcomes = append(outcomes, j.Outcome())
	}
	if want := []string{"connect", "connect", "ffmpeg", "killed"}; !slices.Equal(outcomes, want) {
		t.Errorf("failed only: %v, want %v", outcomes, want)
	}
	f.keys("j", "j", "j") // the killed job: who killed it is said
	golden(t, "history-failed", f.m)
	screen := strings.Join(strings.Fields(ansi.Strip(f.m.View().Content)), " ")
	if !strings.Contains(screen, "killed by root (uid 0)") || !strings.Contains(screen, "Agent 327.mkv -c:v h264_nvenc") {
		t.Errorf("the selected job is not shown in full:\n%s", screen)
	}
	// Narrow and wide: nothing wider than the window; wide, the frontend.
	for _, w := range []int{52, 130} {
		f.send(tea.WindowSizeMsg{Width: w, Height: 20})
		screen := ansi.Strip(f.m.View().Content)
		for i, l := range strings.Split(screen, "\n") {
			if lw := ansi.StringWidth(l); lw > w {
				t.Errorf("width %d: line %d is %d cells wide: %q", w, i, lw, l)
			}
		}
		if got := strings.Contains(screen, "FRONTEND"); got != (w >= wideHistory) {
			t.Errorf("width %d: FRONTEND column shown %v", w, got)
		}
	}
	f.press("esc")
	if f.m.mode != modeNormal {
		t.Errorf("esc: mode %d", f.m.mode)
	}
}

// Control bytes in a recorded command reach the screen escaped.
func TestHistoryEscapes(t *testing.T) {
	f := newFixture(t, 100, 24)
	r := state.JobRecord{HostID: 1, Servername: "evil" + oscTitle, Class: "transcode", Command: "ffmpeg -i a" + clear + "\nb.mkv", Started: now.Add(-time.Minute), Frontend: "x" + blink}
	if err := f.store.RecordJob(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.press("h")
	raw := f.m.View().Content
	for _, seq := range []string{"\x1b]", "\x07", clear, blink} {
		if strings.Contains(raw, seq) {
			t.Errorf("%q reached the terminal", seq)
		}
	}
	if s := ansi.Strip(raw); !strings.Contains(s, `ffmpeg -i a\x1b[2J\nb.mkv`) || !strings.Contains(s, `evil\x1b]0;pwned\x07`) {
		t.Errorf("not shown escaped:\n%s", s)
	}
}

// The host detail has the host's capacity, tags, capabilities, load over
// the last hour, running jobs, and recent jobs and failures from the
// history; it scrolls when taller than the screen.
func TestHostDetailWithHistory(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.history()
	f.health() // health_test.go
	f.sync()
	f.press("enter") // gpu1
	if f.m.mode != modeDetail || !f.m.detail.hist.loaded || f.m.detail.hist.err != nil {
		t.Fatalf("enter: mode %d, history %+v", f.m.mode, f.m.detail.hist)
	}
	golden(t, "detail-gpu1", f.m)
	// Peaks per minute over the last hour: the 20-minute job from -58m,
	// the second transcode and a probe overlapping it at -44m, ..., and
	// the two running now (4m05s and 2s).
	load := f.m.detail.hist.load
	if len(load) != 60 || load[2] != 1 || load[15] != 2 || load[16] != 3 || load[59] != 2 || load[50] != 0 {
		t.Errorf("load %v", load)
	}
	f.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if f.m.detail.scroll != 1 {
		t.Errorf("the wheel scrolled the detail to %d, want 1", f.m.detail.scroll)
	}
	for range 30 {
		f.press("j")
	}
	golden(t, "detail-gpu1-scrolled", f.m)
	screen := ansi.Strip(f.m.View().Content)
	for _, want := range []string{"Recent failures (last 2)", "killed by root (uid 0)", "image, 2.0s, exit 1", "min 28ms · median 35ms · max 240ms"} {
		if !strings.Contains(screen, want) {
			t.Errorf("scrolled detail lacks %q:\n%s", want, screen)
		}
	}
	// A narrow window: fewer, wider buckets, and nothing wider than it.
	f.send(tea.WindowSizeMsg{Width: 52, Height: 18})
	f.press("esc")
	f.press("enter")
	if n := len(f.m.detail.hist.load); n != 30 {
		t.Errorf("%d buckets at 52 columns, want 30", n)
	}
	for i, l := range strings.Split(ansi.Strip(f.m.View().Content), "\n") {
		if w := ansi.StringWidth(l); w > 52 {
			t.Errorf("line %d is %d cells wide: %q", i, w, l)
		}
	}
}

// m and t edit max_jobs and tags: enter turns the value into a question
// saying what changes, enter there changes nothing, only y writes.
func TestEditMaxJobsAndTags(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.keys("m") // (its command is the cursor blink)
	f.keys("backspace")
	f.typeText("1")
	f.press("enter")
	want := "set max jobs of gpu1 (id 1) from 2 to 1: 2 jobs running, 1 above the new limit: they finish, none is stopped"
	if f.m.mode != modeConfirm || f.m.confirm.question != want {
		t.Fatalf("mode %d, question %q, want %q", f.m.mode, f.m.confirm.question, want)
	}
	golden(t, "confirm-maxjobs", f.m)
	f.press("enter")
	if h, _ := f.store.Host(ctx, 1); h.MaxJobs != 2 || f.m.mode != modeNormal {
		t.Fatalf("enter changed max_jobs to %d (mode %d)", h.MaxJobs, f.m.mode)
	}
	f.keys("m") // (its command is the cursor blink)
	f.keys("backspace")
	f.typeText("1")
	f.press("enter")
	f.press("y")
	if h, _ := f.store.Host(ctx, 1); h.MaxJobs != 1 || f.m.statusErr {
		t.Errorf("y: max_jobs %d, status %q", h.MaxJobs, f.m.status)
	}
	f.sync()
	// Not a number, then a negative one: refused in the input, nothing asked.
	for _, bad := range []struct{ typed, want string }{{"x", `max jobs "1x" is not a whole number`}, {"-", "must be 0 (no limit) or more"}} {
		f.keys("m") // (its command is the cursor blink)
		f.typeText(bad.typed)
		if bad.typed == "-" {
			f.keys("backspace", "backspace", "-", "3")
		}
		f.press("enter")
		if f.m.mode != modeProp || !strings.Contains(f.m.prop.err, bad.want) {
			t.Errorf("%q: mode %d, error %q, want %q", bad.typed, f.m.mode, f.m.prop.err, bad.want)
		}
		f.press("esc")
	}
	// Tags: add one and remove one, as `rffmpeg set tags=+a,-b` does.
	f.keys("t")
	for range len("nvenc,transcode") {
		f.keys("backspace")
	}
	f.typeText("+hdr,-transcode")
	f.press("enter")
	if want := "set the tags of gpu1 (id 1) from nvenc,transcode to hdr,nvenc"; f.m.confirm.question != want {
		t.Errorf("question %q, want %q", f.m.confirm.question, want)
	}
	f.press("y")
	if h, _ := f.store.Host(ctx, 1); !slices.Equal(h.Tags, []string{"hdr", "nvenc"}) {
		t.Errorf("tags %v", h.Tags)
	}
	f.keys("t")
	f.typeText(",bad tag")
	f.press("enter")
	if f.m.mode != modeProp || !strings.Contains(f.m.prop.err, "only letters, digits") {
		t.Errorf("bad tag: mode %d, error %q", f.m.mode, f.m.prop.err)
	}
	golden(t, "tags-invalid", f.m)
}

// D runs the doctor in a command, so the console stays live meanwhile; the
// report then shows, scrollable, and esc goes back to where D was pressed.
func TestDoctorView(t *testing.T) {
	f := newFixture(t, 80, 24)
	var asked []string
	f.m.cfg.Doctor = func(_ context.Context, hosts []string) doctor.Report {
		asked = hosts
		return doctor.Report{Checks: []doctor.Check{
			{Section: doctor.SectionConfig, Name: "configuration", Status: doctor.OK, Message: "loaded /etc/rffmpeg/rffmpeg.yml"},
			{Section: doctor.SectionHosts, Host: "gpu3", Name: "tcp", Status: doctor.Fail, Message: "gpu3.lan:22: connection refused",
				Fix: "start sshd on the host, or check the address and the firewall between this machine and it"},
			{Section: doctor.SectionHosts, Host: "gpu3", Name: "ffmpeg -version", Status: doctor.Warn, Message: "answered in 1.4 s, Jellyfin waits 1 s",
				Fix: "the host is slow to start ffmpeg", Duration: 1400 * time.Millisecond, Timed: true},
		}}
	}
	f.busyPool()
	f.sync()
	f.keys("j", "j", "enter") // gpu3's detail
	next, cmd := f.m.Update(tea.KeyPressMsg{Code: 'D', Text: "D"})
	f.m = next.(Model)
	if f.m.mode != modeDoctor || cmd == nil || asked != nil {
		t.Fatalf("D: mode %d, command %v, doctor already ran %v", f.m.mode, cmd != nil, asked)
	}
	if s := ansi.Strip(f.m.View().Content); !strings.Contains(s, "Doctor: gpu3 (id 3)") || !strings.Contains(s, "running the checks") {
		t.Errorf("while running:\n%s", s)
	}
	f.send(cmd())
	if !slices.Equal(asked, []string{"gpu3"}) {
		t.Errorf("doctor asked about %v", asked)
	}
	golden(t, "doctor", f.m)
	f.press("esc")
	if f.m.mode != modeDetail {
		t.Errorf("esc from the doctor: mode %d, want the detail", f.m.mode)
	}
	// A result that arrives after a newer run started is dropped.
	old := f.m.doc.run
	f.press("D")
	f.send(doctorMsg{run: old, report: doctor.Report{}})
	if f.m.doc.report == nil || len(f.m.doc.report.Checks) != 3 {
		t.Errorf("an older run's report replaced the newer one: %+v", f.m.doc.report)
	}
}

// Calls waiting for capacity show in the processes pane, oldest first,
// and in the header.
func TestQueueShown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 80, 24)
	f.busyPool()
	for i, cmd := range []string{"ffmpeg -i /media/films/First.mkv -c:v h264_nvenc -f hls x.m3u8", "ffmpeg -i /media/films/Second.mkv -c:v h264_nvenc -f hls y.m3u8"} {
		claim := state.Claim{PID: 6000 + i, Owner: "test|boot|1", Cmd: cmd, Now: now.Add(-time.Duration(30-10*i) * time.Second)}
		if _, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim, Class: "transcode", Needs: []string{"enc:h264_nvenc"}},
			func(state.Snapshot) state.Decision { return state.Decision{Wait: true} }); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	f.keys("tab")
	golden(t, "queued", f.m)
	rows := f.m.procs.rows(f.m.view)
	last := rows[len(rows)-2:]
	if last[0].queued != 1 || last[0].p.PID != 6000 || last[1].queued != 2 {
		t.Errorf("queue rows %+v", last)
	}
	if h := ansi.Strip(f.m.headerLine(f.m.frame())); !strings.Contains(h, "2 queued") {
		t.Errorf("header %q", h)
	}
}

// While the history is open each change re-reads it, one read at a time:
// changes seen during a read ask for a single read more when it lands.
func TestHistoryReadsDoNotStack(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.history()
	f.sync()
	f.press("h")
	f.send(changedMsg{})
	if !f.m.viewBusy || f.m.viewStale {
		t.Fatalf("first change: busy %v stale %v", f.m.viewBusy, f.m.viewStale)
	}
	f.send(changedMsg{})
	f.send(changedMsg{})
	if !f.m.viewStale {
		t.Fatal("changes during a read not noted")
	}
	next, cmd := f.m.Update(historyMsg{jobs: f.m.hist.jobs})
	f.m = next.(Model)
	if cmd == nil || !f.m.viewBusy || f.m.viewStale {
		t.Fatalf("the read landed: command %v, busy %v, stale %v", cmd != nil, f.m.viewBusy, f.m.viewStale)
	}
	if msg, ok := cmd().(historyMsg); !ok || len(msg.jobs) != 9 {
		t.Errorf("the read again gave %T", cmd())
	}
	next, cmd = f.m.Update(historyMsg{jobs: f.m.hist.jobs})
	f.m = next.(Model)
	if cmd != nil || f.m.viewBusy {
		t.Errorf("no change meanwhile, yet another read (busy %v)", f.m.viewBusy)
	}
}
