package owner

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestDead(t *testing.T) {
	self := Self()
	now := time.Now()
	c := Checker{Self: self, Lease: time.Minute, Now: now}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := StartTime(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	alive := Identity{Machine: self.Machine, Boot: self.Boot, PID: child.Process.Pid, Start: start}
	tests := []struct {
		name  string
		pid   int
		owner string
		hb    time.Time
		want  bool
	}{
		{"this process", self.PID, self.String(), now, false},
		{"a live child", alive.PID, alive.String(), now, false},
		{"same PID, another start time (reused)", alive.PID, Identity{self.Machine, self.Boot, alive.PID, start + 1}.String(), now, true},
		{"before a reboot", alive.PID, Identity{self.Machine, "other-boot", alive.PID, start}.String(), now, true},
		{"another machine, fresh heartbeat", 1, "elsewhere:x|b|1", now.Add(-10 * time.Second), false},
		{"another machine, stale heartbeat", 1, "elsewhere:x|b|1", now.Add(-2 * time.Minute), true},
		{"the original's row, live PID", os.Getpid(), "", time.Time{}, false},
	}
	for _, tt := range tests {
		if got := c.Dead(tt.pid, tt.owner, tt.hb); got != tt.want {
			t.Errorf("%s: Dead = %v, want %v", tt.name, got, tt.want)
		}
	}
	child.Process.Kill()
	child.Wait()
	if !c.Dead(alive.PID, alive.String(), now) {
		t.Errorf("a killed child is not dead")
	}
	if !c.Dead(alive.PID, "", time.Time{}) {
		t.Errorf("the original's row of a gone PID is not dead")
	}
}
