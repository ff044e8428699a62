package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// cliEnv is an installation whose database is an existing one.
func cliEnv(t *testing.T, o state.Options) *env {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, config: filepath.Join(dir, "rffmpeg.yml"), log: filepath.Join(dir, "rffmpeg.log")}
	cfg := fmt.Sprintf("rffmpeg:\n  logging:\n    logfile: %s\n  directories:\n    state: %s\n    persist: %s\n  commands:\n    fallback_ffmpeg: /usr/bin/ffmpeg\n", e.log, dir, dir)
	if o.Backend == "sqlite" {
		cfg += "  database:\n    path: " + o.Path + "\n"
	} else {
		// The original's way: environment variables select PostgreSQL.
		e.extra = []string{"RFFMPEG_POSTGRES_USER=" + o.User, "RFFMPEG_POSTGRES_PASS=" + o.Password,
			"RFFMPEG_POSTGRES_HOST=" + o.Host, "RFFMPEG_POSTGRES_PORT=" + strconv.Itoa(o.Port), "RFFMPEG_POSTGRES_DB=" + o.Name}
	}
	os.WriteFile(e.config, []byte(cfg), 0o644)
	return e
}

func (e *env) expect(code int, want string, args ...string) string {
	e.t.Helper()
	r := e.run("rffmpeg", nil, args...)
	out := string(r.stdout) + string(r.stderr)
	if r.code != code || !strings.Contains(out, want) {
		e.t.Errorf("rffmpeg %s: exit %d, want %d; output %q lacks %q", strings.Join(args, " "), r.code, code, out, want)
	}
	if code != 0 && !oneLineError(string(r.stderr)) {
		e.t.Errorf("rffmpeg %s: error is not one line (and a hint): %q", strings.Join(args, " "), r.stderr)
	}
	return out
}

// oneLineError: an error is one line; a usage error one line and a hint
// ("Try 'rffmpeg add -h'."); only rffmpeg alone prints the whole usage.
func oneLineError(stderr string) bool {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	switch {
	case strings.HasPrefix(stderr, "Usage:"):
		return true
	case len(lines) == 2:
		return strings.HasPrefix(lines[1], "Try 'rffmpeg")
	}
	return len(lines) == 1
}

// Every verb on a database the Python rffmpeg left behind, on SQLite and on
// PostgreSQL.
func TestEveryVerbOnOriginalDatabase(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			o := b.New(t)
			statetest.CreateOriginal(t, o, false) // from before server names existed
			// A job the original is running right now, with a live PID.
			sleeper := exec.Command("sleep", "60")
			sleeper.Start()
			defer sleeper.Process.Kill()
			raw := statetest.Raw(t, o)
			q := "INSERT INTO processes (host_id, process_id, cmd) VALUES (2, %d, 'ffmpeg -i /media/live.mkv')"
			if _, err := raw.Exec(fmt.Sprintf(q, sleeper.Process.Pid)); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			e := cliEnv(t, o)

			out := e.expect(0, "gpu2.lan", "status")
			for _, want := range []string{"Hostname", "Servername", "Active Commands", fmt.Sprintf("PID %d: ffmpeg -i /media/live.mkv", sleeper.Process.Pid), "localhost"} {
				if !strings.Contains(out, want) {
					t.Errorf("status lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "999991") {
				t.Errorf("status shows a dead process row:\n%s", out)
			}
			var st statusJSON
			if err := json.Unmarshal([]byte(e.expect(0, `"schema": 1`, "status", "--json")), &st); err != nil || len(st.Hosts) != 3 {
				t.Fatalf("status --json: %v %+v", err, st)
			}
			if st.Hosts[1].Servername != "gpu2.lan" || st.Hosts[1].Weight != 4 || len(st.Hosts[1].Processes) != 1 {
				t.Errorf("migrated host 2: %+v", st.Hosts[1])
			}

			e.expect(0, "Added host 'gpu3.lan' (gpu3) with id 4 and weight 2", "add", "--no-check", "-w", "2", "-n", "gpu3", "gpu3.lan")
			e.expect(1, "pick another with -n NAME", "add", "--no-check", "--name=gpu3", "gpu4.lan")
			e.expect(1, "weight 0: must be a whole number of at least 1", "add", "-w", "0", "gpu5.lan")
			e.expect(2, "is not a whole number", "add", "-w", "lots", "gpu5.lan")
			e.expect(0, "now has weight 3", "weight", "gpu3", "3")
			e.expect(1, "weight -3: must be a whole number of at least 1", "weight", "gpu3", "-3")
			e.expect(1, `no host with id, server name or hostname "nope"`, "weight", "nope", "2")
			e.expect(0, "Draining host 'gpu3.lan'", "drain", "gpu3")
			e.expect(0, "draining", "status")
			e.expect(0, "takes new jobs again", "undrain", "4")
			e.expect(0, "Cleared 1 process rows", "clear", "gpu2.lan")
			e.expect(0, "Removed host 'gpu1.lan' (gpu1.lan) with id 1", "remove", "1")
			e.expect(0, "Removed host 'gpu3.lan' (gpu3) with id 4", "remove", "gpu3")
			e.expect(0, "Removed host 'gpu2.lan'", "remove", "gpu2.lan")
			e.expect(1, "no host with id, server name or hostname", "remove", "gpu2.lan")
			e.expect(0, "Cleared", "clear")

			// run: the one host left is localhost, which runs here under its own id.
			r := e.run("rffmpeg", nil, "run", "sh", "-c", "echo out; echo err >&2; exit 7")
			if r.code != 7 || string(r.stdout) != "out\n" || string(r.stderr) != "err\n" {
				t.Errorf("run: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			r = e.run("rffmpeg", nil, "run", "--stderr-as-stdout", "echo", "routed")
			if string(r.stdout) != "" || string(r.stderr) != "routed\n" {
				t.Errorf("run --stderr-as-stdout: stdout %q stderr %q", r.stdout, r.stderr)
			}

			// log: the original's format, and -f follows new lines.
			out = e.expect(0, "Finished rffmpeg with return code 7", "log")
			if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - rffmpeg\[\d+\] - INFO - Starting rffmpeg as rffmpeg run with args: sh -c`).MatchString(out) {
				t.Errorf("log format:\n%s", out)
			}
			follow := e.cmd("rffmpeg", "log", "-f")
			pipe, _ := follow.StdoutPipe()
			follow.Start()
			time.Sleep(300 * time.Millisecond)
			e.run("rffmpeg", nil, "run", "true")
			line := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(pipe)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "run with args: true") {
						line <- sc.Text()
						return
					}
				}
			}()
			select {
			case <-line:
			case <-time.After(3 * time.Second):
				t.Errorf("log -f did not show the new line")
			}
			follow.Process.Signal(syscall.SIGINT)
			if err := follow.Wait(); err != nil {
				t.Errorf("log -f after SIGINT: %v", err)
			}

			out = e.expect(0, "remote.persist", "config")
			if b.Name == "postgresql" && !strings.Contains(out, `"postgresql"`) {
				t.Errorf("config does not show postgresql from the environment:\n%s", out)
			}
			var cj struct {
				Settings []struct{ Key, Source string }
			}
			json.Unmarshal([]byte(e.expect(0, `"settings"`, "config", "--json")), &cj)
			if len(cj.Settings) < 20 {
				t.Errorf("config --json: %d settings", len(cj.Settings))
			}

			// init refuses to wipe hosts without confirmation (no TTY here).
			e.expect(0, "Added host", "add", "--no-check", "keep.lan")
			e.expect(1, "init cancelled: nothing was changed", "init", "--no-root")
			e.expect(0, "keep.lan", "status")
			e.expect(0, "Initialized", "init", "--no-root", "-y")
			if out := e.expect(0, "Hostname", "status"); strings.Contains(out, "keep.lan") {
				t.Errorf("init -y kept hosts:\n%s", out)
			}
		})
	}
}

func TestHelpEverywhere(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, c := range []string{"init", "status", "add", "remove", "weight", "drain", "undrain", "set", "clear", "log", "run", "config", "tui"} {
		for _, h := range []string{"-h", "--help"} {
			e.expect(0, "Usage: rffmpeg "+c, c, h)
		}
	}
	for _, c := range []string{"init", "status", "add", "remove", "weight", "drain", "undrain", "clear", "log", "run", "config", "tui", "version"} {
		e.expect(0, "-h, --help", c, "-h")
	}
	e.expect(0, "-w, --weight N    the host's weight", "add", "-h")
	e.expect(0, "max_jobs=N", "set", "-h")
	e.expect(0, "(default 1)", "add", "-h")
	e.expect(0, "Commands:", "--help")
	e.expect(2, "Usage: rffmpeg COMMAND")
	e.expect(2, "no such command", "frobnicate")
	e.expect(2, "rffmpeg add: missing argument HOST\nTry 'rffmpeg add -h'.\n", "add")
	e.expect(2, "no such option: --bogus", "status", "--bogus")
	e.expect(2, "unexpected argument", "remove", "a", "b")
	e.expect(1, "tui needs a terminal", "tui")
	// The version needs no configuration and names the embedded SQLite.
	e.extra = []string{"RFFMPEG_CONFIG=/nonexistent.yml"}
	for _, v := range [][]string{{"--version"}, {"version"}} {
		out := e.expect(0, "rffmpeg dev\ncommit ", v...)
		if !regexp.MustCompile(`\ngo1\.\d+.*\nSQLite 3\.\d+`).MatchString(out) {
			t.Errorf("rffmpeg %s: %q", v[0], out)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, tc := range []struct{ yaml, want string }{
		{"rffmpeg:\n  logging:\n    debug: [\n", "line 3 column 12: invalid YAML"},
		{"rffmpeg:\n\tlogging:\n", "line 2 column 1: tab character"},
		{"rffmpeg:\n  remote:\n    persist: soon\n", "rffmpeg.remote.persist must be a whole number"},
	} {
		os.WriteFile(e.config, []byte(tc.yaml), 0o644)
		e.expect(1, tc.want, "status")
	}
	os.WriteFile(e.config, []byte("rffmpeg:\n  logging:\n    debgu: true\n"), 0o644)
	e.expect(0, "unknown key rffmpeg.logging.debgu", "config")
	// Missing database: one line naming the fix.
	os.WriteFile(e.config, []byte(fmt.Sprintf("rffmpeg:\n  directories:\n    state: %s/none\n", e.dir)), 0o644)
	e.expect(1, "does not exist; create it with 'sudo rffmpeg init'", "status")
	// Not an rffmpeg database.
	junk := filepath.Join(e.dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 100)), 0o644)
	os.WriteFile(e.config, []byte("rffmpeg:\n  database:\n    path: "+junk+"\n"), 0o644)
	e.expect(1, "is not an rffmpeg database", "status")
	// Unreachable PostgreSQL: where, and why.
	e.extra = []string{"RFFMPEG_POSTGRES_USER=u", "RFFMPEG_POSTGRES_HOST=127.0.0.1", "RFFMPEG_POSTGRES_PORT=1"}
	e.expect(1, "connect to postgresql at 127.0.0.1:1", "status")
}

// init as root: the state directory and database belong to the configured
// owner and group, 0770 and 0660.
func TestInitOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	needRig(t) // creates the test user
	e := newEnv(t, nil, nil)
	state := filepath.Join(e.dir, "owned")
	os.WriteFile(e.config, []byte(fmt.Sprintf("rffmpeg:\n  directories:\n    state: %s\n    owner: %s\n    group: %s\n", state, testUser, testUser)), 0o644)
	e.expect(0, "Initialized", "init", "-y")
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{state, 0o770}, {filepath.Join(state, "rffmpeg.db"), 0o660}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != p.mode || st.Uid == 0 || st.Gid == 0 {
			t.Errorf("%s: mode %v uid %d gid %d", p.path, fi.Mode().Perm(), st.Uid, st.Gid)
		}
	}
	// The owner can use it.
	cmd := exec.Command("su", testUser, "-s", "/bin/sh", "-c", filepath.Join(binDir, "rffmpeg")+" add --no-check owned.lan")
	cmd.Env = append(os.Environ(), "RFFMPEG_CONFIG="+e.config)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("owner cannot write: %v %s", err, out)
	}
	// Anyone else is told whom to become or which group to join.
	cmd = exec.Command("su", "nobody", "-s", "/bin/sh", "-c", filepath.Join(binDir, "rffmpeg")+" status")
	cmd.Env = append(os.Environ(), "RFFMPEG_CONFIG="+e.config)
	out, err := cmd.CombinedOutput()
	want := fmt.Sprintf("belongs to %s:%s; join the group with 'sudo usermod -aG %s $USER' and log in again, or run as 'sudo -u %s rffmpeg …'", testUser, testUser, testUser, testUser)
	if err == nil || !strings.Contains(string(out), want) || !oneLineError(string(out)) {
		t.Errorf("status as nobody: %v %q lacks %q", err, out, want)
	}
}
