package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func sample() Report {
	return Report{Checks: []Check{
		{Section: SectionConfig, Name: "configuration", Status: OK, Message: "loaded /etc/rffmpeg/rffmpeg.yml"},
		{Section: SectionHosts, Host: "gpu1", Name: "connect", Status: OK, Message: "TCP gpu1:22 accepts connections", Duration: 1500 * time.Microsecond, Timed: true},
		{Section: SectionHosts, Host: "gpu1", Name: "ssh login", Status: Fail, Message: "authentication failed\x1b]0;pwned\x07", Fix: "ssh-copy-id\nrm -rf /", Duration: 2 * time.Second, Timed: true},
		{Section: SectionHosts, Host: "evil\x1b[2J", Name: "clock", Status: Warn, Message: "+3.000 s", Fix: "run NTP"},
		{Section: SectionHosts, Name: "ffmpeg versions", Status: OK, Message: "ffmpeg version 7.1 on gpu1, local fallback"},
	}}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	sample().WriteText(&b)
	want := `== configuration and state
ok   configuration: loaded /etc/rffmpeg/rffmpeg.yml

== hosts
-- gpu1
ok   connect: TCP gpu1:22 accepts connections (1.5ms)
FAIL ssh login: authentication failed\x1b]0;pwned\x07 (2s)
       fix: ssh-copy-id\nrm -rf /
-- evil\x1b[2J
warn clock: +3.000 s
       fix: run NTP
-- all hosts
ok   ffmpeg versions: ffmpeg version 7.1 on gpu1, local fallback

3 ok, 1 warnings, 1 failures
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	sample().WriteJSON(&b)
	var got struct {
		Schema int  `json:"schema"`
		OK     bool `json:"ok"`
		Checks []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema != 1 || got.OK || len(got.Checks) != 5 {
		t.Fatalf("got schema %d ok %v %d checks, want 1 false 5", got.Schema, got.OK, len(got.Checks))
	}
	keys := []string{"duration_ms", "fix", "host", "message", "name", "section", "status"}
	for i, c := range got.Checks {
		if len(c) != len(keys) {
			t.Errorf("check %d has keys %v, want %v", i, c, keys)
		}
		for _, k := range keys {
			if _, ok := c[k]; !ok {
				t.Errorf("check %d lacks %q", i, k)
			}
		}
	}
	if got.Checks[0]["duration_ms"] != nil || got.Checks[1]["duration_ms"] != 1.5 {
		t.Errorf("duration_ms: got %v and %v, want null and 1.5", got.Checks[0]["duration_ms"], got.Checks[1]["duration_ms"])
	}
	// JSON is exact: the control bytes are there, escaped by JSON only.
	if got.Checks[2]["message"] != "authentication failed\x1b]0;pwned\x07" || got.Checks[2]["status"] != "fail" {
		t.Errorf("message %q status %v", got.Checks[2]["message"], got.Checks[2]["status"])
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("raw escape byte in JSON output")
	}
}

func TestReportOK(t *testing.T) {
	tests := []struct {
		statuses []Status
		want     bool
	}{
		{nil, true},
		{[]Status{OK, Warn}, true},
		{[]Status{OK, Fail, Warn}, false},
	}
	for _, tt := range tests {
		var r Report
		for _, s := range tt.statuses {
			r.Checks = append(r.Checks, Check{Status: s})
		}
		if got := r.OK(); got != tt.want {
			t.Errorf("%v: got %v, want %v", tt.statuses, got, tt.want)
		}
	}
}

func TestKnownHostsName(t *testing.T) {
	for _, tt := range []struct {
		host string
		port int
		want string
	}{{"gpu1", 22, "gpu1"}, {"gpu1", 2222, "[gpu1]:2222"}, {"10.0.0.5", 0, "10.0.0.5"}} {
		if got := knownHostsName(tt.host, tt.port); got != tt.want {
			t.Errorf("%s:%d: got %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

// The state helper check: serving and not running are fine (it is
// optional); running but refusing the account's calls is a warning with
// the fix.
func TestHelperCheck(t *testing.T) {
	for _, tt := range []struct {
		res  output
		want Status
		msg  string
	}{
		{output{Stdout: []byte("state helper: serving this account's calls on /run/shm/rffmpeg-110/state.sock\n")}, OK, "serving"},
		{output{Code: HelperNotRunning, Stdout: []byte("state helper: not running\n")}, OK, "not running (optional"},
		{output{Code: 1, Stdout: []byte("state helper on /x: does not serve this account's calls: refused: another build\n")}, Warn, "refused: another build"},
		{output{Code: -1, Err: errors.New("exec: no such file")}, Warn, ""},
	} {
		c := helperCheck(tt.res, "jellyfin")
		if c.Status != tt.want || !strings.Contains(c.Message, tt.msg) || c.Section != SectionConfig {
			t.Errorf("%+v: got %s %q", tt.res, c.Status, c.Message)
		}
		if c.Status == Warn && !strings.Contains(c.Fix, "restart") {
			t.Errorf("a warning without the fix: %+v", c)
		}
	}
}
