package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestScheduling(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Scheduling; got.WhenFull != "fallback" || got.QueueMax != 100 || got.QueueTimeout != 60 || len(got.Rules) != 0 {
		t.Errorf("defaults %+v", got)
	}
	c, err = Parse([]byte("rffmpeg:\n  scheduling:\n    when_full: wait\n    queue_timeout: 30\n    rules:\n      - probe=local\n      - transcode=tag:gpu\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Scheduling.WhenFull != "wait" || c.Scheduling.QueueTimeout != 30 || !reflect.DeepEqual(c.Scheduling.Rules, []string{"probe=local", "transcode=tag:gpu"}) {
		t.Errorf("parsed %+v", c.Scheduling)
	}
	if c.Sources["scheduling.rules"] != FromFile || len(c.Warnings) != 0 {
		t.Errorf("sources %v warnings %v", c.Sources["scheduling.rules"], c.Warnings)
	}
	if _, err := Parse([]byte("rffmpeg:\n  scheduling:\n    when_full: sometimes\n"), noEnv); err == nil || !strings.Contains(err.Error(), "must be one of fallback, wait, reject") {
		t.Errorf("bad when_full: %v", err)
	}
}
