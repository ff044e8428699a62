package config

import (
	"strings"
	"testing"
)

func TestStallKeys(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		after      int
		stop       bool
		wantE      string
	}{
		{"defaults", "", DefaultStallAfter, false, ""},
		{"set", "rffmpeg:\n  commands:\n    stall_after: 30\n    stop_stalled: true\n", 30, true, ""},
		{"off", "rffmpeg:\n  commands:\n    stall_after: 0\n", 0, false, ""},
		{"negative", "rffmpeg:\n  commands:\n    stall_after: -1\n", 0, false, "line 3 column 18: commands.stall_after: must not be negative"},
		{"not a boolean", "rffmpeg:\n  commands:\n    stop_stalled: sometimes\n", 0, false, "stop_stalled"},
	} {
		cfg, err := Parse([]byte(c.yaml), envOf(nil))
		if c.wantE != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantE) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.wantE)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := cfg.Commands; got.StallAfter != c.after || got.StopStalled != c.stop {
			t.Errorf("%s: stall_after %d, stop_stalled %v; want %d, %v", c.name, got.StallAfter, got.StopStalled, c.after, c.stop)
		}
	}
}
