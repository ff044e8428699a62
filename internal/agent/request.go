package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Protocol is the first word of every request; the version is part of it.
const Protocol = "rffmpeg-agent/1"

// maxRequest bounds a request. sshd passes it in an environment variable,
// which Linux caps at 128 KiB anyway; anything larger is not ours.
const maxRequest = 256 << 10

// maxNice is the lowest priority a job may ask for. A request can only
// lower its priority: raising it is the host's decision.
const maxNice = 19

// Request verbs.
const (
	VerbRun     = "run"     // run a job: Job
	VerbVersion = "version" // print version and capabilities
	VerbSignal  = "signal"  // send Signal to the job PID
	VerbStop    = "stop"    // SIGTERM the job PID, SIGKILL two seconds later
)

// Request is one decoded SSH_ORIGINAL_COMMAND.
type Request struct {
	Verb   string
	Job    Job            // VerbRun
	PID    int            // VerbSignal, VerbStop
	Signal syscall.Signal // VerbSignal
}

// Job is what a run request asks for. Parse checks its syntax only; what
// the host allows (programs, environment) is Config.admit's to decide.
type Job struct {
	Program string            // a name ("ffmpeg"), mapped to a path by the host's configuration
	Args    []string          // exact bytes
	Dir     string            // absolute, or "" for the agent's own directory (home)
	Env     map[string]string // names checked against the allowlist later
	Nice    int               // 0..maxNice
	Token   string            // frames the protocol messages on stderr (remote.NewToken)
}

// signals are the ones a client may send by name: those the shim forwards,
// job control, and KILL.
var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT, "TSTP": syscall.SIGTSTP,
}

// errNotAgent marks a command that is not an agent request at all (a shell
// command line, an interactive login): the caller is not an rffmpeg client.
var errNotAgent = errors.New("not an " + Protocol + " request: this key runs only rffmpeg agent requests")

// Parse decodes a request. It never interprets the text as a shell would:
// words are split on single spaces, and the job is JSON inside base64url.
func Parse(cmd string) (Request, error) {
	if len(cmd) > maxRequest {
		return Request{}, fmt.Errorf("request of %d bytes is over the %d byte limit", len(cmd), maxRequest)
	}
	w := strings.Split(cmd, " ")
	if w[0] != Protocol {
		if strings.HasPrefix(w[0], "rffmpeg-agent/") {
			return Request{}, fmt.Errorf("protocol %q not supported (this agent speaks %s)", w[0], Protocol)
		}
		return Request{}, errNotAgent
	}
	if len(w) < 2 {
		return Request{}, errors.New("request without a verb")
	}
	r := Request{Verb: w[1]}
	var err error
	switch {
	case r.Verb == VerbVersion && len(w) == 2:
	case r.Verb == VerbRun && len(w) == 3:
		r.Job, err = parseJob(w[2])
	case r.Verb == VerbSignal && len(w) == 4:
		if r.PID, err = parsePID(w[2]); err == nil {
			var ok bool
			if r.Signal, ok = signals[w[3]]; !ok {
				err = fmt.Errorf("unknown signal %q", w[3])
			}
		}
	case r.Verb == VerbStop && len(w) == 3:
		r.PID, err = parsePID(w[2])
	default:
		err = fmt.Errorf("unknown request %q with %d words", r.Verb, len(w)-1)
	}
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

func parsePID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 1 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("bad PID %q", s)
	}
	return n, nil
}

// wireString is a string on the wire: a JSON string, or {"b64": "…"} for
// bytes that are not UTF-8 (JSON cannot carry them; file names can).
type wireString string

func (s *wireString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		err := json.Unmarshal(b, &v)
		*s = wireString(v)
		return err
	}
	var o struct {
		B64 *string `json:"b64"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.B64 == nil {
		return errors.New(`a string must be a JSON string or {"b64": "…"}`)
	}
	v, err := base64.StdEncoding.Strict().DecodeString(*o.B64)
	*s = wireString(v)
	return err
}

type wireJob struct {
	Program *string               `json:"program"`
	Args    []wireString          `json:"args"`
	Cwd     wireString            `json:"cwd"`
	Env     map[string]wireString `json:"env"`
	Nice    int                   `json:"nice"`
	Token   string                `json:"token"`
}

func parseJob(payload string) (Job, error) {
	body, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return Job{}, fmt.Errorf("run request: body is not unpadded base64url: %w", err)
	}
	var wj wireJob
	dec := json.NewDecoder(bytes.NewReader(body))
	// Strict: a field this version does not know is a newer client that
	// expects something we would silently not do.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wj); err != nil {
		return Job{}, fmt.Errorf("run request: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Job{}, errors.New("run request: data after the JSON body")
	}
	j := Job{Dir: string(wj.Cwd), Nice: wj.Nice, Token: wj.Token, Args: make([]string, len(wj.Args))}
	if !isToken(j.Token) {
		return Job{}, errors.New("run request: token must be 1 to 32 lowercase hex digits")
	}
	if wj.Program == nil || !isName(*wj.Program) {
		return Job{}, errors.New("run request: program must be a name such as ffmpeg, not a path")
	}
	j.Program = *wj.Program
	for i, a := range wj.Args {
		if strings.IndexByte(string(a), 0) >= 0 {
			return Job{}, fmt.Errorf("run request: argument %d holds a NUL byte", i+1)
		}
		j.Args[i] = string(a)
	}
	if j.Dir != "" && (!filepath.IsAbs(j.Dir) || strings.IndexByte(j.Dir, 0) >= 0) {
		return Job{}, errors.New("run request: cwd must be an absolute path")
	}
	if j.Nice < 0 || j.Nice > maxNice {
		return Job{}, fmt.Errorf("run request: nice %d outside 0..%d", j.Nice, maxNice)
	}
	if len(wj.Env) > 0 {
		j.Env = make(map[string]string, len(wj.Env))
	}
	for k, v := range wj.Env {
		if !isEnvName(k) || strings.IndexByte(string(v), 0) >= 0 {
			return Job{}, fmt.Errorf("run request: bad environment variable %q", k)
		}
		j.Env[k] = string(v)
	}
	return j, nil
}

// isName: lowercase letters, digits, '-' and '_' — a program name, never
// a path or anything a shell or the file system would read specially.
func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isEnvName: a portable environment variable name.
func isEnvName(s string) bool {
	if s == "" || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isToken: the frame token is hex, so a frame holds no byte a shell or the
// filter could misread.
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
