package tui

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Bytes that would act on a terminal: retitle (OSC 0), clipboard write
// (OSC 52), clear screen (CSI 2J), blinking red (SGR 5;31, a style the
// console never uses itself), a lone C1 CSI, a carriage return and a
// newline that would split a row or forge a log line.
const (
	oscTitle = "\x1b]0;pwned\x07"
	osc52    = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
	clear    = "\x1b[2J"
	blink    = "\x1b[5;31m"
	c1CSI    = "\u009b"
)

// Host names, server names, commands, bad-mark reasons, last errors and
// log lines written by other tools reach the screen escaped: nothing in
// them acts on the terminal, and a newline does not split a row.
func TestHostileBytesStayInert(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100, 24)
	db, err := sql.Open("sqlite3", "file:"+f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Rows another tool wrote: the store's own validation never saw them.
	// (A hostname with control bytes is refused by the store as malformed;
	// server names are shown as they are, so they carry the bytes here.)
	for _, q := range []string{
		`INSERT INTO hosts (id, servername, hostname, weight, created) VALUES (1, 'evil` + oscTitle + `', 'gpu1.lan', 1, '2026-11-24 11:00:00')`,
		`INSERT INTO hosts (id, servername, hostname, weight, created) VALUES (2, 'two` + "\n" + `lines` + c1CSI + `', 'gpu2.lan', 1, '2026-11-24 11:00:00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	claim := state.Claim{PID: 4301, Owner: "test|boot|1", Now: now.Add(-time.Minute),
		Cmd: "ffmpeg -i /media/a" + blink + "red\nFinished rffmpeg with return code 0\r" + osc52 + ".mkv"}
	if _, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: 1} }); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkBad(ctx, 2, state.Claim{PID: 4242, Owner: "test|boot|1", Now: now}, "ssh: "+blink+"refused"+clear); err != nil {
		t.Fatal(err)
	}
	log := "2026-11-24 11:59:50,130 - rffmpeg[4242] - ERROR - Marking host x" + oscTitle + " as bad\r" + clear + "\n"
	os.WriteFile(f.m.cfg.LogPath(now), []byte(log), 0o644)
	f.sync()
	f.keys("tab") // the selected command in full under the processes
	raw := f.m.View().Content
	for name, seq := range map[string]string{"OSC": "\x1b]", "BEL": "\x07", "clear": clear, "SGR 5;31": blink, "C1 CSI": c1CSI, "CR": "\r"} {
		if strings.Contains(raw, seq) {
			t.Errorf("%s reached the terminal", name)
		}
	}
	golden(t, "hostile", f.m)
	lines := strings.Split(ansi.Strip(raw), "\n")
	for _, want := range []string{`evil\x1b]0;pw`, `x\x1b]0;pwned\x07 as bad`, `two\nlines`, `ffmpeg -i /media/a\x1b[5;31mred\nFinished`} {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, want)
		}
		if !found {
			t.Errorf("no line shows %q escaped", want)
		}
	}
}
