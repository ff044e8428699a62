// Package escape makes untrusted text safe to show a person: arguments, host
// names, a remote host's stderr and log lines can hold terminal control
// sequences (retitle or clear the terminal, write the clipboard with OSC 52)
// or newlines that forge a log line or split a table row. Like ls, ps and
// journald, control characters are replaced by visible escapes; everything
// else, unicode included, is kept. Machine-readable output (--json) is exact
// and never goes through here.
package escape

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Line escapes s for a single line: every control character, newlines and
// tabs included.
func Line(s string) string { return escapeString(s, false) }

// Text escapes s but keeps newlines and tabs, for multi-line text read from
// a file (the log) where lines are meant to be lines.
func Text(s string) string { return escapeString(s, true) }

func escapeString(s string, keepLines bool) string {
	i := firstUnsafe(s, keepLines)
	if i < 0 {
		return s // the common case costs a scan and no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			writeHex(&b, s[i]) // invalid UTF-8: a lone 0x9b is CSI to some terminals
		case !unsafeRune(r, keepLines):
			b.WriteString(s[i : i+size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			writeHex(&b, byte(r))
		default:
			b.WriteString(`\u`)
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
		}
		i += size
	}
	return b.String()
}

func writeHex(b *strings.Builder, c byte) {
	const digits = "0123456789abcdef"
	b.WriteString(`\x`)
	b.WriteByte(digits[c>>4])
	b.WriteByte(digits[c&0xf])
}

func firstUnsafe(s string, keepLines bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafeRune(r, keepLines) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune: C0, DEL, C1, and the unicode format characters that reorder
// or break lines on screen (bidi overrides, line and paragraph separators).
func unsafeRune(r rune, keepLines bool) bool {
	switch {
	case keepLines && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
