package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The console's kill key on a real job: a remote ffmpeg runs through the
// shim on a real sshd host; in the console (a real terminal) the job is
// selected and K asks a question naming its command. Enter does not
// confirm (the job runs on); y does: the remote ffmpeg is gone and the
// history says the job was killed, and by whom (the admin behind sudo).
func TestConsoleKillKey(t *testing.T) {
	_, e := twoHosts(t, nil)
	marker := "testsrc=rate=10:duration=61.7"
	c, _ := remoteJob(t, e, marker)
	shim := c.Process.Pid
	// Wide enough that the question (which ends with the command) is one line.
	s := startTUI(t, e, 200, 30, "SUDO_USER=carol")
	if _, ok := s.waitScreen(marker, 10*time.Second); !ok {
		t.Fatalf("the job is not in the console:\n%s", s.screen())
	}
	s.keys("Tab") // the processes pane; its only row, the job, is selected
	s.keys("K")
	question := "kill PID " + strconv.Itoa(shim) + " on 127.0.0."
	if _, ok := s.waitScreen(question, 5*time.Second); !ok {
		t.Fatalf("K asked no question naming PID %d:\n%s", shim, s.screen())
	}
	for _, l := range strings.Split(s.screen(), "\n") {
		if strings.Contains(l, question) && !strings.Contains(l, "-f lavfi -i "+marker) {
			t.Errorf("the question does not name the command: %q", l)
		}
	}

	s.keys("Enter")
	if _, ok := s.waitScreen("cancelled", 5*time.Second); !ok {
		t.Errorf("enter did not cancel:\n%s", s.screen())
	}
	// Coarse: a kill would end the job within a second or two.
	time.Sleep(2 * time.Second)
	if st, _, _ := procStat(shim); len(remotePIDs(marker)) != 1 || st == "Z" || st == "" {
		t.Fatalf("the job ended after enter on the question (remote %v)\n%s", remotePIDs(marker), e.logText())
	}

	s.keys("K")
	if _, ok := s.waitScreen(question, 5*time.Second); !ok {
		t.Fatalf("K asked no question the second time:\n%s", s.screen())
	}
	t0 := time.Now()
	s.keys("y")
	if _, _, ok := waitExit(c, 20*time.Second); !ok {
		t.Fatalf("the shim still runs after K, y:\n%s\n%s", s.screen(), e.logText())
	}
	if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("remote ffmpeg %v still runs %s after K, y", remotePIDs(marker), time.Since(t0).Round(time.Millisecond))
	}
	h := e.history("-n", "1")
	if len(h.Jobs) != 1 || h.Jobs[0].Outcome != "killed" || h.Jobs[0].KilledBy != "carol" || !strings.Contains(h.Jobs[0].Command, marker) {
		t.Errorf("history %+v, want the job killed by carol", h.Jobs)
	}
	if _, ok := s.waitScreen("Processes (0)", 10*time.Second); !ok {
		t.Errorf("the console still lists the job:\n%s", s.screen())
	}
}
