package config

import (
	"strings"
	"testing"
)

func TestHistoryKeys(t *testing.T) {
	for _, c := range []struct {
		name, yaml     string
		days, rows     int
		daysSrc, wantE string
	}{
		{"defaults", "", DefaultHistoryRetentionDays, DefaultHistoryMaxRows, string(FromDefault), ""},
		{"set", "rffmpeg:\n  history:\n    retention_days: 7\n    max_rows: 500\n", 7, 500, string(FromFile), ""},
		{"one set", "rffmpeg:\n  history:\n    max_rows: 9\n", DefaultHistoryRetentionDays, 9, string(FromDefault), ""},
		{"zero days", "rffmpeg:\n  history:\n    retention_days: 0\n", 0, 0, "", "line 3 column 21: history.retention_days: must be greater than 0"},
		{"not a number", "rffmpeg:\n  history:\n    max_rows: lots\n", 0, 0, "", "max_rows"},
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
		if cfg.History.RetentionDays != c.days || cfg.History.MaxRows != c.rows || string(cfg.Sources["history.retention_days"]) != c.daysSrc {
			t.Errorf("%s: got %+v (days from %s), want %d days, %d rows (from %s)", c.name, cfg.History, cfg.Sources["history.retention_days"], c.days, c.rows, c.daysSrc)
		}
	}
	cfg, err := Parse([]byte("rffmpeg:\n  history:\n    retention_dayz: 3\n"), envOf(nil))
	if err != nil || len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "unknown key rffmpeg.history.retention_dayz") {
		t.Errorf("typo: %v %q", err, cfg.Warnings)
	}
}
