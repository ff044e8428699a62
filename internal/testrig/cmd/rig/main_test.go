package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"host"},
		{"host", "up", "/tmp/x"},
		{"host", "up", "/tmp/x", "port", "u"},
		{"host", "up", "/tmp/x", "70000", "u"},
		{"host", "sideways", "/tmp/x"},
		{"ns", "up", "/tmp/x"},
	} {
		err := run(args)
		if err == nil {
			t.Errorf("rig %q: no error", args)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !(strings.HasPrefix(msg, "usage:") || strings.HasPrefix(msg, "bad port")) {
			t.Errorf("rig %q: %q, want one usage or bad-port line", args, msg)
		}
	}
}

// What up prints is eval'd by the shell: every value must come back intact.
func TestShellQuote(t *testing.T) {
	for _, v := range []string{"/tmp/rffmpeg demo/rig", `it's "here" $HOME \n`, "", "a;b|c&d`e`"} {
		out, err := exec.Command("sh", "-c", "eval \"V=$1\"; printf %s \"$V\"", "sh", shellQuote(v)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out); got != v {
			t.Errorf("shellQuote(%q) evaluates to %q", v, got)
		}
	}
}
