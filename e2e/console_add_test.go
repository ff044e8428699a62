package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// The console's add form checks a host as `rffmpeg add` does, in a real
// terminal against real hosts: a dead address is refused with the reason
// and nothing is added; a live rig host is added and its capabilities are
// probed (both read back through status --json).
func TestConsoleAddChecksHost(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("Hosts (0)", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	s.keys("a")
	if _, ok := s.waitScreen("add without checking", 2*time.Second); !ok {
		t.Fatalf("no add form with its checkbox:\n%s", s.screen())
	}
	s.keys("-l", "127.0.0.9")
	s.keys("Tab", "Tab", "Enter")
	if _, ok := s.waitScreen("✗ 127.0.0.9 not added:", 30*time.Second); !ok {
		t.Fatalf("a dead host was not refused:\n%s", s.screen())
	}
	// The reason says why (ssh's refused connection, classified), and how
	// to add it anyway, inside the form (wrapped).
	screen := strings.Join(strings.Fields(strings.ReplaceAll(s.screen(), "│", " ")), " ")
	if !strings.Contains(screen, "-version: connection refused") || !strings.Contains(screen, "tick “add without checking”") {
		t.Errorf("the refusal does not say why and how to add anyway:\n%s", s.screen())
	}
	if st := e.status(); len(st.Hosts) != 0 {
		t.Fatalf("a refused host is in the database: %+v", st.Hosts)
	}

	// The same form, another host: a live one answers and is added.
	s.keys("BTab", "BTab", "C-u")
	s.keys("-l", testrig.HostA)
	s.keys("Tab")
	s.keys("-l", "live")
	s.keys("Tab", "Enter")
	if _, ok := s.waitScreen("added host live ("+testrig.HostA+")", 30*time.Second); !ok {
		t.Fatalf("the live host was not added:\n%s", s.screen())
	}
	st := e.status()
	if len(st.Hosts) != 1 || st.Hosts[0].Hostname != testrig.HostA || st.Hosts[0].Servername != "live" {
		t.Fatalf("database after the add: %+v", st.Hosts)
	}
	// The probe runs after the form closed and records what the host has.
	if _, ok := s.waitScreen("capabilities of live", 90*time.Second); !ok {
		t.Fatalf("no probe result on the status line:\n%s", s.screen())
	}
	if caps := hostCaps(t, e)["live"]; len(caps) == 0 {
		t.Errorf("no capabilities recorded for the live host:\n%s", s.screen())
	}
}
