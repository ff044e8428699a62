package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/cli"
	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// The scripts in testdata/*.txtar drive cli.Main in process, on a real
// SQLite file and (unless the script says "skip postgresql") on a real
// PostgreSQL database. The language, one command a line:
//
//	rffmpeg ARGS…         run the CLI; it must exit 0
//	! rffmpeg ARGS…       it must fail; "code N" then checks the code
//	code N                the last run's exit code is N
//	stdout RE / stderr RE the last run's output matches RE (! negates)
//	cmp stdout FILE       the last run's stdout is FILE exactly
//	log RE                the rffmpeg log file matches RE (! negates)
//	sql "STATEMENT"       run SQL on the database as another program would
//	write FILE            write FILE into $WORK
//	env K=V               set an environment variable for later runs
//	tty                   stdin and stdout are terminals from now on
//	stdin TEXT            what the next run reads on stdin (Go-quoted)
//
// Words are split on blanks; "double quotes" take Go escapes (\x1b, \n),
// 'single quotes' are literal. $WORK, $DB, $LOG, $PID, $NOWMS (the fixed
// clock in Unix milliseconds), $MACHINE and $BOOT (this machine and boot, as
// owner identities name them) are replaced. Files follow "-- name --" lines.

// scriptNow is the scripts' clock.
var scriptNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, b := range statetest.Backends(t) {
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txtar")
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				script, files := splitTxtar(string(data))
				if b.Name == "postgresql" && strings.Contains(script, "\nskip postgresql\n") {
					t.Skip("script is for SQLite only")
				}
				newScript(t, b, files).run(script)
			})
		}
	}
}

// splitTxtar parses the txtar format: a comment (the script), then files.
func splitTxtar(s string) (string, map[string]string) {
	files := map[string]string{}
	re := regexp.MustCompile(`(?m)^-- (.+) --$\n?`)
	locs := re.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return "\n" + s, files
	}
	for i, l := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		files[s[l[2]:l[3]]] = s[l[1]:end]
	}
	return "\n" + s[:locs[0][0]], files
}

type script struct {
	t      *testing.T
	b      statetest.Backend
	opts   state.Options
	files  map[string]string
	work   string
	env    map[string]string
	vars   map[string]string
	tty    bool
	stdin  string
	stdout string
	stderr string
	code   int
	ran    bool
	runs   []string // what the RunJob hook saw
}

func newScript(t *testing.T, b statetest.Backend, files map[string]string) *script {
	s := &script{t: t, b: b, files: files, work: t.TempDir(), env: map[string]string{}}
	s.opts = b.New(t)
	cfg := fmt.Sprintf("rffmpeg:\n  logging:\n    logfile: %s\n  directories:\n    state: %s\n    persist: %s\n",
		filepath.Join(s.work, "rffmpeg.log"), s.work, s.work)
	if s.opts.Backend == "sqlite" {
		cfg += "  database:\n    path: " + s.opts.Path + "\n"
	} else {
		for k, v := range map[string]string{"RFFMPEG_POSTGRES_USER": s.opts.User, "RFFMPEG_POSTGRES_PASS": s.opts.Password,
			"RFFMPEG_POSTGRES_HOST": s.opts.Host, "RFFMPEG_POSTGRES_PORT": strconv.Itoa(s.opts.Port), "RFFMPEG_POSTGRES_DB": s.opts.Name} {
			s.env[k] = v
		}
	}
	s.env["RFFMPEG_CONFIG"] = filepath.Join(s.work, "rffmpeg.yml")
	if err := os.WriteFile(s.env["RFFMPEG_CONFIG"], []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.vars = map[string]string{"$WORK": s.work, "$DB": s.opts.Describe(), "$LOG": filepath.Join(s.work, "rffmpeg.log"),
		"$PID": strconv.Itoa(os.Getpid()), "$NOWMS": strconv.FormatInt(scriptNow.UnixMilli(), 10),
		"$MACHINE": owner.Machine(), "$BOOT": owner.Self().Boot}
	return s
}

func (s *script) expand(w string) string {
	for k, v := range s.vars {
		w = strings.ReplaceAll(w, k, v)
	}
	return w
}

func (s *script) run(text string) {
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || line == "skip postgresql" {
			continue
		}
		words, err := splitWords(line)
		if err != nil {
			s.t.Fatalf("line %d: %v", n, err)
		}
		for i := range words {
			words[i] = s.expand(words[i])
		}
		neg := words[0] == "!"
		if neg {
			words = words[1:]
		}
		if err := s.exec(neg, words); err != nil {
			s.t.Errorf("line %d: %s: %v", n, line, err)
			if words[0] == "rffmpeg" || words[0] == "sql" {
				s.t.FailNow()
			}
		}
	}
}

func (s *script) exec(neg bool, w []string) error {
	switch w[0] {
	case "rffmpeg":
		s.cli(w[1:])
		if neg != (s.code != 0) {
			return fmt.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", s.code, s.stdout, s.stderr)
		}
	case "code":
		if want, _ := strconv.Atoi(w[1]); s.code != want {
			return fmt.Errorf("exit %d, want %d; stderr %q", s.code, want, s.stderr)
		}
	case "stdout", "stderr", "log":
		got := s.stdout
		switch w[0] {
		case "stderr":
			got = s.stderr
		case "log":
			b, _ := os.ReadFile(s.vars["$LOG"])
			got = string(b)
		}
		if regexp.MustCompile(w[1]).MatchString(got) == neg {
			return fmt.Errorf("%s %q (negated %v) in:\n%s", w[0], w[1], neg, got)
		}
	case "cmp":
		want, ok := s.files[w[2]]
		if !ok {
			return fmt.Errorf("no file %s", w[2])
		}
		got := s.stdout
		if w[1] == "stderr" {
			got = s.stderr
		}
		if got != s.expand(want) {
			return fmt.Errorf("%s differs\ngot:\n%s\nwant:\n%s", w[1], got, s.expand(want))
		}
	case "sql":
		return s.sql(w[1])
	case "write":
		want, ok := s.files[w[1]]
		if !ok {
			return fmt.Errorf("no file %s", w[1])
		}
		return os.WriteFile(filepath.Join(s.work, w[1]), []byte(s.expand(want)), 0o644)
	case "env":
		k, v, _ := strings.Cut(w[1], "=")
		s.env[k] = v
	case "tty":
		s.tty = true
	case "stdin":
		s.stdin = w[1]
	default:
		return fmt.Errorf("unknown command %q", w[0])
	}
	return nil
}

func (s *script) sql(stmt string) error {
	db := statetest.Raw(s.t, s.opts)
	defer db.Close()
	_, err := db.Exec(stmt)
	return err
}

// lockedBuffer is a buffer the pager's copier and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (s *script) cli(args []string) {
	var out, errb lockedBuffer
	env := testEnv(s.env, &out, &errb)
	env.Stdin = strings.NewReader(s.stdin)
	env.StdinTTY, env.StdoutTTY = s.tty, s.tty
	env.RunJob = func(c *config.Config, prog string, args []string, toStderr bool) int {
		fmt.Fprintf(env.Stdout, "RunJob %s %q stderr-as-stdout=%v\n", prog, args, toStderr)
		return 7
	}
	env.TUI = func(c *config.Config, o cli.TUIOptions) error {
		fmt.Fprintf(env.Stdout, "TUI on %s readonly=%v\n", c.DBPath(), o.ReadOnly)
		return nil
	}
	s.code = cli.Main(args, env)
	s.stdout, s.stderr, s.stdin = out.String(), errb.String(), ""
}

// testEnv is an Env with the scripts' clock and user.
func testEnv(vars map[string]string, out, errb *lockedBuffer) cli.Env {
	return cli.Env{
		Stdout: out, Stderr: errb,
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Now:       func() time.Time { return scriptNow },
		Who:       func() cli.Who { return cli.Who{User: "root", UID: 0, SudoUser: vars["SUDO_USER"]} },
		Geteuid:   func() int { return 1000 },
		Version:   "1.2.3-test",
		Interrupted: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Second)
		},
	}
}

// splitWords splits a script line into words.
func splitWords(line string) ([]string, error) {
	var words []string
	for line = strings.TrimLeft(line, " \t"); line != ""; line = strings.TrimLeft(line, " \t") {
		switch line[0] {
		case '"':
			end := 1
			for ; end < len(line) && line[end] != '"'; end++ {
				if line[end] == '\\' {
					end++
				}
			}
			if end >= len(line) {
				return nil, fmt.Errorf("unterminated quote")
			}
			w, err := strconv.Unquote(line[:end+1])
			if err != nil {
				return nil, err
			}
			words, line = append(words, w), line[end+1:]
		case '\'':
			end := strings.IndexByte(line[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			words, line = append(words, line[1:end+1]), line[end+2:]
		default:
			end := strings.IndexAny(line, " \t")
			if end < 0 {
				end = len(line)
			}
			words, line = append(words, line[:end]), line[end:]
		}
	}
	return words, nil
}
