package agent

import (
	"encoding/base64"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
)

func body(json string) string {
	return Protocol + " run " + base64.RawURLEncoding.EncodeToString([]byte(json))
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, cmd string
		want      Request
	}{
		{"version", "rffmpeg-agent/1 version", Request{Verb: VerbVersion}},
		{"signal", "rffmpeg-agent/1 signal 1234 TSTP", Request{Verb: VerbSignal, PID: 1234, Signal: syscall.SIGTSTP}},
		{"stop", "rffmpeg-agent/1 stop 99", Request{Verb: VerbStop, PID: 99}},
		{"run minimal", body(`{"token":"ab12","program":"ffprobe"}`), Request{Verb: VerbRun, Job: Job{Token: "ab12", Program: "ffprobe", Args: []string{}}}},
		{"run full", body(`{"token":"ab12","program":"ffmpeg","args":["-i","a b",""],"cwd":"/m","env":{"TZ":"UTC"},"nice":19}`),
			Request{Verb: VerbRun, Job: Job{Token: "ab12", Program: "ffmpeg", Args: []string{"-i", "a b", ""}, Dir: "/m",
				Env: map[string]string{"TZ": "UTC"}, Nice: 19}}},
		{"run bytes", body(`{"token":"ab12","program":"ffmpeg","args":[{"b64":"/wA="}],"cwd":{"b64":"L/8="}}`),
			Request{}}, // a NUL in an argument: refused below
		{"run non-utf8", body(`{"token":"ab12","program":"ffmpeg","args":[{"b64":"/w=="}],"cwd":{"b64":"L/8="}}`),
			Request{Verb: VerbRun, Job: Job{Token: "ab12", Program: "ffmpeg", Args: []string{"\xff"}, Dir: "/\xff"}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.cmd)
		if tt.name == "run bytes" {
			if err == nil {
				t.Errorf("%s: a NUL byte in an argument was accepted: %+v", tt.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, cmd, want string }{
		{"shell command", "sh -c 'id'", "not an rffmpeg-agent/1 request"},
		{"a path", "/usr/bin/ffmpeg -version", "not an rffmpeg-agent/1 request"},
		{"empty", "", "not an rffmpeg-agent/1 request"},
		{"leading space", " rffmpeg-agent/1 version", "not an rffmpeg-agent/1 request"},
		{"newer protocol", "rffmpeg-agent/2 version", `protocol "rffmpeg-agent/2" not supported`},
		{"no verb", "rffmpeg-agent/1", "without a verb"},
		{"unknown verb", "rffmpeg-agent/1 exec sh", `unknown request "exec"`},
		{"extra word", "rffmpeg-agent/1 version now", "unknown request"},
		{"double space", "rffmpeg-agent/1  version", "unknown request"},
		{"trailing newline", "rffmpeg-agent/1 version\n", "unknown request"},
		{"run without body", "rffmpeg-agent/1 run", "unknown request"},
		{"padded base64", body(`{"token":"ab12","program":"ffmpeg"}`) + "=", "base64url"},
		{"std base64", Protocol + " run " + base64.StdEncoding.EncodeToString([]byte(`{"program":"ffmpeg","args":["??>>"]}`)), "base64url"},
		{"not JSON", body(`program=ffmpeg`), "run request"},
		{"unknown field", body(`{"token":"ab12","program":"ffmpeg","shell":true}`), "unknown field"},
		{"trailing data", body(`{"token":"ab12","program":"ffmpeg"} {}`), "data after"},
		{"no program", body(`{"token":"ab12","args":["-version"]}`), "program must be a name"},
		{"program path", body(`{"token":"ab12","program":"/bin/sh"}`), "program must be a name"},
		{"program dots", body(`{"token":"ab12","program":".."}`), "program must be a name"},
		{"program upper", body(`{"token":"ab12","program":"FFMPEG"}`), "program must be a name"},
		{"program space", body(`{"token":"ab12","program":"ffmpeg -i"}`), "program must be a name"},
		{"args not strings", body(`{"token":"ab12","program":"ffmpeg","args":[1]}`), "JSON string"},
		{"b64 object extra", body(`{"token":"ab12","program":"ffmpeg","args":[{"b64":"","x":1}]}`), "JSON string"},
		{"relative cwd", body(`{"token":"ab12","program":"ffmpeg","cwd":"media"}`), "absolute"},
		{"negative nice", body(`{"token":"ab12","program":"ffmpeg","nice":-5}`), "nice -5"},
		{"nice too high", body(`{"token":"ab12","program":"ffmpeg","nice":20}`), "nice 20"},
		{"env name", body(`{"token":"ab12","program":"ffmpeg","env":{"A=B":"c"}}`), "bad environment variable"},
		{"env NUL", body(`{"token":"ab12","program":"ffmpeg","env":{"TZ":{"b64":"AA=="}}}`), "bad environment variable"},
		{"no token", body(`{"program":"ffmpeg"}`), "token must be"},
		{"token upper", body(`{"token":"AB12","program":"ffmpeg"}`), "token must be"},
		{"token with a NUL", body(`{"token":"ab\u000012","program":"ffmpeg"}`), "token must be"},
		{"token too long", body(`{"token":"` + strings.Repeat("a", 33) + `","program":"ffmpeg"}`), "token must be"},
		{"unknown signal", "rffmpeg-agent/1 signal 12 SEGV", `unknown signal "SEGV"`},
		{"SIG prefix", "rffmpeg-agent/1 signal 12 SIGTERM", "unknown signal"},
		{"pid 1", "rffmpeg-agent/1 signal 1 TERM", "bad PID"},
		{"pid 0", "rffmpeg-agent/1 stop 0", "bad PID"},
		{"negative pid (a group)", "rffmpeg-agent/1 stop -5", "bad PID"},
		{"leading zero", "rffmpeg-agent/1 stop 012", "bad PID"},
		{"pid word", "rffmpeg-agent/1 stop $(id)", "bad PID"},
		{"oversized", Protocol + " run " + strings.Repeat("A", maxRequest), "limit"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.cmd)
		if err == nil {
			t.Errorf("%s: accepted: %+v", tt.name, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want it to say %q", tt.name, err, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := ParseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Programs, map[string]string{"ffmpeg": defaultFFmpeg, "ffprobe": defaultFFprobe}; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: got %v, want %v", got, want)
	}
	c, err = ParseFlags([]string{"--ffmpeg", "/opt/ff/ffmpeg", "--ffprobe=/opt/ff/ffprobe", "--allow-env", "TMPDIR"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Programs["ffmpeg"]+" "+c.Programs["ffprobe"], "/opt/ff/ffmpeg /opt/ff/ffprobe"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range [][]string{
		{"--ffmpeg", "ffmpeg"},                     // relative: found through PATH, not auditable
		{"--ffprobe", "/usr/bin/../bin/ffprobe"},   // not clean
		{"--allow-env", "LD_PRELOAD"},              // the loader's
		{"--allow-env", "PATH"},                    // would choose what programs run
		{"--allow-env", "A=B"},                     // not a name
		{"--shell"},                                // unknown flag
		{"--ffmpeg", "/usr/bin/ffmpeg", "ffprobe"}, // stray word
	} {
		if _, err := ParseFlags(bad); err == nil {
			t.Errorf("ParseFlags(%q) accepted", bad)
		}
	}
}

func TestAdmit(t *testing.T) {
	c, err := ParseFlags([]string{"--ffmpeg", "/usr/bin/ffmpeg", "--allow-env", "TMPDIR"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		job      Job
		wantPath string
		wantErr  string
	}{
		{Job{Program: "ffmpeg"}, "/usr/bin/ffmpeg", ""},
		{Job{Program: "ffprobe"}, defaultFFprobe, ""},
		{Job{Program: "sh"}, "", `program "sh" is not allowed on this host (allowed: ffmpeg, ffprobe)`},
		{Job{Program: "ffmpeg", Env: map[string]string{"TZ": "UTC", "LANG": "C", "LC_ALL": "C", "FFREPORT": "file=x",
			"AV_LOG_FORCE_NOCOLOR": "1", "AV_LOG_FORCE_COLOR": "1", "TMPDIR": "/s"}}, "/usr/bin/ffmpeg", ""},
		{Job{Program: "ffmpeg", Env: map[string]string{"LD_PRELOAD": "/tmp/x.so"}}, "", "LD_PRELOAD is not allowed"},
		{Job{Program: "ffmpeg", Env: map[string]string{"LD_LIBRARY_PATH": "/tmp"}}, "", "LD_LIBRARY_PATH is not allowed"},
		{Job{Program: "ffmpeg", Env: map[string]string{"PATH": "/tmp"}}, "", "PATH is not allowed"},
		{Job{Program: "ffmpeg", Env: map[string]string{"HOME": "/tmp"}}, "", "HOME is not allowed"},
	}
	for _, tt := range tests {
		got, err := c.admit(tt.job)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.wantPath || !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (err == nil) {
			t.Errorf("admit(%+v) = %q, %q; want %q, %q", tt.job, got, gotErr, tt.wantPath, tt.wantErr)
		}
	}
}

func TestJobEnv(t *testing.T) {
	host := map[string]string{"PATH": "/usr/bin", "HOME": "/home/t", "TZ": "Europe/Paris",
		"SSH_ORIGINAL_COMMAND": "rffmpeg-agent/1 …", "LD_PRELOAD": "/x.so", "SSH_CONNECTION": "1 2 3 4"}
	lookup := func(k string) (string, bool) { v, ok := host[k]; return v, ok }
	got := jobEnv(map[string]string{"TZ": "UTC", "LC_ALL": "C"}, lookup)
	want := []string{"HOME=/home/t", "LC_ALL=C", "PATH=/usr/bin", "TZ=UTC"}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got = jobEnv(nil, func(string) (string, bool) { return "", false })
	if want := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("no host environment: got %q, want %q", got, want)
	}
}
