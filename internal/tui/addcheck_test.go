package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// deadReason is what the check of a dead host says (setup.HostVersion's
// words for a refused connection), long enough to need wrapping.
const deadReason = "/usr/lib/jellyfin-ffmpeg/ffmpeg -version: ssh: connect to host 127.0.0.9 port 22: Connection refused (exit 255); the host is down, or sshd does not listen on this address and port"

// fakeReach stands in for ssh: the hosts it knows answer with a version
// and have capabilities; any other host is refused with deadReason.
type fakeReach struct {
	checked, probed []string
	versions        map[string]string
	caps            map[string][]string
	probeErr        error
	block           chan struct{} // when set, a check waits for it or its context
}

func (r *fakeReach) check(ctx context.Context, h state.Host) (string, error) {
	r.checked = append(r.checked, h.Hostname)
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return "", errors.New("timed out (host frozen or unreachable)")
		}
	}
	if v, ok := r.versions[h.Hostname]; ok {
		return v, nil
	}
	return "", errors.New(deadReason)
}

func (r *fakeReach) probe(_ context.Context, h state.Host) ([]string, error) {
	r.probed = append(r.probed, h.Hostname)
	return r.caps[h.Hostname], r.probeErr
}

// reachFixture is a console whose add form checks hosts through r.
func reachFixture(t *testing.T) (*fixture, *fakeReach) {
	f := newFixture(t, 80, 24)
	r := &fakeReach{versions: map[string]string{"gpu4.lan": "ffmpeg version 7.1.1-Jellyfin Copyright (c) 2000-2025 the FFmpeg developers"},
		caps: map[string][]string{"gpu4.lan": {"vaapi", "enc:h264_vaapi"}}}
	f.m.cfg.CheckHost, f.m.cfg.ProbeHost, f.m.cfg.CheckTimeout = r.check, r.probe, 11*time.Second
	f.sync()
	return f, r
}

// submit presses a key and runs what it starts to the end (the check, the
// add, the probe), as the program would, one message at a time.
func (f *fixture) submit(msg tea.KeyPressMsg) {
	f.t.Helper()
	next, cmd := f.m.Update(msg)
	f.m = next.(Model)
	for cmd != nil {
		out := cmd()
		if out == nil {
			return
		}
		next, cmd = f.m.Update(out)
		f.m = next.(Model)
	}
}

var (
	enterKey = tea.KeyPressMsg{Code: tea.KeyEnter}
	spaceKey = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
)

func (f *fixture) hostnames() []string {
	f.t.Helper()
	snap, err := f.store.Snapshot(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, h := range snap.Hosts {
		out = append(out, h.Hostname)
	}
	return out
}

// screenText is the screen's words in one line, without the form's box:
// a wrapped message reads as one.
func screenText(m Model) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(ansi.Strip(m.View().Content), "│", " ")), " ")
}

// A host that does not answer is refused: the form stays open with the
// reason in full and nothing is added; enter checks again (never adds it
// unchecked); ticking "add without checking" adds it.
func TestAddFormRefusesDeadHost(t *testing.T) {
	f, r := reachFixture(t)
	f.keys("a")
	f.typeText("127.0.0.9")
	f.keys("tab", "tab")
	f.submit(enterKey)
	if f.m.mode != modeForm || f.m.form.refused == "" || f.m.form.checking {
		t.Fatalf("after a failed check: mode %d, refused %q, checking %v", f.m.mode, f.m.form.refused, f.m.form.checking)
	}
	golden(t, "addform-refused", f.m)
	if !strings.Contains(screenText(f.m), "✗ 127.0.0.9 not added: "+deadReason) {
		t.Errorf("the reason is not shown in full:\n%s", ansi.Strip(f.m.View().Content))
	}
	if got := f.hostnames(); len(got) != 0 {
		t.Fatalf("a refused host was added: %v", got)
	}
	f.submit(enterKey) // checks again, still refused
	if got, want := r.checked, []string{"127.0.0.9", "127.0.0.9"}; !slices.Equal(got, want) {
		t.Errorf("checked %v, want %v", got, want)
	}
	if got := f.hostnames(); len(got) != 0 || f.m.mode != modeForm {
		t.Fatalf("enter added an unchecked host: %v (mode %d)", got, f.m.mode)
	}
	f.keys("tab") // the checkbox
	f.submit(spaceKey)
	if !f.m.form.noCheck {
		t.Fatal("space on the checkbox did not tick it")
	}
	f.submit(enterKey)
	if got := f.hostnames(); !slices.Equal(got, []string{"127.0.0.9"}) || f.m.mode != modeNormal {
		t.Fatalf("add anyway: hosts %v, mode %d", got, f.m.mode)
	}
	if want := "added host 127.0.0.9 (127.0.0.9) with id 1 and weight 1 without checking it"; f.m.status != want {
		t.Errorf("status %q, want %q", f.m.status, want)
	}
	if len(r.checked) != 2 || len(r.probed) != 0 {
		t.Errorf("add anyway checked %v, probed %v; want no more check and no probe", r.checked, r.probed)
	}
}

// A host that answers is added, and its capabilities are probed and
// recorded in the background; the status line says what each step found.
func TestAddFormChecksThenAddsAndProbes(t *testing.T) {
	f, r := reachFixture(t)
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab")
	f.typeText("gpu4")
	f.keys("tab")
	next, cmd := f.m.Update(enterKey)
	f.m = next.(Model)
	if !f.m.form.checking || cmd == nil {
		t.Fatalf("enter did not start a check (checking %v)", f.m.form.checking)
	}
	golden(t, "addform-checking", f.m)
	if got := f.hostnames(); len(got) != 0 {
		t.Fatalf("added before the check: %v", got)
	}
	var probeStatus string
	for cmd != nil {
		out := cmd()
		next, cmd = f.m.Update(out)
		f.m = next.(Model)
		if _, ok := out.(formDoneMsg); ok {
			probeStatus = f.m.status
		}
	}
	if f.m.mode != modeNormal || !slices.Equal(f.hostnames(), []string{"gpu4.lan"}) {
		t.Fatalf("after a passed check: mode %d, hosts %v", f.m.mode, f.hostnames())
	}
	if want := "added host gpu4 (gpu4.lan) with id 1 and weight 1: ffmpeg version 7.1.1-Jellyfin"; !strings.HasPrefix(probeStatus, want) || !strings.HasSuffix(probeStatus, "; probing its capabilities…") {
		t.Errorf("status after the add %q, want %q…; probing its capabilities…", probeStatus, want)
	}
	h, err := f.store.Host(context.Background(), 1)
	if err != nil || !slices.Equal(h.Capabilities, []string{"vaapi", "enc:h264_vaapi"}) {
		t.Errorf("capabilities recorded %v (%v), want the probe's", h.Capabilities, err)
	}
	if want := "capabilities of gpu4 (gpu4.lan): vaapi, enc:h264_vaapi"; f.m.status != want || f.m.statusErr || f.m.statusWarn {
		t.Errorf("status %q (error %v, warning %v), want %q", f.m.status, f.m.statusErr, f.m.statusWarn, want)
	}
	if !slices.Equal(r.checked, []string{"gpu4.lan"}) || !slices.Equal(r.probed, []string{"gpu4.lan"}) {
		t.Errorf("checked %v, probed %v", r.checked, r.probed)
	}
}

// A failed probe leaves the host added and says so as a warning.
func TestAddFormProbeFailureIsAWarning(t *testing.T) {
	f, r := reachFixture(t)
	r.probeErr = errors.New("probe /usr/lib/jellyfin-ffmpeg/ffmpeg: it listed no encoders or filters (not an ffmpeg?)")
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab", "tab")
	f.submit(enterKey)
	if !slices.Equal(f.hostnames(), []string{"gpu4.lan"}) || f.m.mode != modeNormal {
		t.Fatalf("hosts %v, mode %d", f.hostnames(), f.m.mode)
	}
	if !f.m.statusWarn || f.m.statusErr || !strings.Contains(f.m.status, "capability probe failed: probe /usr/lib/jellyfin-ffmpeg/ffmpeg: it listed no encoders") {
		t.Errorf("status %q (warning %v, error %v)", f.m.status, f.m.statusWarn, f.m.statusErr)
	}
	if got := screenText(f.m); !strings.Contains(got, "⚠ gpu4.lan (gpu4.lan): capability probe failed") {
		t.Errorf("no warning on the screen:\n%s", got)
	}
}

// Values the store refuses (a taken name) are refused before any host is
// reached, with no add anyway on offer.
func TestAddFormRefusesTakenNameFirst(t *testing.T) {
	f, r := reachFixture(t)
	if _, err := f.store.AddHost(context.Background(), "gpu1.lan", "gpu1", 1, now); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab")
	f.typeText("gpu1")
	f.keys("tab")
	f.submit(enterKey)
	if len(r.checked) != 0 || f.m.mode != modeForm || f.m.form.refused != "" || !strings.Contains(f.m.form.err, "gpu1") {
		t.Errorf("checked %v, mode %d, refused %q, err %q; want the store's refusal before any check", r.checked, f.m.mode, f.m.form.refused, f.m.form.err)
	}
}

// esc while a check runs stops it (its context ends) and keeps the form:
// the late result adds nothing; a second esc closes the form.
func TestAddFormStopCheck(t *testing.T) {
	f, r := reachFixture(t)
	r.block = make(chan struct{})
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab", "tab")
	next, cmd := f.m.Update(enterKey)
	f.m = next.(Model)
	result := make(chan tea.Msg, 1)
	go func() { result <- cmd() }()
	f.keys("x") // typing is not taken while checking
	f.keys("esc")
	if f.m.mode != modeForm || f.m.form.checking || f.m.form.inputs[0].Value() != "gpu4.lan" {
		t.Fatalf("esc while checking: mode %d, checking %v, hostname %q", f.m.mode, f.m.form.checking, f.m.form.inputs[0].Value())
	}
	select {
	case msg := <-result:
		f.send(msg)
	case <-time.After(10 * time.Second):
		t.Fatal("the stopped check's context did not end it")
	}
	if got := f.hostnames(); len(got) != 0 || f.m.mode != modeForm {
		t.Errorf("a stopped check added %v (mode %d)", got, f.m.mode)
	}
	if !strings.Contains(screenText(f.m), "check stopped: nothing added") {
		t.Errorf("the form does not say the check stopped:\n%s", ansi.Strip(f.m.View().Content))
	}
	f.keys("esc")
	if f.m.mode != modeNormal {
		t.Errorf("second esc: mode %d", f.m.mode)
	}
}

// The check is bounded: a host that never answers is refused after
// CheckTimeout, not waited for.
func TestAddFormCheckBounded(t *testing.T) {
	f, r := reachFixture(t)
	r.block = make(chan struct{}) // never closed: only the bound ends it
	f.m.cfg.CheckTimeout = 200 * time.Millisecond
	f.keys("a")
	f.typeText("gpu4.lan")
	f.keys("tab", "tab")
	t0 := time.Now()
	f.submit(enterKey)
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("the check took %v", took)
	}
	if !strings.Contains(f.m.form.refused, "timed out") || len(f.hostnames()) != 0 {
		t.Errorf("refused %q, hosts %v; want a timeout and nothing added", f.m.form.refused, f.hostnames())
	}
}

// A refusal's reason reaches the screen escaped, and a long one is wrapped
// inside the form, which still fits 80×24 whole (its bottom border shows).
func TestAddFormRefusalEscapedAndFits(t *testing.T) {
	f := newFixture(t, 80, 24)
	long := strings.Repeat("ssh: connect to host 127.0.0.9 port 22: Connection refused; ", 3) + "\x1b[2Jend"
	f.m.cfg.CheckHost = func(context.Context, state.Host) (string, error) { return "", errors.New(long) }
	f.sync()
	f.keys("a")
	f.typeText("127.0.0.9")
	f.keys("tab", "tab")
	f.submit(enterKey)
	raw := f.m.View().Content
	if strings.Contains(raw, "\x1b[2J") {
		t.Error("a control sequence in the reason reached the terminal")
	}
	screen := ansi.Strip(raw)
	if !strings.Contains(screenText(f.m), `Connection refused; \x1b[2Jend`) || !strings.Contains(screen, "╰") {
		t.Errorf("the reason is not shown escaped and in full in a whole form:\n%s", screen)
	}
	for i, l := range strings.Split(screen, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells wide", i, w)
		}
	}
	if n := strings.Count(screen, "\n") + 1; n > 24 {
		t.Errorf("%d lines in a 24-line window", n)
	}
}
