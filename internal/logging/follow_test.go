package logging_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/logging"
)

func TestReadNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rffmpeg.log")
	other := filepath.Join(dir, "20260302_rffmpeg.log")
	write := func(path, s string, flag int) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	write(p, "one\ntwo\nthree\n", os.O_TRUNC)
	var pos logging.Pos
	step := func(name, path string, backlog int64, wantOK, wantReset bool, want ...string) {
		t.Helper()
		c, ok := logging.ReadNew(path, pos, backlog)
		pos = c.Pos
		if ok != wantOK || c.Reset != wantReset || !reflect.DeepEqual(c.Lines, want) {
			t.Errorf("%s: ok %v reset %v lines %q, want %v %v %q", name, ok, c.Reset, c.Lines, wantOK, wantReset, want)
		}
	}
	// The first read shows the backlog, cut to whole lines.
	step("backlog", p, 9, true, false, "three")
	step("nothing new", p, 9, false, false)
	write(p, "four\nfi", os.O_APPEND)
	step("appended", p, 9, true, false, "four")
	write(p, "ve\n", os.O_APPEND)
	step("line completed", p, 9, true, false, "five")
	// Truncated in place: a reset and the new content from its start.
	write(p, "a\n", os.O_TRUNC)
	step("truncated", p, 9, true, true, "a")
	// Replaced by a new file at the same path (rotation), even a longer one.
	os.Rename(p, p+".1")
	write(p, "rotated and longer than before\n", os.O_TRUNC)
	step("rotated", p, 9, true, true, "rotated and longer than before")
	// Another path (the next day's dated file) not there yet, then there.
	step("new path missing", other, 9, true, true)
	write(other, "day two\n", os.O_TRUNC)
	step("new path created", other, 9, true, false, "day two")

	// Tail -n0: nothing of the existing file.
	pos = logging.Pos{}
	step("no backlog", p, 0, false, false)
	write(p, "after\n", os.O_APPEND)
	step("after start", p, 0, true, false, "after")

	// A backlog starting exactly at a line keeps that line.
	pos = logging.Pos{}
	step("backlog at line start", p, int64(len("after\n")), true, false, "after")
}

func TestReadNewHugeLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rffmpeg.log")
	os.WriteFile(p, []byte(strings.Repeat("x", 5<<20)), 0o644)
	c, ok := logging.ReadNew(p, logging.Pos{Path: p}, 0)
	c2, ok2 := logging.ReadNew(p, c.Pos, 0)
	if !ok || len(c.Lines) != 1 || len(c.Lines[0]) != 4<<20 || ok2 {
		t.Errorf("first %v %d lines; second %v %d lines", ok, len(c.Lines), ok2, len(c2.Lines))
	}
}
