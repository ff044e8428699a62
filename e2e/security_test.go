package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/testrig"
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

// shimEnvFor is an installation whose hosts are reached with ssh options
// (key, port) of a host outside the rig's sshd.
func shimEnvFor(t *testing.T, r *rig, s remote.SSH) *env {
	return newEnv(t, r, map[string]string{"remote": fmt.Sprintf("args: [%q, %q, %q, %q]", s.Extra[0], s.Extra[1], s.Extra[2], s.Extra[3])})
}

// A host whose key is forced to run `rffmpeg agent` is detected by its
// check and runs real jobs through the agent: binary stdout intact, the
// job's exit code, never marked bad, and no job left when the shim is
// SIGKILLed (the guardian's stop request).
func TestShimUsesAgent(t *testing.T) {
	r := needRig(t)
	h := startAgentHost(t, r)
	e := shimEnvFor(t, r, h.ssh)
	e.mustCLI("add", "127.0.0.5")

	out := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=10",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	if out.code != 0 || len(out.stdout) != 64*48*3*5 {
		t.Fatalf("job: exit %d, %d bytes of stdout (want %d): %s\n%s", out.code, len(out.stdout), 64*48*3*5, out.stderr, e.logText())
	}
	log := e.logText()
	for _, want := range []string{"runs rffmpeg agent: sending it agent requests", "Running command on host '127.0.0.5' (127.0.0.5) through rffmpeg agent"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	failed := e.run("ffmpeg", nil, "-hide_banner", "-i", filepath.Join(e.dir, "missing.mkv"))
	if failed.code != 1 {
		t.Errorf("a failing job: exit %d, want ffmpeg's 1", failed.code)
	}
	if st := e.status(); len(st.Hosts) != 1 || st.Hosts[0].Bad != nil {
		t.Errorf("after ffmpeg's own failure the host is %+v", st.Hosts)
	}

	marker := "agentkill" + strconv.Itoa(os.Getpid())
	c := e.cmd("ffmpeg", "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=60:size=64x48:rate=10", "-metadata", "title="+marker, "-f", "null", "-")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(15*time.Second, func() bool { return len(remotePIDs(marker)) > 0 }) {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("the job never started on the agent host:\n%s", e.logText())
	}
	c.Process.Kill()
	c.Wait()
	t0 := time.Now()
	// The guardian's stop: SIGTERM at once; ffmpeg ends in well under a
	// second. 5 s is for a loaded machine.
	if !waitFor(5*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Errorf("the job outlived the SIGKILLed shim: %v", remotePIDs(marker))
	}
	t.Logf("job gone %v after the shim's SIGKILL", time.Since(t0).Round(10*time.Millisecond))
}

// forcedWrapper is the hardening the original rffmpeg documents: a
// forced command that runs SSH_ORIGINAL_COMMAND only when its first word is
// an allowlisted ffmpeg or ffprobe.
const forcedWrapper = `#!/bin/sh
set -f
set -- $SSH_ORIGINAL_COMMAND
case "$1" in
/usr/bin/ffmpeg|/usr/bin/ffprobe) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
echo "restricted: command not allowed" >&2
exit 1
`

// startForcedHost is a transcode host behind forcedWrapper (sshd's
// ForceCommand, as in sshd_config.d), on 127.0.0.6.
func startForcedHost(t *testing.T, r *rig) remote.SSH {
	t.Helper()
	dir, err := os.MkdirTemp("", "rffmpeg-forced-host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	keys, err := testrig.MakeKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "only-ffmpeg")
	os.WriteFile(script, []byte(forcedWrapper), 0o755)
	pub, _ := os.ReadFile(keys.Client + ".pub")
	os.WriteFile(keys.AuthorizedKeys, pub, 0o644)
	port, err := testrig.FreePort("127.0.0.6")
	if err != nil {
		t.Skipf("no 127.0.0.6 here: %v", err)
	}
	sshd := testrig.SSHD{Name: "forced", Dir: dir, Port: port, Listen: []string{"127.0.0.6"},
		HostKey: filepath.Join(r.dir, "host"), AuthorizedKeys: keys.AuthorizedKeys, ForceCommand: script}
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sshd.Stop)
	if err := testrig.WaitPort("127.0.0.6", port, 5*time.Second); err != nil {
		t.Fatalf("the forced host's sshd did not start: %v", err)
	}
	return remote.SSH{Path: "/usr/bin/ssh", User: testUser, Host: "127.0.0.6", Extra: []string{"-i", keys.Client, "-p", strconv.Itoa(port)}}
}

// A host behind a forced-command wrapper refuses rffmpeg's wrapper script;
// the check tells that from a dead host, and jobs run there in plain mode
// (said once, with what it gives up), not locally.
func TestShimPlainModeBehindForcedCommand(t *testing.T) {
	r := needRig(t)
	s := startForcedHost(t, r)
	e := shimEnvFor(t, r, s)
	e.mustCLI("add", "127.0.0.6")
	for i := 0; i < 2; i++ {
		out := e.run("ffmpeg", nil, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=10",
			"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
		if out.code != 0 || len(out.stdout) != 64*48*3*5 {
			t.Fatalf("job %d: exit %d, %d bytes of stdout: %s\n%s", i, out.code, len(out.stdout), out.stderr, e.logText())
		}
	}
	if code := e.run("ffmpeg", nil, "-hide_banner", "-i", "/nonexistent.mkv").code; code != 1 {
		t.Errorf("a failing job: exit %d, want ffmpeg's 1", code)
	}
	log := e.logText()
	if n := strings.Count(log, "refuses rffmpeg's wrapper script"); n != 1 {
		t.Errorf("plain mode announced %d times, want once:\n%s", n, log)
	}
	for _, want := range []string{"no remote PID (so no signal forwarding)", "docs/agent.md", "Running command on host '127.0.0.6' (127.0.0.6) in plain mode"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "Running command on host 'localhost'") {
		t.Errorf("a job fell back to local:\n%s", log)
	}
	if st := e.status(); len(st.Hosts) != 1 || st.Hosts[0].Bad != nil {
		t.Errorf("host after plain-mode jobs: %+v", st.Hosts)
	}
}
