package tui

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)

// golden compares the rendered screen (colours stripped) with testdata/NAME.golden.
func golden(t *testing.T, name string, m Model) {
	t.Helper()
	got := ansi.Strip(m.View().Content)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/tui -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
	if lines := strings.Count(got, "\n") + 1; lines > m.h {
		t.Errorf("%s: %d lines in a %d-line window", name, lines, m.h)
	}
}

// fixture is a real SQLite store and a console on it, at a fixed time.
type fixture struct {
	t     *testing.T
	store *state.Store
	path  string // the SQLite file
	m     Model
}

func newFixture(t *testing.T, w, h int) *fixture {
	o := statetest.NewSQLite(t)
	s, err := state.Init(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// A fixed path: it is shown in the log pane's title.
	logDir := filepath.Join(os.TempDir(), "rffmpeg-tui-test")
	os.MkdirAll(logDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(logDir) })
	logPath := filepath.Join(logDir, "rffmpeg.log")
	os.WriteFile(logPath, []byte(strings.Join([]string{
		"2026-11-24 11:59:50,120 - rffmpeg[4242] - INFO - Starting rffmpeg as ffmpeg with args: -version",
		"2026-11-24 11:59:50,130 - rffmpeg[4242] - ERROR - Marking host gpu3.lan (gpu3) as bad due to retcode 255: connection refused",
		"2026-11-24 11:59:50,190 - rffmpeg[4242] - INFO - Finished rffmpeg with return code 0",
	}, "\n")+"\n"), 0o644)
	cfg := Config{
		Open:     func(context.Context) (Ops, error) { return s, nil },
		Database: "sqlite /var/lib/rffmpeg/rffmpeg.db",
		Policy: func(t time.Time) selector.Policy {
			return selector.Policy{Now: t, BadTTL: time.Minute, Fallback: true}
		},
		LogPath: func(time.Time) string { return logPath },
		Now:     func() time.Time { return now },
	}
	m := New(cfg)
	t.Cleanup(func() { m.cancel(); s.Close() })
	f := &fixture{t: t, store: s, path: o.Path, m: m}
	f.send(tea.WindowSizeMsg{Width: w, Height: h})
	return f
}

// send delivers a message, then runs the commands the console needs to
// settle (connect, load, the log read), but not its timers.
func (f *fixture) send(msg tea.Msg) {
	f.t.Helper()
	next, _ := f.m.Update(msg)
	f.m = next.(Model)
}

func (f *fixture) sync() {
	f.t.Helper()
	if f.m.ops == nil {
		f.send(connect(f.m.ctx, f.m.cfg.Open)())
	}
	f.send(load(f.m.ctx, f.m.ops, f.m.cfg.Policy, f.m.cfg.Now)())
	if c, ok := logging.ReadNew(f.m.cfg.LogPath(now), f.m.log.pos, logBacklog); ok {
		f.send(logMsg(c))
	}
}

func (f *fixture) keys(keys ...string) {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "backspace":
			msg = tea.KeyPressMsg{Code: tea.KeyBackspace}
		default:
			r := []rune(k)[0]
			msg = tea.KeyPressMsg{Code: r, Text: k}
		}
		f.send(msg)
	}
}

func (f *fixture) typeText(s string) {
	for _, r := range s {
		f.keys(string(r))
	}
}

func (f *fixture) busyPool() {
	ctx := context.Background()
	for _, h := range []struct {
		host, name string
		w          int
	}{{"gpu1.lan", "gpu1", 2}, {"gpu2.lan", "gpu2", 1}, {"gpu3.lan", "gpu3", 1}} {
		if _, err := f.store.AddHost(ctx, h.host, h.name, h.w, now.Add(-time.Hour)); err != nil {
			f.t.Fatal(err)
		}
	}
	// Capacity and tags on two hosts; gpu1 probed, so its capabilities show.
	two, four := 2, 4
	for _, p := range []struct {
		id    int64
		name  string
		props state.HostProps
	}{{1, "gpu1", state.HostProps{MaxJobs: &two, AddTags: []string{"nvenc", "transcode"}}}, {2, "gpu2", state.HostProps{MaxJobs: &four, AddTags: []string{"vaapi"}}}} {
		if _, err := f.store.SetHostPropsByKey(ctx, state.HostKey{ID: p.id, Servername: p.name}, p.props); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := f.store.SetCapabilities(ctx, state.HostKey{ID: 1, Servername: "gpu1"}, []string{"cuda", "enc:h264_nvenc", "enc:hevc_nvenc", "dec:h264_cuvid", "filter:scale_cuda"}, now.Add(-30*time.Minute)); err != nil {
		f.t.Fatal(err)
	}
	jobs := []struct {
		host int64
		pid  int
		cmd  string
		ago  time.Duration
	}{
		{1, 4301, "ffmpeg -analyzeduration 200M -i /media/films/Big Buck Bunny (2008).mkv -map 0:0 -c:v h264_nvenc -b:v 8M -f hls /var/cache/jellyfin/transcodes/1a2b.m3u8", 4*time.Minute + 5*time.Second},
		{1, 4310, "ffprobe -v warning -print_format json -show_streams -show_format /media/shows/Sintel/S01E01.mkv", 2 * time.Second},
		{2, 4322, "ffmpeg -ss 00:12:00 -i /media/films/Tears of Steel.mkv -c:v h264_vaapi -f hls /var/cache/jellyfin/transcodes/9f8e.m3u8", 95 * time.Second},
		{0, 4400, "ffmpeg -i /media/music/track.flac -f null -", 12 * time.Second},
	}
	for _, j := range jobs {
		claim := state.Claim{PID: j.pid, Owner: "test|boot|1", Cmd: j.cmd, Now: now.Add(-j.ago)}
		id := j.host
		if _, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: id} }); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.store.MarkBad(ctx, 3, state.Claim{PID: 4242, Owner: "test|boot|1", Now: now.Add(-10 * time.Second)}, "connection refused"); err != nil {
		f.t.Fatal(err)
	}
}

func TestEmptyPool(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.sync()
	golden(t, "empty", f.m)
}

func TestBusyPoolWithBadHost(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	golden(t, "busy", f.m)
	h := f.m.view.Hosts[2]
	if h.State != state.StateBad || h.Bad == nil || h.Bad.PID != 4242 {
		t.Errorf("host 3 not bad in the model: %+v", h)
	}
}

func TestAddFormValidation(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.sync()
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab", "tab", "backspace")
	f.typeText("-2")
	f.keys("enter")
	golden(t, "addform-invalid", f.m)
	if f.m.mode != modeForm || !strings.Contains(f.m.form.err, "at least 1") {
		t.Errorf("form closed or no error: mode %d err %q", f.m.mode, f.m.form.err)
	}
	snap, _ := f.store.Snapshot(context.Background())
	if len(snap.Hosts) != 0 {
		t.Errorf("an invalid form added a host: %+v", snap.Hosts)
	}
	// Fix the weight and submit: the host is in the database.
	f.keys("backspace", "backspace")
	f.typeText("3")
	next, cmd := f.m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	f.m = next.(Model)
	f.send(cmd())
	snap, _ = f.store.Snapshot(context.Background())
	if len(snap.Hosts) != 1 || snap.Hosts[0].Hostname != "gpu4.lan" || snap.Hosts[0].Weight != 3 || f.m.mode != modeNormal {
		t.Errorf("after a valid submit: hosts %+v, mode %d, status %q", snap.Hosts, f.m.mode, f.m.status)
	}
}

func TestHelpView(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.keys("?")
	golden(t, "help", f.m)
	f.keys("j") // any key goes back
	if f.m.help.shown {
		t.Error("help still shown")
	}
}

func TestNarrowWindow(t *testing.T) {
	f := newFixture(t, 52, 18)
	f.busyPool()
	f.sync()
	f.keys("tab") // processes pane: the selected command in full
	golden(t, "narrow", f.m)
	for i, l := range strings.Split(ansi.Strip(f.m.View().Content), "\n") {
		if w := ansi.StringWidth(l); w > 52 {
			t.Errorf("line %d is %d cells wide: %q", i, w, l)
		}
	}
}

func TestKeysChangeTheDatabase(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	run := func(keys ...string) {
		for _, k := range keys {
			next, cmd := f.m.Update(tea.KeyPressMsg{Code: []rune(k)[0], Text: k})
			f.m = next.(Model)
			if cmd != nil {
				if msg := cmd(); msg != nil {
					f.send(msg)
				}
			}
		}
		f.sync()
	}
	run("+")           // host 1: weight 2 -> 3
	run("j", "j", "b") // host 3: its bad mark goes
	run("k", "x")      // host 2 drains
	snap, _ := f.store.Snapshot(context.Background())
	if snap.Hosts[0].Weight != 3 || !snap.Hosts[1].Drain {
		t.Errorf("hosts after keys: %+v", snap.Hosts)
	}
	for _, m := range snap.Marks {
		if m.State == state.StateBad {
			t.Errorf("bad mark still there: %+v", m)
		}
	}
	run("d", "y") // remove host 2, confirmed
	snap, _ = f.store.Snapshot(context.Background())
	if len(snap.Hosts) != 2 {
		t.Errorf("remove with confirmation: %d hosts", len(snap.Hosts))
	}
	run("-", "-", "-") // weight 1 is the floor: it stays there, no error
	snap, _ = f.store.Snapshot(context.Background())
	if f.m.statusErr || !strings.Contains(f.m.status, "weight 1, the lowest") || snap.Hosts[1].Weight != 1 {
		t.Errorf("- at weight 1: status %q (error %v), weight %d", f.m.status, f.m.statusErr, snap.Hosts[1].Weight)
	}
}
