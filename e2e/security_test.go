package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holder is another program holding the database: started, it holds until
// the test ends.
type holder struct {
	name  string
	start func(t *testing.T, db string) *exec.Cmd
}

// holders are the two ways another program stalls rffmpeg's database: a
// write transaction held open (the sqlite3 tool, BEGIN IMMEDIATE) and a
// flock on the write lock file.
var holders = []holder{
	{"write transaction", func(t *testing.T, db string) *exec.Cmd {
		c := exec.Command("sqlite3", db)
		in, _ := c.StdinPipe()
		out, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Skipf("no sqlite3 tool: %v", err)
		}
		io.WriteString(in, "BEGIN IMMEDIATE;\nSELECT 'held';\n")
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) != "held" {
			t.Fatalf("sqlite3 did not take the write lock: %q", line)
		}
		t.Cleanup(func() { in.Close() })
		return c
	}},
	{"flock on the lock file", func(t *testing.T, db string) *exec.Cmd {
		c := exec.Command("flock", db+".lock", "sh", "-c", "echo held; exec sleep 60")
		out, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Skipf("no flock tool: %v", err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) != "held" {
			t.Fatalf("flock did not start: %q", line)
		}
		return c
	}},
}

// A stuck database must not stall calls (issue 10 §6): with the database
// held by another program, `ffmpeg -version` (Jellyfin's startup probes,
// which have no timeout) answers within 2 s, and a job runs on the fallback
// within database.wait, saying why in the log.
func TestStuckDatabase(t *testing.T) {
	for _, h := range holders {
		t.Run(h.name, func(t *testing.T) {
			e := newEnv(t, nil, map[string]string{"database": "wait: 2"})
			// A host, so the call has something to select under the lock.
			e.mustCLI("add", "127.0.0.9")
			db := filepath.Join(e.dir, "state", "rffmpeg.db")
			hold := h.start(t, db)
			t.Cleanup(func() { hold.Process.Kill(); hold.Wait() })

			v := e.run("ffmpeg", nil, "-version")
			if v.code != 0 || !strings.HasPrefix(string(v.stdout), "ffmpeg version") {
				t.Errorf("-version: exit %d, stdout %.60q, stderr %q", v.code, v.stdout, v.stderr)
			}
			if v.took > 2*time.Second {
				t.Errorf("-version took %v with the database held, want < 2s", v.took)
			}

			job := e.run("ffmpeg", nil, "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=0.2:size=64x64", "-f", "null", "-")
			if job.code != 0 {
				t.Errorf("job: exit %d: %s", job.code, job.stderr)
			}
			// database.wait, the job itself (a fraction of a second) and
			// the process starts on a loaded machine.
			if job.took > 5*time.Second {
				t.Errorf("job took %v with database.wait 2, want < 5s", job.took)
			}
			log := e.logText()
			for _, want := range []string{
				"The database stayed busy for 1.2s, answering locally",
				"The database stayed busy for 2s, running on the fallback",
				"Running command on host 'localhost' (localhost)",
			} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if strings.Contains(log, "Running command on host '127.0.0.9'") {
				t.Errorf("a call ran remotely past a held database:\n%s", log)
			}
		})
	}
}
