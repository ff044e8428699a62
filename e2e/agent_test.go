package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

// agentHost is a transcode host hardened with `rffmpeg agent`: its own sshd
// on 127.0.0.5 (the rig's host key, the rig's test user) whose only
// authorized key is forced to run the agent, as docs/agent.md tells users.
type agentHost struct {
	ssh remote.SSH
	dir string // writable by the test user: the jobs' working directory
}

func startAgentHost(t *testing.T, r *rig) *agentHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "rffmpeg-agent-host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// sshd reads authorized_keys as the user; the user writes job outputs.
	os.Chmod(dir, 0o777)
	keys, err := testrig.MakeKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := keys.Client
	pub, _ := os.ReadFile(key + ".pub")
	line := fmt.Sprintf("restrict,command=\"%s agent --ffmpeg /usr/bin/ffmpeg --ffprobe /usr/bin/ffprobe\" %s",
		filepath.Join(binDir, "rffmpeg"), pub)
	os.WriteFile(keys.AuthorizedKeys, []byte(line), 0o644)
	port, err := testrig.FreePort("127.0.0.5")
	if err != nil {
		t.Skipf("no 127.0.0.5 here: %v", err)
	}
	// The rig's one sshd configuration; the forced command is in the key's line.
	sshd := testrig.SSHD{Name: "agent", Dir: dir, Port: port, Listen: []string{"127.0.0.5"},
		HostKey: filepath.Join(r.dir, "host"), AuthorizedKeys: keys.AuthorizedKeys}
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sshd.Stop)
	if err := testrig.WaitPort("127.0.0.5", port, 5*time.Second); err != nil {
		t.Fatalf("the agent host's sshd did not start: %v", err)
	}
	return &agentHost{dir: dir, ssh: remote.SSH{Path: "/usr/bin/ssh", User: testUser, Host: "127.0.0.5", ConnectTimeout: 5,
		HostKeys: remote.HostKeysIgnore, Extra: []string{"-i", key, "-p", strconv.Itoa(port)}}}
}

// call runs remoteCommand on the host with the client's own ssh options.
func (h *agentHost) call(t *testing.T, remoteCommand string, stdin []byte) result {
	t.Helper()
	argv := h.ssh.Argv(remoteCommand, remote.Quiet(true))
	c := exec.Command(argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &out, &errb, bytes.NewReader(stdin)
	start := time.Now()
	err := c.Run()
	res := result{out.Bytes(), errb.Bytes(), 0, time.Since(start)}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		res.code = exitStatus(ee.ProcessState)
	}
	return res
}

// job runs req through the agent with the shim's runner, stdin from a file.
func (h *agentHost) job(t *testing.T, req remote.AgentRequest, stdin string) (res remote.Result, stdout, stderr []byte) {
	t.Helper()
	in, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	outF, errF := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "err")
	o, _ := os.Create(outF)
	e, _ := os.Create(errF)
	res, err = remote.Run(remote.Spec{Argv: h.ssh.Argv(remote.AgentCommand(req), remote.Quiet(true)), Remote: true, Token: req.Token,
		Stdin: in, Stdout: o, Stderr: e, StartTimeout: 20 * time.Second})
	o.Close()
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ = os.ReadFile(outF)
	stderr, _ = os.ReadFile(errF)
	return res, stdout, stderr
}

// Real ffmpeg and ffprobe through the agent: binary stdin and stdout intact,
// exit codes, version and capabilities, arguments inert and exact.
func TestAgentRunsJobs(t *testing.T) {
	r := needRig(t)
	h := startAgentHost(t, r)

	v := h.call(t, remote.AgentVersion(), nil)
	var ver struct {
		Protocol string            `json:"protocol"`
		Programs map[string]string `json:"programs"`
	}
	if err := json.Unmarshal(v.stdout, &ver); v.code != 0 || err != nil || ver.Protocol != remote.AgentProtocol || ver.Programs["ffmpeg"] != "/usr/bin/ffmpeg" {
		t.Fatalf("version: exit %d, %v: %s%s", v.code, err, v.stdout, v.stderr)
	}

	media := mediaAs(t, h.dir, 1, "nut")
	tests := []struct {
		name  string
		req   remote.AgentRequest
		stdin string
	}{
		{"binary stdin to binary stdout", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-hide_banner", "-loglevel", "error",
			"-f", "nut", "-i", "pipe:0", "-map", "0:v", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"}}, media},
		{"ffprobe JSON", remote.AgentRequest{Token: agentTestToken, Program: "ffprobe", Args: []string{"-v", "warning", "-print_format", "json",
			"-show_streams", "-show_format", media}}, os.DevNull},
		{"failing job", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-hide_banner", "-i", h.dir + "/missing.mkv"}}, os.DevNull},
		{"unknown option", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-no-such-option"}}, os.DevNull},
	}
	for _, tt := range tests {
		res, stdout, _ := h.job(t, tt.req, tt.stdin)
		local := exec.Command("/usr/bin/"+tt.req.Program, tt.req.Args...)
		in, _ := os.Open(tt.stdin)
		local.Stdin = in
		want, _ := local.Output()
		in.Close()
		wantCode := exitStatus(local.ProcessState)
		if !res.Started || res.Code != wantCode || !bytes.Equal(stdout, want) {
			t.Errorf("%s: started %v exit %d, %d bytes out; want exit %d, %d bytes (equal: %v) — %s",
				tt.name, res.Started, res.Code, len(stdout), wantCode, len(want), bytes.Equal(stdout, want), res.Diag)
		}
	}

	// Shell metacharacters are file name bytes, in the requested directory.
	name := "a b'\"$(touch pwned1)`touch pwned2`;touch pwned3|&\n\xff.nut"
	res, _, stderr := h.job(t, remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Dir: h.dir, Args: []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=duration=0.2", "-f", "nut", "-y", name}}, os.DevNull)
	if res.Code != 0 {
		t.Fatalf("hostile output name: exit %d: %s", res.Code, stderr)
	}
	if fi, err := os.Stat(filepath.Join(h.dir, name)); err != nil || fi.Size() == 0 {
		t.Errorf("output %q not written in the requested directory: %v", name, err)
	}
	for _, p := range []string{"pwned1", "pwned2", "pwned3"} {
		for _, d := range []string{h.dir, "/home/" + testUser, "/"} {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				t.Errorf("%s/%s exists: an argument reached a shell", d, p)
			}
		}
	}
}

// The key runs the agent and nothing else.
func TestAgentRefuses(t *testing.T) {
	r := needRig(t)
	h := startAgentHost(t, r)
	pwned := filepath.Join(h.dir, "pwned")
	tests := []struct {
		name, command string
		wantCode      int
		wantErr       string
	}{
		{"a program outside the allowlist", remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "sh", Args: []string{"-c", "touch " + pwned}}),
			126, `program "sh" is not allowed`},
		{"a shell command", "sh -c 'touch " + pwned + "'", 126, "not an rffmpeg-agent/1 request"},
		{"the plain wrapper", remote.Script(h.dir, agentTestToken, []string{"/usr/bin/ffmpeg", "-version"}), 126, "not an rffmpeg-agent/1 request"},
		{"a plain ffmpeg", "/usr/bin/ffmpeg -version", 126, "not an rffmpeg-agent/1 request"},
		{"a login shell", "", 126, "no command"},
		{"LD_PRELOAD", remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Env: map[string]string{"LD_PRELOAD": pwned}}),
			126, "LD_PRELOAD is not allowed"},
		{"a signal to a process the agent did not start", remote.AgentSignal(os.Getpid(), "KILL", false), 1, "signal PID"},
	}
	for _, tt := range tests {
		res := h.call(t, tt.command, nil)
		if res.code != tt.wantCode || !strings.Contains(string(res.stderr), tt.wantErr) || len(res.stdout) != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", tt.name, res.code, res.stdout, res.stderr, tt.wantCode, tt.wantErr)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("a refused command ran")
	}
	// restrict: no port forwarding (here, to the host's own sshd).
	argv := h.ssh.Argv("", remote.Quiet(false))
	argv = append(argv[:len(argv)-2], "-W", "127.0.0.5:22", argv[len(argv)-2])
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err == nil {
		t.Errorf("a forwarding request was allowed: %s", out)
	}
}

// The session drops under a running job (the ssh client is SIGKILLed, the
// connection closes): the remote ffmpeg is gone within 2 s, nothing left.
// The job writes nothing: a chatty ffmpeg would die of SIGPIPE on its own
// next progress line, and this must prove the agent stops a silent one.
func TestAgentSessionDrop(t *testing.T) {
	r := needRig(t)
	h := startAgentHost(t, r)
	marker := "testsrc=rate=5:duration=67.3"
	argv := h.ssh.Argv(remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg",
		Args: []string{"-nostats", "-loglevel", "quiet", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-"}}), remote.Quiet(true))
	c := exec.Command(argv[0], argv[1:]...)
	c.StdinPipe() // open and silent: ffmpeg does not stop on stdin's end anyway
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	if !waitFor(10*time.Second, func() bool { return len(remotePIDs(marker)) == 1 }) {
		t.Fatalf("the remote job never started")
	}
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	start := time.Now()
	if !waitFor(2*time.Second, func() bool { return len(remotePIDs(marker)) == 0 }) {
		t.Fatalf("the remote ffmpeg %v still runs %s after the session dropped", remotePIDs(marker), time.Since(start))
	}
	agents := func() bool {
		out, _ := exec.Command("pgrep", "-u", testUser, "-f", filepath.Join(binDir, "rffmpeg")+" agent").Output()
		return len(bytes.TrimSpace(out)) == 0
	}
	if !waitFor(2*time.Second, agents) {
		t.Errorf("an agent is left running after its job ended")
	}
}

// The shim's signal forwarding through the agent: the runner forwards a
// signal with a signal request on a second connection; the job ends by it.
func TestAgentSignalForwarding(t *testing.T) {
	r := needRig(t)
	h := startAgentHost(t, r)
	sigs := make(chan os.Signal, 1)
	in, _ := os.Open(os.DevNull)
	defer in.Close()
	errF, _ := os.Create(filepath.Join(t.TempDir(), "err"))
	defer errF.Close()
	type forward struct {
		ok     bool
		stderr []byte
	}
	// The runner forwards in a goroutine and returns when the session ends,
	// which the forwarded signal causes before the signal request's own ssh
	// has exited: its result is awaited here.
	forwards := make(chan forward, 1)
	res, err := remote.Run(remote.Spec{
		Argv: h.ssh.Argv(remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg",
			Args: []string{"-re", "-f", "lavfi", "-i", "testsrc=rate=5:duration=61.9", "-f", "null", "-"}}), remote.Quiet(true)),
		Remote: true, Token: agentTestToken, Stdin: in, Stdout: errF, Stderr: errF, StartTimeout: 20 * time.Second, Signals: sigs,
		Forward: func(sig syscall.Signal, pid int) bool {
			res := h.call(t, remote.AgentSignal(pid, "TERM", false), nil)
			forwards <- forward{res.code == 0, res.stderr}
			return res.code == 0
		},
		OnPID: func(int) { sigs <- syscall.SIGTERM },
	})
	if err != nil {
		t.Fatal(err)
	}
	var f forward
	select {
	case f = <-forwards:
	case <-time.After(30 * time.Second):
		t.Fatal("the signal request never ended")
	}
	// ffmpeg exits 255 on SIGTERM, after finishing its output.
	if !res.Started || res.Code != 255 || !f.ok {
		t.Errorf("got started %v exit %d (signal request: ok %v, %q), want exit 255 after a forwarded SIGTERM", res.Started, res.Code, f.ok, f.stderr)
	}
}

// agentTestToken frames the agent's messages in these tests.
const agentTestToken = "00aa11bb22cc33dd"
