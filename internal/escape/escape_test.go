package escape

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain /media/Film (2020).mkv", "plain /media/Film (2020).mkv"},
		{"été 日本語", "été 日本語"},
		{"\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"\x1b]52;c;cm0gLXJmIH4=\x07", `\x1b]52;c;cm0gLXJmIH4=\x07`},
		{"a\nFinished rffmpeg with return code 0", `a\nFinished rffmpeg with return code 0`},
		{"tab\there\r", `tab\there\r`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bad \x9b utf8", `bad \x9b utf8`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"", ""},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextKeepsLines(t *testing.T) {
	got := Text("one\ttwo\nthree\x1b[2J\r\n")
	if want := "one\ttwo\nthree\\x1b[2J\\r\n"; got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
}

func FuzzLineHasNoControlBytes(f *testing.F) {
	f.Add("\x1b[31mred\n")
	f.Add("\xc2\x9b\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfffd && !strings.ContainsRune(s, 0xfffd) {
				t.Fatalf("Line(%q) = %q still holds %U", s, out, r)
			}
		}
	})
}

func BenchmarkLineClean(b *testing.B) {
	s := strings.Repeat("-i /media/movies/Some Film (2020)/film.mkv ", 8)
	for b.Loop() {
		Line(s)
	}
}
