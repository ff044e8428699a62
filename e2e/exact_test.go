package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procStat is a process's state letter and nice value (/proc/PID/stat
// fields 3 and 19), or ok false when it is gone.
func procStat(pid int) (state string, nice int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	n, _ := strconv.Atoi(f[16])
	return f[0], n, true
}

// remoteJob starts a long real-time ffmpeg through the shim (prefix: words
// run before it, such as nice) and returns it with its remote PID.
func remoteJob(t *testing.T, e *env, marker string, prefix ...string) (*exec.Cmd, int) {
	t.Helper()
	argv := append(append(prefix, filepath.Join(binDir, "ffmpeg")), "-nostdin", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-")
	c := exec.Command(argv[0], argv[1:]...)
	c.Env, c.Dir = e.environ(), e.dir
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Signal(syscall.SIGCONT); c.Process.Kill(); c.Wait() })
	var pids []int
	if !waitFor(5*time.Second, func() bool { pids = remotePIDs(marker); return len(pids) == 1 }) {
		t.Fatalf("remote job never started\n%s", e.logText())
	}
	return c, pids[0]
}

// Job control: stopping the shim pauses the remote ffmpeg, SIGCONT resumes
// it; SIGUSR1 reaches it (ffmpeg does not catch it: it ends, 128+10).
func TestJobControlReachesRemote(t *testing.T) {
	_, e := twoHosts(t, nil)
	marker := "testsrc=rate=5:duration=64.3"
	c, pid := remoteJob(t, e, marker)
	stateOf := func(p int) string { s, _, _ := procStat(p); return s }

	c.Process.Signal(syscall.SIGTSTP)
	if !waitFor(3*time.Second, func() bool { return stateOf(pid) == "T" && stateOf(c.Process.Pid) == "T" }) {
		t.Fatalf("after SIGTSTP: remote ffmpeg %q, shim %q (want both stopped)\n%s", stateOf(pid), stateOf(c.Process.Pid), e.logText())
	}
	c.Process.Signal(syscall.SIGCONT)
	if !waitFor(3*time.Second, func() bool { s := stateOf(pid); return s == "R" || s == "S" }) {
		t.Fatalf("after SIGCONT: remote ffmpeg %q (want running)", stateOf(pid))
	}
	c.Process.Signal(syscall.SIGUSR1)
	code, _, ok := waitExit(c, 5*time.Second)
	if !ok || code != 128+int(syscall.SIGUSR1) {
		t.Errorf("after SIGUSR1: ended %v, exit %d (want %d)\n%s", ok, code, 128+int(syscall.SIGUSR1), e.logText())
	}
}

// `nice ffmpeg …` lowers the remote job's priority, not only the shim's.
func TestNiceReachesRemote(t *testing.T) {
	_, e := twoHosts(t, nil)
	_, pid := remoteJob(t, e, "testsrc=rate=5:duration=64.7", "nice", "-n", "7")
	if _, nice, ok := procStat(pid); !ok || nice != 7 {
		t.Errorf("remote ffmpeg nice %d (ok %v), want 7", nice, ok)
	}
}

// The allowlisted part of the caller's environment reaches the remote
// command; loader variables never reach the local ssh (Emby exports
// LD_LIBRARY_PATH for its own ffmpeg).
func TestEnvironmentReachesRemote(t *testing.T) {
	r := needRig(t)
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ssh")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nenv > \"$(mktemp "+dir+"/env.XXXXXX)\"\nexec /usr/bin/ssh \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, r, map[string]string{"commands": "ssh: " + wrapper, "remote": "env: [\"RFF_*\"]"})
	e.mustCLI("add", "127.0.0.2")
	e.extra = []string{"TZ=Europe/Paris", "RFF_X=a b", "FOO=no", "LD_LIBRARY_PATH=/nonexistent", "LD_PRELOAD=/nonexistent.so"}
	res := e.run("rffmpeg", nil, "run", "sh", "-c", `printf '%s|%s|%s|%s' "$TZ" "$RFF_X" "$FOO" "$LD_PRELOAD"`)
	if got, want := string(res.stdout), "Europe/Paris|a b||"; res.code != 0 || got != want {
		t.Errorf("remote saw %q (exit %d), want %q\n%s%s", got, res.code, want, res.stderr, e.logText())
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "env.*"))
	if len(dumps) == 0 {
		t.Fatalf("the ssh wrapper never ran")
	}
	for _, d := range dumps {
		b, _ := os.ReadFile(d)
		if strings.Contains(string(b), "LD_") {
			t.Errorf("local ssh got a loader variable:\n%s", b)
		}
	}
}

// The original's sample config, uncommented line for line as its header
// invites (values pointed at the rig): its commands.pre is a list holding
// one empty string. Remote calls must still run there, not exit 127.
func TestOriginalSampleConfig(t *testing.T) {
	r := needRig(t)
	e := newEnv(t, r, nil)
	sample := fmt.Sprintf(`---
rffmpeg:
    logging:
        log_to_file: true
        logfile: "%[1]s/rffmpeg.log"
        datedlogfiles: false
        datedlogdir: "%[1]s"
        debug: false

    directories:
        state: "%[1]s/state"
        persist: "%[1]s"
        owner: root
        group: root

    remote:
        user: "%[2]s"
        persist: 300
        args:
            - "-i"
            - "%[3]s"
            - "-p"
            - "%[4]d"

    commands:
        ssh: "/usr/bin/ssh"
        pre:
            - ""
        ffmpeg: "/usr/bin/ffmpeg"
        ffprobe: "/usr/bin/ffprobe"
        fallback_ffmpeg: "/usr/bin/ffmpeg"
        fallback_ffprobe: "/usr/bin/ffprobe"
        special_flags:
            - "-version"
`, e.dir, testUser, r.key, r.port)
	if err := os.WriteFile(e.config, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustCLI("add", "127.0.0.2")
	res := e.run("ffmpeg", nil, "-hide_banner", "-f", "lavfi", "-i", "testsrc=duration=1", "-f", "md5", "-")
	if res.code != 0 || !strings.HasPrefix(string(res.stdout), "MD5=") {
		t.Errorf("transcode with the sample's pre: exit %d stdout %q stderr %.300q", res.code, res.stdout, res.stderr)
	}
	if res = e.run("ffprobe", nil, "-version"); res.code != 0 || !strings.HasPrefix(string(res.stdout), "ffprobe version") {
		t.Errorf("ffprobe -version: exit %d stdout %.40q", res.code, res.stdout)
	}
	if log := e.logText(); strings.Count(log, "Running command on host '127.0.0.2'") != 2 || strings.Contains(log, "Marking host") {
		t.Errorf("calls did not both run on the remote host:\n%s", log)
	}
}
