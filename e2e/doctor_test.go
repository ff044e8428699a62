package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// doctorReport is `rffmpeg doctor --json` (schema 1).
type doctorReport struct {
	Schema int  `json:"schema"`
	OK     bool `json:"ok"`
	Checks []struct {
		Section    string   `json:"section"`
		Name       string   `json:"name"`
		Host       string   `json:"host"`
		Status     string   `json:"status"`
		Message    string   `json:"message"`
		Fix        string   `json:"fix"`
		DurationMS *float64 `json:"duration_ms"`
	} `json:"checks"`
}

// doctorEnv is an installation whose service account is the rig's test
// user (so every check really runs as another account than root), with
// its own copy of key (the rig's client key, or another one) owned by it.
func doctorEnv(t *testing.T, r *rig, key string, sections map[string]string) *env {
	t.Helper()
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	keyDir := t.TempDir()
	os.Chmod(keyDir, 0o755)
	own := filepath.Join(keyDir, "id")
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, data, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(own, uid, gid)
	if sections == nil {
		sections = map[string]string{}
	}
	sections["directories"] += fmt.Sprintf("owner: %s\ngroup: %s\n", testUser, testUser)
	sections["remote"] += fmt.Sprintf("args: [\"-i\", \"%s\", \"-p\", \"%d\"]\n", own, r.port)
	e := newEnv(t, r, sections)
	// What 'sudo rffmpeg init' does for the real owner.
	filepath.Walk(filepath.Join(e.dir, "state"), func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Chown(p, uid, gid)
		}
		return err
	})
	os.Chown(e.log, uid, gid)
	return e
}

// doctor runs `rffmpeg doctor --json` and decodes it.
func (e *env) doctor(args ...string) (doctorReport, result) {
	e.t.Helper()
	res := e.run("rffmpeg", nil, append([]string{"doctor", "--json"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal(res.stdout, &rep); err != nil {
		e.t.Fatalf("doctor --json: %v\nstdout: %s\nstderr: %s", err, res.stdout, res.stderr)
	}
	if rep.Schema != 1 {
		e.t.Fatalf("schema %d, want 1", rep.Schema)
	}
	return rep, res
}

// check finds one check by host and name, failing the test when absent.
func (rep doctorReport) check(t *testing.T, host, name string) (status, message string) {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Host == host && c.Name == name {
			return c.Status, c.Message
		}
	}
	t.Fatalf("no check %q for host %q in:\n%s", name, host, rep.dump())
	return "", ""
}

func (rep doctorReport) dump() string {
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "%s [%s] %s %s: %s | %s\n", c.Status, c.Section, c.Host, c.Name, c.Message, c.Fix)
	}
	return b.String()
}

func sharedDir(t *testing.T, e *env) string {
	d := filepath.Join(e.dir, "transcodes")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	return d
}

// A healthy host passes every check, run as the service account.
func TestDoctorHealthy(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, r.key, nil)
	e.mustCLI("add", "127.0.0.2")
	dir := sharedDir(t, e)
	rep, res := e.doctor("--path", dir)
	if res.code != 0 || !rep.OK {
		t.Fatalf("exit %d, ok %v, want 0 and true:\n%s%s", res.code, rep.OK, rep.dump(), res.stderr)
	}
	for _, name := range []string{"connect", "ssh login", "remote ffmpeg", "remote ffprobe", "-version", "-encoders", "-h filter=tonemap_cuda", "-h bsf=hevc_metadata", "clock"} {
		if st, msg := rep.check(t, "127.0.0.2", name); st != "ok" {
			t.Errorf("%s: %s %s, want ok", name, st, msg)
		}
	}
	if st, msg := rep.check(t, "", "service account"); st != "ok" || !strings.Contains(msg, testUser) {
		t.Errorf("service account: %s %s, want ok as %s", st, msg, testUser)
	}
	// Asked as the account: none runs for it, which is fine.
	if st, msg := rep.check(t, "", "state helper"); st != "ok" || !strings.Contains(msg, "not running (optional") {
		t.Errorf("state helper: %s %s, want ok, not running", st, msg)
	}
	for _, name := range []string{dir + ": here → host", dir + ": host → here"} {
		if st, msg := rep.check(t, "127.0.0.2", name); st != "ok" {
			t.Errorf("%s: %s %s, want ok", name, st, msg)
		}
	}
	// The text form says the same for people.
	txt := e.run("rffmpeg", nil, "doctor", "127.0.0.2")
	if txt.code != 0 || !strings.Contains(string(txt.stdout), "ok   ssh login: logged in") {
		t.Errorf("text: exit %d:\n%s", txt.code, txt.stdout)
	}
	// The first run's login recorded the host key (trust on first use).
	if want := fmt.Sprintf("has a key for [127.0.0.2]:%d", r.port); !strings.Contains(string(txt.stdout), want) {
		t.Errorf("second run: no %q in:\n%s", want, txt.stdout)
	}
}

// A dead host fails at the TCP connect; a hung one (TCP accepted, no SSH
// banner) at the login, within ssh's connect timeout; the run exits 1.
func TestDoctorDeadHost(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, r.key, nil)
	e.mustCLI("add", "--no-check", "127.0.0.9")
	e.mustCLI("add", "--no-check", "127.0.0.4")
	rep, res := e.doctor()
	if res.code != 1 || rep.OK {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	if st, msg := rep.check(t, "127.0.0.9", "connect"); st != "fail" || !strings.Contains(msg, "connection refused") {
		t.Errorf("dead host: connect: %s %s, want a refused connection", st, msg)
	}
	if st, _ := rep.check(t, "127.0.0.4", "connect"); st != "ok" {
		t.Errorf("hung host: connect: %s, want ok (it accepts TCP)", st)
	}
	if st, msg := rep.check(t, "127.0.0.4", "ssh login"); st != "fail" || !strings.Contains(msg, "timed out") {
		t.Errorf("hung host: ssh login: %s %s, want timed out", st, msg)
	}
	// Hosts are checked at once: two bad hosts cost one timeout, not two.
	if res.took > 8*time.Second {
		t.Errorf("doctor took %v with a dead and a hung host", res.took)
	}
}

// A key the host does not know fails the login, with the reason.
func TestDoctorWrongKey(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, filepath.Join(r.dir, "otherhost"), nil)
	e.mustCLI("add", "--no-check", "127.0.0.2")
	rep, res := e.doctor()
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	if st, _ := rep.check(t, "127.0.0.2", "connect"); st != "ok" {
		t.Errorf("connect: %s, want ok (the host is up)", st)
	}
	if st, msg := rep.check(t, "127.0.0.2", "ssh login"); st != "fail" || !strings.Contains(msg, "authentication failed") {
		t.Errorf("ssh login: %s %s, want an authentication failure", st, msg)
	}
}

// commands.ffmpeg naming a path that does not exist on the host fails.
func TestDoctorMissingRemoteFFmpeg(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, r.key, map[string]string{"commands": "ffmpeg: /nonexistent/ffmpeg\n"})
	e.mustCLI("add", "--no-check", "127.0.0.2")
	rep, res := e.doctor("127.0.0.2")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	if st, msg := rep.check(t, "127.0.0.2", "remote ffmpeg"); st != "fail" || !strings.Contains(msg, "not found") {
		t.Errorf("remote ffmpeg: %s %s, want not found", st, msg)
	}
	if st, _ := rep.check(t, "127.0.0.2", "remote ffprobe"); st != "ok" {
		t.Errorf("remote ffprobe: %s, want ok (only ffmpeg is missing)", st)
	}
}

// A path that is not shared: a namespace host whose sshd has its own
// (empty) directory mounted at the same path, as a host would that lacks
// the NFS mount. Every session it starts sees that directory, so this is
// the real failure, not a simulated one.
func TestDoctorPathNotShared(t *testing.T) {
	r := needRig(t)
	h := newNSHost(t, r)
	e := doctorEnv(t, r, r.key, nil)
	e.mustCLI("add", "-n", "nshost", h.Addr)
	dir := sharedDir(t, e)
	pids := h.PIDs()
	if len(pids) == 0 {
		t.Fatal("no sshd in the namespace")
	}
	// ip netns exec gave the sshd a mount namespace of its own (a slave of
	// ours): a tmpfs mounted there is invisible here.
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(pids[0]), "-m", "mount", "-t", "tmpfs", "-o", "mode=0777", "doctor-unshared", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount in the namespace host: %v: %s", err, out)
	}
	rep, res := e.doctor("--path", dir)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	if st, _ := rep.check(t, h.Addr, "ssh login"); st != "ok" {
		t.Fatalf("ssh login: %s, want ok:\n%s", st, rep.dump())
	}
	for _, name := range []string{dir + ": here → host", dir + ": host → here"} {
		if st, msg := rep.check(t, h.Addr, name); st != "fail" || !strings.Contains(msg, "not shared") {
			t.Errorf("%s: %s %s, want not shared", name, st, msg)
		}
	}
}

// A -wal left behind by root (the classic: an admin ran a command as root
// before the fix) is named with its owner and mode, as the service account
// would meet it, and the run fails.
func TestDoctorRootOwnedWAL(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, r.key, nil)
	wal := filepath.Join(e.dir, "state", "rffmpeg.db-wal")
	if err := os.WriteFile(wal, nil, 0o644); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	os.Chown(wal, 0, 0)
	os.Chmod(wal, 0o644)
	rep, res := e.doctor()
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	if st, msg := rep.check(t, "", "database -wal"); st != "fail" || !strings.Contains(msg, "root:root 0644") || !strings.Contains(msg, testUser+" cannot write it") {
		t.Errorf("database -wal: %s %q, want a failure naming root:root 0644", st, msg)
	}
	// The real open, run as the service account, fails too (as root it
	// would succeed: this proves the check runs as that account). The
	// store opens such a database read-only, so status answers; the
	// doctor still fails it, since every job's write would fail.
	if st, msg := rep.check(t, "", "state opens"); st != "fail" || !strings.Contains(msg, "opened read-only") {
		t.Errorf("state opens: %s %q, want a failure for %s", st, msg, testUser)
	}
}

// A host whose key differs from the one recorded (reinstalled, or someone
// else at its address) fails the login, and the fix names the entry to
// remove, in brackets because the port is not 22.
func TestDoctorChangedHostKey(t *testing.T) {
	r := needRig(t)
	e := doctorEnv(t, r, r.key, nil)
	e.mustCLI("add", "127.0.0.2")
	pub, err := os.ReadFile(filepath.Join(r.dir, "otherhost.pub"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	kh := filepath.Join(e.dir, "state", "known_hosts")
	entry := fmt.Sprintf("[127.0.0.2]:%d %s %s\n", r.port, fields[0], fields[1])
	if err := os.WriteFile(kh, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	u, _ := user.Lookup(testUser)
	uid, _ := strconv.Atoi(u.Uid)
	os.Chown(kh, uid, -1)
	rep, res := e.doctor()
	if res.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.code, rep.dump())
	}
	for _, c := range rep.Checks {
		if c.Host == "127.0.0.2" && c.Name == "ssh login" {
			wantFix := fmt.Sprintf("ssh-keygen -f %s -R '[127.0.0.2]:%d'", kh, r.port)
			if c.Status != "fail" || !strings.Contains(c.Message, "key changed") || !strings.Contains(c.Fix, wantFix) {
				t.Errorf("ssh login: %s %q fix %q, want a changed key and %q", c.Status, c.Message, c.Fix, wantFix)
			}
			return
		}
	}
	t.Fatalf("no ssh login check:\n%s", rep.dump())
}
