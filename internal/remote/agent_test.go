package remote_test

import (
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/agent"
	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// hostile are the bytes an argument or a directory may hold.
var hostile = []string{"", " ", "a b", "'", `"`, `\`, "$(touch /tmp/x)", "`id`", "${IFS}", ";|&<>*?~#", "line\nbreak\r",
	"\t", "\x01\x1b[2J", "\xff\xfe\x80", "é ü 日本", "-", "--", "=", "{\"b64\":\"AA==\"}", "rffmpeg-agent/1 version", strings.Repeat("x", 4096)}

// The agent's own parser reads back exactly what the client built.
func TestAgentCommandRoundTrip(t *testing.T) {
	reqs := []remote.AgentRequest{
		{Token: agentTestToken, Program: "ffmpeg", Args: hostile, Dir: "/media/a b/$(x)/\xff\n", Env: map[string]string{"TZ": "Europe/Paris", "FFREPORT": "file='a b'\xff"}, Nice: 19},
		{Token: agentTestToken, Program: "ffprobe", Args: []string{"-v", "warning", "-print_format", "json", "-show_streams", "/m/ü.mkv"}},
		{Token: agentTestToken, Program: "ffmpeg", Args: []string{"-dump_attachment:t", "", "-y", "-i", "/m/f.mkv", "-t", "0", "-f", "null", "null"}, Dir: "/tmp/att"},
		{Token: agentTestToken, Program: "ffmpeg"},
	}
	for _, h := range hostile {
		reqs = append(reqs, remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{h}, Dir: "/" + h})
	}
	for _, req := range reqs {
		cmd := remote.AgentCommand(req)
		got, err := agent.Parse(cmd)
		if err != nil {
			t.Errorf("%q: %v", req.Args, err)
			continue
		}
		want := agent.Job{Program: req.Program, Args: req.Args, Dir: req.Dir, Env: req.Env, Nice: req.Nice, Token: req.Token}
		if want.Args == nil {
			want.Args = []string{}
		}
		if got.Verb != agent.VerbRun || !reflect.DeepEqual(got.Job, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got.Job, want)
		}
	}
}

// Whatever the request holds, the command is three words of a few inert
// characters: a plain shell that gets it (a host without the agent) runs
// nothing it says.
func TestAgentCommandIsInert(t *testing.T) {
	cmd := remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: hostile, Dir: "/$(id)"})
	w := strings.Split(cmd, " ")
	if len(w) != 3 || w[0] != remote.AgentProtocol || w[1] != "run" {
		t.Fatalf("got words %q", w[:min(len(w), 3)])
	}
	for i, c := range []byte(cmd) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" -_/", c) >= 0) {
			t.Fatalf("byte %d of the command is %q", i, c)
		}
	}
	if remote.Quote(w[2]) != w[2] {
		t.Errorf("the payload needs shell quoting")
	}
}

func TestAgentSignal(t *testing.T) {
	tests := []struct {
		pid      int
		sig      string
		escalate bool
		want     agent.Request
	}{
		{4242, "TERM", false, agent.Request{Verb: agent.VerbSignal, PID: 4242, Signal: syscall.SIGTERM}},
		{17, "CONT", false, agent.Request{Verb: agent.VerbSignal, PID: 17, Signal: syscall.SIGCONT}},
		{4242, "TERM", true, agent.Request{Verb: agent.VerbStop, PID: 4242}},
	}
	for _, tt := range tests {
		cmd := remote.AgentSignal(tt.pid, tt.sig, tt.escalate)
		got, err := agent.Parse(cmd)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", cmd, got, err, tt.want)
		}
	}
	if got, err := agent.Parse(remote.AgentVersion()); err != nil || got.Verb != agent.VerbVersion {
		t.Errorf("version: got %+v, %v", got, err)
	}
}

// Fuzz the round trip: any argument and directory without a NUL (which no
// argv can hold) comes back byte for byte.
func FuzzAgentCommand(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, "/"+h)
	}
	f.Fuzz(func(t *testing.T, arg, dir string) {
		if strings.IndexByte(arg, 0) >= 0 || strings.IndexByte(dir, 0) >= 0 || !strings.HasPrefix(dir, "/") {
			return
		}
		got, err := agent.Parse(remote.AgentCommand(remote.AgentRequest{Token: agentTestToken, Program: "ffmpeg", Args: []string{arg, arg}, Dir: dir}))
		if err != nil {
			t.Fatal(err)
		}
		if got.Job.Args[0] != arg || got.Job.Args[1] != arg || got.Job.Dir != dir {
			t.Errorf("got %q %q, want %q %q", got.Job.Args, got.Job.Dir, arg, dir)
		}
	})
}

// agentTestToken frames the agent's messages in these tests.
const agentTestToken = "00aa11bb22cc33dd"
