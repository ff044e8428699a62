package remote

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AgentProtocol is the first word of every request to `rffmpeg agent`, the
// SSH forced command on a hardened transcode host. The version is in the
// word: an agent that does not speak it refuses the request whole.
const AgentProtocol = "rffmpeg-agent/1"

// AgentRequest is one job for an agent host. Unlike Script, nothing here is
// ever parsed by a shell: the agent decodes it as data.
type AgentRequest struct {
	// Program is a name the agent maps to a path it was configured with
	// ("ffmpeg", "ffprobe"), never a path: the host decides what runs.
	Program string
	Args    []string          // byte for byte, any bytes but NUL
	Dir     string            // working directory; "" or a missing one: the agent's home
	Env     map[string]string // only names on the agent's allowlist are accepted
	Nice    int               // 0 (unchanged) to 19
	Token   string            // frames the agent's messages on stderr (NewToken)
}

// agentString is a string on the wire: a JSON string when it is UTF-8, else
// {"b64": standard base64} — JSON cannot carry other bytes, and a file name
// on Linux can hold any.
type agentString string

func (s agentString) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(s)) {
		return json.Marshal(string(s))
	}
	return json.Marshal(map[string]string{"b64": base64.StdEncoding.EncodeToString([]byte(s))})
}

// agentJob is the JSON body of a run request.
type agentJob struct {
	Program string                 `json:"program"`
	Args    []agentString          `json:"args"`
	Cwd     agentString            `json:"cwd,omitempty"`
	Env     map[string]agentString `json:"env,omitempty"`
	Nice    int                    `json:"nice,omitempty"`
	Token   string                 `json:"token"`
}

// AgentCommand is the remote command running req through an agent: the
// protocol word, "run" and the JSON body in unpadded base64url. The payload
// holds no space, quote or shell character, so even a host without the
// agent (a plain login shell) reads it as one inert word and answers 127.
// sshd hands it to the agent in SSH_ORIGINAL_COMMAND, an environment
// variable: Linux bounds it at 128 KiB, about 90 KiB of arguments.
func AgentCommand(req AgentRequest) string {
	j := agentJob{Program: req.Program, Args: make([]agentString, len(req.Args)), Cwd: agentString(req.Dir), Nice: req.Nice, Token: req.Token}
	for i, a := range req.Args {
		j.Args[i] = agentString(a)
	}
	if len(req.Env) > 0 {
		j.Env = make(map[string]agentString, len(req.Env))
		for k, v := range req.Env {
			j.Env[k] = agentString(v)
		}
	}
	body, _ := json.Marshal(j) // strings, ints and maps of strings cannot fail
	return AgentProtocol + " run " + base64.RawURLEncoding.EncodeToString(body)
}

// AgentSignal is the remote command sending sig ("TERM", "INT", …) to a job
// the agent started (its process group). With escalate (the shim is gone and
// nobody waits for the job), it asks the agent to stop the job instead:
// SIGTERM, then SIGKILL if it is still there two seconds later — what
// SignalScript does for a plain host.
func AgentSignal(pid int, sig string, escalate bool) string {
	if escalate {
		return AgentProtocol + " stop " + strconv.Itoa(pid)
	}
	return AgentProtocol + " signal " + strconv.Itoa(pid) + " " + sig
}

// AgentVersion is the remote command asking an agent for its version and
// capabilities (one JSON object on stdout). A host without the agent answers
// with a shell's 127 instead: that is how a caller tells them apart.
func AgentVersion() string { return AgentProtocol + " version" }

// AgentRefused says whether a remote command ended as `rffmpeg agent`
// refuses one it does not run (a plain command to a host whose key is
// forced to the agent).
func AgentRefused(code int, stderr string) bool {
	return code == 126 && strings.Contains(stderr, "rffmpeg agent: refused")
}
