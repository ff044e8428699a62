package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func completion(t *testing.T, shell string) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteCompletion(&b, shell); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// completionFile writes the script where a shell can source it.
func completionFile(t *testing.T, shell string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rffmpeg."+shell)
	if err := os.WriteFile(p, []byte(completion(t, shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// needShell finds a shell, or skips (fails when the suite is told every
// shell is installed).
func needShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RFFMPEG_TEST_REQUIRE_SHELLS") != "" {
			t.Fatalf("%s not installed (RFFMPEG_TEST_REQUIRE_SHELLS is set)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// arm is the part of a script that completes one verb: bash and zsh case
// arms, fish lines conditioned on the verb.
func arm(script, shell, verb string) string {
	switch shell {
	case "bash", "zsh":
		open := "\n    " + verb + ")\n"
		if shell == "zsh" {
			open = "\n  (" + verb + ")\n"
		}
		i := strings.Index(script, open)
		if i < 0 {
			return ""
		}
		rest := script[i+len(open):]
		return rest[:strings.Index(rest, ";;\n")]
	}
	var lines []string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "'__fish_seen_subcommand_from "+verb+"'") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// Every script offers every verb at the first word, and every option of a
// verb (both forms, plus -h/--help) after it.
func TestCompletionListsEveryVerbAndFlag(t *testing.T) {
	for _, shell := range Shells {
		script := completion(t, shell)
		if shell == "bash" {
			script = strings.Replace(script, "compgen -W '", "compgen -W ' ", 1)
		}
		for _, c := range commands() {
			var verb string
			switch shell {
			case "bash":
				verb = " " + c.name + " " // in the first word's list, padded below
			case "zsh":
				verb = shQuote(c.name + ":" + strings.ReplaceAll(c.short, ":", `\:`))
			case "fish":
				verb = "__fish_use_subcommand -a " + c.name + " -d " + fishQuote(c.short)
			}
			if !strings.Contains(script, verb) {
				t.Errorf("%s: verb %s not offered (want %q)", shell, c.name, verb)
			}
			a := arm(script, shell, c.name)
			if a == "" {
				t.Errorf("%s: no completion for the options of %s", shell, c.name)
				continue
			}
			for _, f := range withHelp(c.flags) {
				var want []string
				switch shell {
				case "bash":
					want = []string{"--" + f.long + " "}
					if f.short != "" {
						want = append(want, "-"+f.short)
					}
				case "zsh":
					want = []string{"--" + f.long + "[", "--" + f.long + "=["}
					if f.short != "" {
						want = append(want, "-"+f.short+"[", "-"+f.short+"+[")
					}
				case "fish":
					want = []string{" -l " + f.long + " "}
					if f.short != "" {
						want = append(want, " -s "+f.short+" -l "+f.long)
					}
				}
				found := 0
				for _, w := range want {
					if strings.Contains(a, w) {
						found++
					}
				}
				if need := map[bool]int{true: 1, false: 2}[f.short == ""]; found < need {
					t.Errorf("%s %s: option -%s/--%s missing from\n%s", shell, c.name, f.short, f.long, a)
				}
			}
		}
	}
	if err := WriteCompletion(&bytes.Buffer{}, "tcsh"); err == nil {
		t.Error("tcsh: no error for an unknown shell")
	}
}

// Each script parses in its own shell.
func TestCompletionSyntax(t *testing.T) {
	for _, shell := range Shells {
		t.Run(shell, func(t *testing.T) {
			sh := needShell(t, shell)
			out, err := exec.Command(sh, "-n", completionFile(t, shell)).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
}

// bash completes as a user types: the function runs with COMP_WORDS set
// the way readline sets them.
func TestBashCompletes(t *testing.T) {
	bash := needShell(t, "bash")
	file := completionFile(t, "bash")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "media"), 0o755)
	os.WriteFile(filepath.Join(dir, "movie.mkv"), nil, 0o644)
	for _, tc := range []struct{ words, want string }{
		{"rffmpeg ad", "add"},
		{"rffmpeg d", "drain doctor"},
		{"rffmpeg --v", "--version"},
		{"rffmpeg add --w", "--weight"},
		{"rffmpeg add -w ", ""}, // a value: nothing to offer
		{"rffmpeg clear --", "--bad --help"},
		{"rffmpeg log -", "--follow -f --help -h"},
		{"rffmpeg doctor --path " + dir + "/m", dir + "/media"},
		{"rffmpeg doctor --", "--path --json --help"},
		{"rffmpeg run --stderr-as-std", "--stderr-as-stdout"},
		{"rffmpeg run ls " + dir + "/m", ""}, // the command's own: readline's default (files)
		{"rffmpeg nosuch --", ""},
	} {
		words := strings.Split(tc.words, " ")
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rffmpeg; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, append([]string{"-c", script, "bash", file}, words...)...).Output()
		if err != nil {
			t.Fatalf("%q: %v", tc.words, err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.words, got, tc.want)
		}
	}
}

// fish completes from its own `complete -C`, which runs the conditions.
func TestFishCompletes(t *testing.T) {
	fish := needShell(t, "fish")
	file := completionFile(t, "fish")
	for _, tc := range []struct{ line, want string }{
		{"rffmpeg ad", "add\tAdd a transcode host"},
		{"rffmpeg add --we", "--weight\tthe host's weight: it takes N times the jobs of a weight-1 host"},
		{"rffmpeg clear --b", "--bad\tdelete only bad marks (default: process and state rows)"},
		{"rffmpeg status --", "--help\tshow this help and exit\n--json\tprint a JSON document (schema 1) instead of the table"},
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source $argv[1]; complete -C $argv[2]", file, tc.line).Output()
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		sort.Strings(lines)
		if got := strings.Join(lines, "\n"); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}
