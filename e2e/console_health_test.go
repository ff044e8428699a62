package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The host detail in a real terminal shows what real checks recorded: a
// host that is down failed its check on a real call and was marked bad
// (the mark listed with its class, who and why, the failed check as ×);
// the host that then ran the job passed its check, whose latency shows.
func TestConsoleDetailHealth(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	e.mustCLI("add", "--no-check", "-n", "dead", "127.0.0.9") // nothing listens there: add would refuse it
	e.mustCLI("add", "-n", "live", "127.0.0.2")
	res := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.2", "-f", "null", "-")
	if res.code != 0 {
		t.Fatalf("job: exit %d %s\n%s", res.code, res.stderr, e.logText())
	}
	if st := e.status(); st.Hosts[0].State != "bad" {
		t.Fatalf("the dead host is %q, want bad\n%s", st.Hosts[0].State, e.logText())
	}
	s := startTUI(t, e, 80, 24)
	if _, ok := s.waitScreen("live", 5*time.Second); !ok {
		t.Fatalf("console did not start:\n%s", s.screen())
	}
	s.keys("Enter") // dead, the first row
	if _, ok := s.waitScreen("Host dead (id 1)", 5*time.Second); !ok {
		t.Fatalf("no detail:\n%s", s.screen())
	}
	s.keys("PageDown")
	if _, ok := s.waitScreen("Bad marks, last day (1)", 5*time.Second); !ok {
		t.Fatalf("no bad marks after scrolling:\n%s", s.screen())
	}
	host, _ := os.Hostname()
	// Who: this machine's name (cut to its column) and the shim's PID.
	mark := regexp.MustCompile(`\d\d:\d\d:\d\d +connect +` + regexp.QuoteMeta(host[:min(len(host), 8)]) + `.* connection refused`)
	scr := s.screen()
	if !mark.MatchString(scr) || !strings.Contains(scr, "Checks, last hour (0 passed, 1 failed)") || !strings.Contains(scr, "×  all failed") {
		t.Errorf("the dead host's detail lacks its failed check or its mark (%s):\n%s", mark, scr)
	}
	s.keys("Escape")
	s.waitScreen("Processes (0)", 5*time.Second)
	s.keys("j", "Enter")
	if _, ok := s.waitScreen("Host live (id 2)", 5*time.Second); !ok {
		t.Fatalf("no detail of live:\n%s", s.screen())
	}
	took := regexp.MustCompile(`checked +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+s ago\) · took \d+(ms|\.\ds)`)
	if !waitFor(5*time.Second, func() bool { return took.MatchString(s.screen()) }) {
		t.Errorf("the live host's detail lacks its check's latency (%s):\n%s", took, s.screen())
	}
	s.keys("PageDown")
	if _, ok := s.waitScreen("Bad marks, last day (0)", 5*time.Second); !ok {
		t.Errorf("no bad marks' section after scrolling:\n%s", s.screen())
	}
	if scr := s.screen(); !strings.Contains(scr, "Checks, last hour (1 passed)") || !regexp.MustCompile(`[▁-█]  min \d+(ms|\.\ds) · median \d+(ms|\.\ds) · max \d+(ms|\.\ds)`).MatchString(scr) {
		t.Errorf("the live host's checks or marks:\n%s", scr)
	}
}
