// Package agent is `rffmpeg agent`, the remote side for hardened transcode
// hosts. It is installed as the SSH forced command of the media server's key
// (restrict,command="/usr/bin/rffmpeg agent …" in authorized_keys), so the
// key opens no shell: sshd hands the client's command to the agent in
// SSH_ORIGINAL_COMMAND, and the agent decodes it as data (argv, directory,
// environment, nice), runs only the programs the forced command names
// (ffmpeg, ffprobe), and speaks the stderr frame protocol of the remote
// wrapper script so the shim's runner works unchanged: start, PID, and a
// heartbeat whose failed write means the session is gone and the job must
// stop. It reads no rffmpeg configuration and no database.
package agent

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// Exit codes of a refused request, as a shell reports a program it cannot
// run (126) or cannot find (127); 2 is a broken forced command.
const (
	exitRefused  = 126
	exitNotFound = 127
	exitUsage    = 2
)

// Config is what the forced command allows, from its flags.
type Config struct {
	Programs map[string]string // name → absolute path
	Env      []string          // extra environment names allowed (--allow-env)
}

// The programs an agent runs when the forced command names none: the paths
// of jellyfin-ffmpeg, rffmpeg's own defaults for commands.ffmpeg/ffprobe.
const (
	defaultFFmpeg  = "/usr/lib/jellyfin-ffmpeg/ffmpeg"
	defaultFFprobe = "/usr/lib/jellyfin-ffmpeg/ffprobe"
)

// baseEnv is the environment allowed in a request: what changes ffmpeg's
// output (report file, log colours) or its reading of times and text.
// Anything else — above all LD_* and PATH — stays the host's.
var baseEnv = []string{"FFREPORT", "AV_LOG_FORCE_NOCOLOR", "AV_LOG_FORCE_COLOR", "TZ", "LANG"}

const usage = `usage: rffmpeg agent [--ffmpeg PATH] [--ffprobe PATH] [--allow-env NAME]...
Runs one request from SSH_ORIGINAL_COMMAND; meant as the SSH forced command:
  restrict,command="/usr/bin/rffmpeg agent --ffmpeg /usr/lib/jellyfin-ffmpeg/ffmpeg --ffprobe /usr/lib/jellyfin-ffmpeg/ffprobe" ssh-ed25519 AAAA…
`

// ParseFlags reads the forced command's flags (the words after "agent").
func ParseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("rffmpeg agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ffmpeg := fs.String("ffmpeg", defaultFFmpeg, "ffmpeg's absolute path")
	ffprobe := fs.String("ffprobe", defaultFFprobe, "ffprobe's absolute path")
	var env []string
	fs.Func("allow-env", "one more environment variable a request may set", func(s string) error {
		env = append(env, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := Config{Programs: map[string]string{"ffmpeg": *ffmpeg, "ffprobe": *ffprobe}}
	for name, p := range c.Programs {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return Config{}, fmt.Errorf("--%s %q: must be an absolute, clean path", name, p)
		}
	}
	for _, e := range env {
		if !isEnvName(e) || strings.HasPrefix(e, "LD_") || e == "PATH" {
			return Config{}, fmt.Errorf("--allow-env %q: not allowed (never LD_* or PATH)", e)
		}
	}
	c.Env = env
	return c, nil
}

// envAllowed reports whether a request may set name.
func (c Config) envAllowed(name string) bool {
	if strings.HasPrefix(name, "LD_") {
		return false // the loader's: a library injected into every job
	}
	if strings.HasPrefix(name, "LC_") {
		return true
	}
	for _, e := range append(baseEnv, c.Env...) {
		if e == name {
			return true
		}
	}
	return false
}

// admit checks a job against the host's allowlists and returns the path to
// run.
func (c Config) admit(j Job) (string, error) {
	path, ok := c.Programs[j.Program]
	if !ok {
		return "", fmt.Errorf("program %q is not allowed on this host (allowed: %s)", j.Program, strings.Join(c.names(), ", "))
	}
	for k := range j.Env {
		if !c.envAllowed(k) {
			return "", fmt.Errorf("environment variable %s is not allowed on this host", k)
		}
	}
	return path, nil
}

func (c Config) names() []string {
	n := make([]string, 0, len(c.Programs))
	for k := range c.Programs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Main is `rffmpeg agent ARGS…`: one request, read from SSH_ORIGINAL_COMMAND
// in env, with stdin/stdout/stderr being the SSH channel's. It returns the
// exit code: the job's, 126 for a refused request, 127 for a missing program.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		io.WriteString(stdout, usage)
		return 0
	}
	c, err := ParseFlags(args)
	if err != nil {
		fail(stderr, "bad forced command: %v", err)
		return exitUsage
	}
	cmd, ok := env("SSH_ORIGINAL_COMMAND")
	if !ok {
		fail(stderr, "no command: this key runs only rffmpeg agent requests, not a shell")
		return exitRefused
	}
	req, err := Parse(cmd)
	if err != nil {
		fail(stderr, "refused: %v", err)
		return exitRefused
	}
	switch req.Verb {
	case VerbVersion:
		return c.version(stdout)
	case VerbSignal:
		return signalJob(req.PID, req.Signal, stderr)
	case VerbStop:
		return stopJob(req.PID, stderr)
	}
	return c.run(req.Job, stdin, stdout, stderr, env)
}

// fail writes the agent's one line: the media server keeps a host's stderr
// as the reason it failed, and people read it, so its bytes are escaped.
func fail(stderr io.Writer, format string, a ...any) {
	io.WriteString(stderr, "rffmpeg agent: "+escape.Line(fmt.Sprintf(format, a...))+"\n")
}

// Version is what `version` reports.
type Version struct {
	Protocol  string            `json:"protocol"`
	Version   string            `json:"version"`
	Requests  []string          `json:"requests"`
	Programs  map[string]string `json:"programs"`
	Env       []string          `json:"env"`
	Frames    string            `json:"frames"`    // stderr frames of a run: start, PID, heartbeat
	Heartbeat float64           `json:"heartbeat"` // seconds between heartbeat frames
}

func (c Config) version(stdout io.Writer) int {
	v := Version{Protocol: Protocol, Version: buildVersion(),
		Requests: []string{VerbRun, VerbSignal, VerbStop, VerbVersion},
		Programs: c.Programs, Env: append(append(append([]string{}, baseEnv...), "LC_*"), c.Env...),
		Frames: "SPH", Heartbeat: heartbeatEvery.Seconds()}
	b, _ := json.Marshal(v)
	if _, err := stdout.Write(append(b, '\n')); err != nil {
		return 1
	}
	return 0
}

// buildVersion is the module version and VCS revision Go recorded.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

var errNoJob = errors.New("no such job")
