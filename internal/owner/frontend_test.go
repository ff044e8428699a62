package owner

import (
	"os"
	"testing"
	"time"
)

func TestFrontend(t *testing.T) {
	tests := []struct{ owner, want string }{
		{"jf-a|boot|123", "jf-a"},
		{"vm:0123456789ab|boot|1", "vm:0123456789ab"},
		{"", ""},        // the original rffmpeg's rows
		{"garbage", ""}, // not ours
	}
	for _, tt := range tests {
		if got := Frontend(tt.owner); got != tt.want {
			t.Errorf("Frontend(%q) = %q, want %q", tt.owner, got, tt.want)
		}
	}
}

func TestSelfAs(t *testing.T) {
	t.Setenv(FrontendEnv, "")
	if got, want := Self().Machine, Machine(); got != want {
		t.Errorf("Self().Machine = %q, want %q", got, want)
	}
	t.Setenv(FrontendEnv, "emby-1")
	if got := Self(); got.Machine != "emby-1" || got.PID != os.Getpid() {
		t.Errorf("Self() with %s = %+v", FrontendEnv, got)
	}
	if got := SelfAs("jf-b").String(); Frontend(got) != "jf-b" {
		t.Errorf("SelfAs(jf-b) writes owner %q", got)
	}
}

func TestHeartbeatFor(t *testing.T) {
	tests := []struct{ lease, want time.Duration }{
		{0, HeartbeatEvery},
		{60 * time.Second, 15 * time.Second},
		{600 * time.Second, 15 * time.Second},
		{8 * time.Second, 2 * time.Second},
		{time.Second, 250 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := HeartbeatFor(tt.lease); got != tt.want {
			t.Errorf("HeartbeatFor(%v) = %v, want %v", tt.lease, got, tt.want)
		}
	}
}

// A remembered start time is used instead of /proc: a row whose start
// differs from it is dead, one that matches is alive.
func TestStartsRemembered(t *testing.T) {
	self := Self()
	c := Checker{Self: self, Lease: time.Minute, Now: time.Now(), Starts: map[int]uint64{}}
	if c.Dead(self.PID, self.String(), time.Time{}) {
		t.Fatal("this process judged dead")
	}
	if got := c.Starts[self.PID]; got != self.Start {
		t.Errorf("remembered start %d, want %d", got, self.Start)
	}
	c.Starts[self.PID] = self.Start + 1 // as if the PID were reused
	if !c.Dead(self.PID, self.String(), time.Time{}) {
		t.Error("a row whose start differs from the remembered one judged alive")
	}
}
