package doctor

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A child run for the service account really has its uid, gid, groups and
// HOME, and never an SSH agent.
func TestRunAsAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch accounts")
	}
	t.Setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
	t.Setenv("ADMIN_SECRET", "hunter2") // root's environment is not the account's to read
	a := svc
	a.Home, a.Switch = "/nonexistent/svc", true
	// Field 6 of /proc/self/stat is the session: a child of the account in
	// root's session could reach root's terminal (TIOCSTI).
	res := a.run(context.Background(), []string{"/bin/sh", "-c", `echo "$(id -u) $(id -g) $(id -G) $HOME $USER ${SSH_AUTH_SOCK:-none} ${ADMIN_SECRET:-unset}"; pwd; cut -d' ' -f6 /proc/self/stat`}, nil, 10*time.Second)
	if res.Code != 0 {
		t.Fatalf("exit %d: %s %v", res.Code, res.Stderr, res.Err)
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if len(lines) != 3 || lines[2] == strconv.Itoa(mySession(t)) {
		t.Fatalf("child output %q: want its own session, not ours (%d)", lines, mySession(t))
	}
	got := strings.Join(lines[:2], "\n")
	want := "54321 54321 54321 54322 /nonexistent/svc svc none unset\n/"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRunTimeoutAndExit(t *testing.T) {
	a := currentAccount()
	res := a.run(context.Background(), []string{"/bin/sh", "-c", "exit 3"}, nil, 5*time.Second)
	if res.Code != 3 || res.Err != nil || res.TimedOut {
		t.Errorf("exit 3: got code %d err %v timedOut %v", res.Code, res.Err, res.TimedOut)
	}
	res = a.run(context.Background(), []string{"/bin/sh", "-c", "kill -TERM $$"}, nil, 5*time.Second)
	if res.Code != 143 {
		t.Errorf("killed by SIGTERM: got code %d, want 143", res.Code)
	}
	start := time.Now()
	res = a.run(context.Background(), []string{"sleep", "10"}, nil, 200*time.Millisecond)
	if !res.TimedOut || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: got timedOut %v after %v", res.TimedOut, time.Since(start))
	}
	res = a.run(context.Background(), []string{"/nonexistent/prog"}, nil, 5*time.Second)
	if res.Code != -1 || res.Err == nil {
		t.Errorf("missing program: got code %d err %v, want -1 and an error", res.Code, res.Err)
	}
}

func TestParseHelpers(t *testing.T) {
	words := splitWords(`/usr/bin/jellyfin "--ffmpeg=/a b/ffmpeg" --x 'y z'  end`)
	if got, want := strings.Join(words, "|"), "/usr/bin/jellyfin|--ffmpeg=/a b/ffmpeg|--x|y z|end"; got != want {
		t.Errorf("splitWords: got %q, want %q", got, want)
	}
	for _, tt := range []struct {
		words []string
		want  string
		ok    bool
	}{
		{[]string{"jellyfin", "--ffmpeg=/x/ffmpeg"}, "/x/ffmpeg", true},
		{[]string{"jellyfin", "--ffmpeg", "/y/ffmpeg"}, "/y/ffmpeg", true},
		{[]string{"jellyfin", "--ffmpeg"}, "", false},
		{[]string{"jellyfin", "--ffmpegx=/z"}, "", false},
	} {
		if got, ok := ffmpegArg(tt.words); got != tt.want || ok != tt.ok {
			t.Errorf("ffmpegArg(%q): got %q %v, want %q %v", tt.words, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := parseFileID("1000 1001 644"); !ok || got != (fileID{1000, 1001, 0o644}) {
		t.Errorf("parseFileID: got %v %v", got, ok)
	}
	if _, ok := parseFileID("stat: cannot stat"); ok {
		t.Errorf("parseFileID accepted garbage")
	}
}

// compare: the same file seen alike is ok; owners, modes or a slow share
// are warnings with a fix.
func TestCompareSides(t *testing.T) {
	p := sharedPath{dir: "/srv/transcodes"}
	same := fileID{1000, 1000, 0o644}
	for _, tt := range []struct {
		name        string
		here, there fileID
		visible     time.Duration
		want        Status
		msg         string
	}{
		{"alike", same, same, 0, OK, "same file on both sides"},
		{"squashed", same, fileID{65534, 65534, 0o644}, 0, Warn, "owners differ"},
		{"mode", same, fileID{1000, 1000, 0o600}, 0, Warn, "permissions differ"},
		{"slow share", same, same, 3 * time.Second, Warn, "every 100 ms"},
	} {
		got := p.compare("x", tt.here, tt.there, tt.visible, time.Second)
		if got.Status != tt.want || !strings.Contains(got.Message, tt.msg) {
			t.Errorf("%s: got %s %q, want %s ~%q", tt.name, got.Status, got.Message, tt.want, tt.msg)
		}
	}
}

func mySession(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	// comm may hold spaces: fields count from the closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, _ := strconv.Atoi(f[3])
	return n
}
