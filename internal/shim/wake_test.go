package shim

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// sleeper registers host "sleeper" with a Wake-on-LAN address (a UDP
// socket of this test, which receives the real magic packets) and marks
// it bad, as a failed check of a sleeping host does.
func sleeper(t *testing.T, w *world) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	mac, addr := "02:00:00:00:00:07", conn.LocalAddr().String()
	w.set("sleeper", state.HostProps{WoLMAC: &mac, WoLAddr: &addr})
	self := owner.Self()
	claim := state.Claim{PID: self.PID, Owner: self.String(), Now: time.Now()}
	if err := w.store.MarkBad(context.Background(), 1, claim, "connection refused"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// A sleeping host that answers its check after the packet: the call wakes
// it, clears its mark and runs there.
func TestWakeThenRun(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  commands:\n    fallback: false\n", "sleeper")
	conn := sleeper(t, w)
	f := &fake{checks: map[string]remote.CheckResult{}}
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 200)
		n, _, _ := conn.ReadFrom(buf)
		got <- n
	}()
	if code := w.call(f, "-i", "in.mkv", "out.mp4"); code != 0 {
		t.Fatalf("exit %d\n%s", code, w.logText())
	}
	select {
	case n := <-got:
		if n != 102 {
			t.Errorf("magic packet of %d bytes", n)
		}
	case <-time.After(time.Second):
		t.Errorf("no magic packet arrived")
	}
	log := w.logText()
	for _, want := range []string{"Waking host 'sleeper'", "Woke host 'sleeper' (sleeper, id 1): it answered after", "Running command on host 'sleeper'"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// A host that never answers: the call gives up after queue_timeout, marks
// it "did not wake" and, with no fallback, is refused.
func TestWakeGivesUp(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  commands:\n    fallback: false\n  scheduling:\n    queue_timeout: 2\n", "sleeper")
	sleeper(t, w)
	f := &fake{checks: map[string]remote.CheckResult{"sleeper": {Code: 255, Reason: "connection refused"}}}
	t0 := time.Now()
	if code := w.call(f, "-i", "in.mkv", "out.mp4"); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if took := time.Since(t0); took < 2*time.Second || took > 10*time.Second {
		t.Errorf("took %v with queue_timeout 2s", took)
	}
	if log := w.logText(); !strings.Contains(log, "did not wake: no SSH answer within 2s") {
		t.Errorf("log:\n%s", log)
	}
}

// The usual way a host is found asleep: its check fails in this call. The
// bad mark is written once; the host woken, it is taken.
func TestWakeAfterFailedCheck(t *testing.T) {
	w := newWorld(t, "rffmpeg:\n  commands:\n    fallback: false\n", "sleeper")
	conn := sleeper(t, w)
	w.store.ClearAll(context.Background(), true) // not yet known to sleep
	f := &fake{checks: map[string]remote.CheckResult{"sleeper": {Code: 255, Reason: "connection refused"}}}
	go func() { // the magic packet arrives: the host answers from now on
		conn.ReadFrom(make([]byte, 200))
		f.mu.Lock()
		delete(f.checks, "sleeper")
		f.mu.Unlock()
	}()
	if code := w.call(f, "-i", "in.mkv", "out.mp4"); code != 0 {
		t.Fatalf("exit %d\n%s", code, w.logText())
	}
	log := w.logText()
	if !strings.Contains(log, "Woke host") || !strings.Contains(log, "Running command on host 'sleeper'") || strings.Count(log, "Marking host sleeper") != 1 {
		t.Errorf("log:\n%s", log)
	}
}
