package agent

import (
	"bytes"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// The test binary doubles as the agent: with RFFMPEG_AGENT_TEST set and
// "agent" as its first argument (as the forced command runs it, which is
// what ownJob checks), it runs Main.
func TestMain(m *testing.M) {
	if os.Getenv("RFFMPEG_AGENT_TEST") == "1" && len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
	}
	os.Exit(m.Run())
}

// agentArgv is the agent's command line for request; flags are the forced
// command's. /usr/bin/env sets the variables sshd would.
func agentArgv(request string, flags ...string) []string {
	return append([]string{"/usr/bin/env", "RFFMPEG_AGENT_TEST=1", "SSH_ORIGINAL_COMMAND=" + request,
		"HOME=/", os.Args[0], "agent"}, flags...)
}

// runAgent runs one request to its end and returns stdout, stderr (frames
// and all) and the exit code.
func runAgent(t *testing.T, request string, flags ...string) (stdout, stderr string, code int) {
	t.Helper()
	argv := agentArgv(request, flags...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = "/" // sshd starts the forced command in the home directory
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.Run()
	return out.String(), errb.String(), remote.ExitCode(c.ProcessState)
}

// agentTestToken frames the agent's messages in these tests.
const agentTestToken = "00aa11bb22cc33dd"

func frameless(s string) string {
	_, diag, job := remote.SplitFrames(agentTestToken, []byte(s))
	return diag + string(job)
}

// The shim's own runner, unchanged, against the agent: frames stripped,
// binary stdout and stderr exact, the job's exit code, its PID reported.
func TestRunnerAgainstAgent(t *testing.T) {
	tests := []struct {
		name       string
		req        remote.AgentRequest
		flags      []string
		wantCode   int
		wantStart  bool
		wantOut    string
		wantErr    string // stderr once started, or the diagnostic before
		wantSignal bool
	}{
		{"job", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-c", `printf 'a\0b\r\n\377'; printf 'to stderr\r\n' >&2; exit 7`}},
			[]string{"--ffmpeg", "/bin/sh"}, 7, true, "a\x00b\r\n\xff", "to stderr\r\n", false},
		{"not allowed", remote.AgentRequest{Token: agentTestToken, Program: "sh", Args: []string{"-c", "echo pwned"}},
			[]string{"--ffmpeg", "/bin/sh"}, 126, false, "", `rffmpeg agent: refused: program "sh" is not allowed on this host (allowed: ffmpeg, ffprobe)`, false},
		{"missing", remote.AgentRequest{Token: agentTestToken, Program: "ffprobe"},
			[]string{"--ffprobe", "/nonexistent/ffprobe"}, 127, false, "", "rffmpeg agent: /nonexistent/ffprobe: not found", false},
		{"not executable", remote.AgentRequest{Token: agentTestToken, Program: "ffprobe"},
			[]string{"--ffprobe", "/etc/passwd"}, 126, false, "", "rffmpeg agent: /etc/passwd: not executable", false},
		{"LD_PRELOAD", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Env: map[string]string{"LD_PRELOAD": "/tmp/evil.so"}},
			[]string{"--ffmpeg", "/bin/true"}, 126, false, "", "rffmpeg agent: refused: environment variable LD_PRELOAD is not allowed on this host", false},
	}
	for _, tt := range tests {
		out, errf := tempFile(t), tempFile(t)
		var pid int
		res, err := remote.Run(remote.Spec{Argv: agentArgv(remote.AgentCommand(tt.req), tt.flags...), Remote: true, Token: tt.req.Token,
			Stdin: devNull(t), Stdout: out, Stderr: errf, StartTimeout: 10 * time.Second,
			OnPID: func(p int) { pid = p }})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		gotErr := readAll(t, errf)
		if !tt.wantStart {
			gotErr = res.Diag
		}
		if res.Code != tt.wantCode || res.Started != tt.wantStart || readAll(t, out) != tt.wantOut || gotErr != tt.wantErr {
			t.Errorf("%s: got code %d started %v stdout %q stderr %q; want %d %v %q %q", tt.name,
				res.Code, res.Started, readAll(t, out), gotErr, tt.wantCode, tt.wantStart, tt.wantOut, tt.wantErr)
		}
		if (pid > 0) != tt.wantStart {
			t.Errorf("%s: PID frame %d, started %v", tt.name, pid, tt.wantStart)
		}
	}
}

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t *testing.T, f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func devNull(t *testing.T) *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Arguments, directory, environment and nice reach the job exactly.
func TestJobGetsRequest(t *testing.T) {
	hostile := []string{"", " ", "a b", `'"\`, "$(touch /tmp/rffmpeg-agent-pwned)", "`id`", "x;y|z&", "line\nbreak", "\xff\xfe", "ünï", "-", "--"}
	dir := t.TempDir()
	tests := []struct {
		name  string
		req   remote.AgentRequest
		flags []string
		want  string
	}{
		{"argv", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: append([]string{`%s\0`}, hostile...)},
			[]string{"--ffmpeg", "/usr/bin/printf"}, strings.Join(hostile, "\x00") + "\x00"},
		{"cwd", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Dir: dir}, []string{"--ffmpeg", "/bin/pwd"}, dir + "\n"},
		// As the wrapper script does: a directory that cannot be entered
		// leaves the job where sshd started the agent (here /).
		{"missing cwd", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Dir: dir + "/gone"}, []string{"--ffmpeg", "/bin/pwd"}, "/\n"},
		{"nice", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Nice: 7}, []string{"--ffmpeg", "/usr/bin/nice"}, "7\n"},
		{"env", remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Env: map[string]string{"TZ": "UTC", "LC_ALL": "C", "FFREPORT": "file=a b:level=32"}},
			[]string{"--ffmpeg", "/usr/bin/env"}, "FFREPORT=file=a b:level=32\nHOME=/\nLC_ALL=C\nPATH=" + os.Getenv("PATH") + "\nTZ=UTC\n"},
	}
	for _, tt := range tests {
		stdout, stderr, code := runAgent(t, remote.AgentCommand(tt.req), tt.flags...)
		if tt.name == "env" {
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var keep []string
			for _, l := range lines {
				if !strings.HasPrefix(l, "USER=") && !strings.HasPrefix(l, "LOGNAME=") && !strings.HasPrefix(l, "SHELL=") &&
					!strings.HasPrefix(l, "TMPDIR=") && !strings.HasPrefix(l, "LANG=") {
					keep = append(keep, l)
				}
			}
			sort.Strings(keep)
			stdout = strings.Join(keep, "\n") + "\n"
		}
		if code != 0 || stdout != tt.want {
			t.Errorf("%s: exit %d, stdout %q, want %q (stderr %q)", tt.name, code, stdout, tt.want, stderr)
		}
	}
	if _, err := os.Stat("/tmp/rffmpeg-agent-pwned"); err == nil {
		t.Errorf("an argument was run by a shell")
	}
}
