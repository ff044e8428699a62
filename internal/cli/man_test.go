package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
)

var manDate = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func manPage(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMan(&b, "1.2.3", manDate); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The page documents every verb of the table with its synopsis as -h
// prints it, every option in both forms with its help and default, and
// every configuration key with its default.
func TestManHasEveryVerbFlagAndKey(t *testing.T) {
	page := manPage(t)
	if got, want := strings.SplitN(page, "\n", 2)[0], `.TH RFFMPEG 1 "2026\-03\-01" "rffmpeg 1.2.3" "User Commands"`; got != want {
		t.Errorf("title line %q, want %q", got, want)
	}
	for _, c := range commands() {
		want := ".SS " + quoteArg(strings.TrimSpace("rffmpeg "+c.name+" "+c.args))
		if !strings.Contains(page, want+"\n") {
			t.Errorf("no section for %s: want line %q", c.name, want)
		}
		for _, f := range c.flags {
			tag := `\fB` + escapeRoff(strings.TrimSpace(f.names())) + `\fR`
			if !strings.Contains(page, tag) {
				t.Errorf("%s: no option %q", c.name, tag)
			}
			if !strings.Contains(page, escapeRoff(f.help)) {
				t.Errorf("%s --%s: help %q missing", c.name, f.long, f.help)
			}
			if f.def != "" && !strings.Contains(page, escapeRoff(f.help+" (default "+f.def+")")) {
				t.Errorf("%s --%s: default %q missing", c.name, f.long, f.def)
			}
		}
	}
	def, err := config.Parse(nil, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range def.Entries() {
		if !strings.Contains(page, escapeRoff(e.Key)+" ") || !strings.Contains(page, escapeRoff(yamlValue(e.Value))) {
			t.Errorf("configuration key %s (default %s) missing", e.Key, yamlValue(e.Value))
		}
	}
}

// groff reads the page without a warning, and what a reader sees carries
// every verb's synopsis and every option in plain ASCII (no hyphenation,
// no typographic hyphen or minus that would break a copied option).
func TestManRendersCleanly(t *testing.T) {
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("groff not installed")
	}
	page := manPage(t)
	check := exec.Command("groff", "-man", "-ww", "-z")
	check.Stdin = strings.NewReader(page)
	if out, err := check.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("groff -ww: %v\n%s", err, out)
	}
	render := exec.Command("groff", "-man", "-Tutf8", "-P-cbou", "-rLL=200n")
	render.Stdin = strings.NewReader(page)
	out, err := render.Output()
	if err != nil {
		t.Fatalf("groff: %v", err)
	}
	text := string(out)
	for _, bad := range []string{"\u2010", "\u2212", "\u2011"} {
		if strings.Contains(text, bad) {
			t.Errorf("rendered page contains %q: options would not copy as typed", bad)
		}
	}
	for _, c := range commands() {
		if want := strings.TrimSpace("rffmpeg " + c.name + " " + c.args); !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q", want)
		}
		for _, f := range c.flags {
			if want := strings.TrimSpace(f.names()); !strings.Contains(text, want) {
				t.Errorf("rendered page lacks %q", want)
			}
		}
	}
}

func TestRoffEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain\n"},
		{"--json", `\-\-json` + "\n"},
		{`\x1b`, `\ex1b` + "\n"},
		{".SH not a request", `\&.SH not a request` + "\n"},
		{"'quoted' first", `\&'quoted' first` + "\n"},
		{"two\n.lines", "two\n\\&.lines\n"},
	} {
		var b bytes.Buffer
		(&roff{w: &b}).plain(tc.in)
		if got := b.String(); got != tc.want {
			t.Errorf("plain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got, want := quoteArg(`say "hi"`), `"say \(dqhi\(dq"`; got != want {
		t.Errorf("quoteArg = %q, want %q", got, want)
	}
}
