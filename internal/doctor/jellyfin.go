package doctor

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/safefs"
)

// JellyfinFiles says where to look for the media server's ffmpeg setting
// (tests point these at a directory of fake files).
type JellyfinFiles struct {
	// Systemctl is the systemctl program; "" (or not installed) reads Units
	// directly instead of asking `systemctl cat`.
	Systemctl string
	Unit      string // the unit's name, "jellyfin"
	// Units are read in order, a later file overriding an earlier one, as
	// systemd does with a unit and its drop-ins; globs are expanded.
	Units       []string
	Defaults    string   // /etc/default/jellyfin (JELLYFIN_FFMPEG_OPT)
	EncodingXML []string // Jellyfin's encoding.xml, the first that exists
}

// DefaultJellyfinFiles are the places the Jellyfin packages use.
func DefaultJellyfinFiles() JellyfinFiles {
	f := JellyfinFiles{Unit: "jellyfin",
		Units: []string{"/lib/systemd/system/jellyfin.service", "/usr/lib/systemd/system/jellyfin.service",
			"/etc/systemd/system/jellyfin.service", "/etc/systemd/system/jellyfin.service.d/*.conf"},
		Defaults:    "/etc/default/jellyfin",
		EncodingXML: []string{"/etc/jellyfin/encoding.xml", "/var/lib/jellyfin/config/encoding.xml", "/config/encoding.xml"},
	}
	if p, err := exec.LookPath("systemctl"); err == nil {
		f.Systemctl = p
	}
	return f
}

// jellyfinSetting is what Jellyfin will run as ffmpeg, and why.
type jellyfinSetting struct {
	Found    bool     // some trace of a Jellyfin installation
	Looked   []string // where we looked, for the message when nothing was found
	Path     string   // the ffmpeg Jellyfin runs ("" when it searches its PATH)
	Source   string   // where Path was set
	LastUsed string   // encoding.xml EncoderAppPathDisplay: what it used last time it started
	TMPDIR   string   // TMPDIR in the unit's environment (Jellyfin 10.10+ writes images under $TMPDIR/jellyfin)
}

// unitInfo is what matters in a service unit.
type unitInfo struct {
	ExecStart string
	Env       map[string]string
	EnvFiles  []string
	From      string // the file that set ExecStart
}

// parseUnit folds a unit's text (one file, a drop-in, or `systemctl cat`
// output with its "# /path" headers) into u.
func parseUnit(u *unitInfo, text, from string) {
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "# /") {
			from = strings.TrimPrefix(line, "# ") // systemctl cat names each file
			continue
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = line
			continue
		}
		if section != "[Service]" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "ExecStart":
			// An empty assignment resets the list (how a drop-in replaces it).
			u.ExecStart, u.From = v, from
		case "Environment":
			for _, w := range splitWords(v) {
				if name, val, ok := strings.Cut(w, "="); ok {
					u.Env[name] = val
				}
			}
		case "EnvironmentFile":
			u.EnvFiles = append(u.EnvFiles, strings.TrimPrefix(v, "-"))
		}
	}
}

// splitWords splits like systemd and a shell do for our purpose: spaces
// separate words, double or single quotes group them.
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, in = r, true
		case quote == 0 && (r == ' ' || r == '\t'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// readEnvFile reads KEY=value lines (an EnvironmentFile or /etc/default).
func readEnvFile(path string, into map[string]string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if w := splitWords(v); len(w) > 0 {
			v = strings.Join(w, " ")
		} else {
			v = ""
		}
		into[strings.TrimSpace(k)] = v
	}
	return true
}

// expand replaces $VAR and ${VAR} as systemd does in ExecStart.
func expand(s string, env map[string]string) string {
	return os.Expand(s, func(k string) string { return env[k] })
}

// ffmpegArg finds --ffmpeg X or --ffmpeg=X among the words.
func ffmpegArg(words []string) (string, bool) {
	for i, w := range words {
		if v, ok := strings.CutPrefix(w, "--ffmpeg="); ok {
			return v, true
		}
		if w == "--ffmpeg" && i+1 < len(words) {
			return words[i+1], true
		}
	}
	return "", false
}

// unitText is the unit and its drop-ins, from systemctl or from the files.
func unitText(ctx context.Context, f JellyfinFiles) (text string, looked []string) {
	if f.Systemctl != "" {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, f.Systemctl, "cat", "--no-pager", f.Unit).Output()
		looked = append(looked, "systemctl cat "+f.Unit)
		if err == nil && len(out) > 0 {
			return string(out), looked
		}
	}
	var b strings.Builder
	for _, pat := range f.Units {
		looked = append(looked, pat)
		matches, _ := filepath.Glob(pat)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			b.WriteString("# " + m + "\n" + string(data) + "\n")
		}
	}
	return b.String(), looked
}

type encodingXML struct {
	EncoderAppPath        string
	EncoderAppPathDisplay string
}

// discoverJellyfin applies Jellyfin's own order: --ffmpeg on its command
// line, else the JELLYFIN_FFMPEG environment variable, else EncoderAppPath
// in encoding.xml, else "ffmpeg" from its PATH.
func discoverJellyfin(ctx context.Context, f JellyfinFiles) jellyfinSetting {
	var s jellyfinSetting
	u := unitInfo{Env: map[string]string{}}
	text, looked := unitText(ctx, f)
	s.Looked = looked
	if strings.TrimSpace(text) != "" {
		s.Found = true
		parseUnit(&u, text, "the jellyfin unit")
	}
	env := map[string]string{}
	files := u.EnvFiles
	if len(files) == 0 && f.Defaults != "" {
		files = []string{f.Defaults} // the packages' file, read by their unit
	}
	for _, ef := range files {
		s.Looked = append(s.Looked, ef)
		if readEnvFile(ef, env) {
			s.Found = true
		}
	}
	// systemd: a variable set by both EnvironmentFile= and Environment= takes
	// the file's value.
	for k, v := range u.Env {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	if u.ExecStart != "" {
		if p, ok := ffmpegArg(splitWords(expand(u.ExecStart, env))); ok {
			s.Path, s.Source = p, "--ffmpeg in ExecStart ("+u.From+")"
			if strings.Contains(u.ExecStart, "$") {
				s.Source = "--ffmpeg in ExecStart (" + u.From + ", with variables from " + strings.Join(files, ", ") + ")"
			}
		}
	}
	s.TMPDIR = env["TMPDIR"]
	if s.Path == "" && env["JELLYFIN_FFMPEG"] != "" {
		s.Path, s.Source = env["JELLYFIN_FFMPEG"], "JELLYFIN_FFMPEG in the unit's environment"
	}
	for _, x := range f.EncodingXML {
		s.Looked = append(s.Looked, x)
		data, err := readSmall(x)
		if err != nil {
			continue
		}
		s.Found = true
		var e encodingXML
		if xml.Unmarshal(data, &e) == nil {
			s.LastUsed = strings.TrimSpace(e.EncoderAppPathDisplay)
			if s.Path == "" && strings.TrimSpace(e.EncoderAppPath) != "" {
				s.Path, s.Source = strings.TrimSpace(e.EncoderAppPath), "<EncoderAppPath> in "+x
			}
		}
		break
	}
	return s
}

// jellyfinChecks finds and judges the setting against this binary (exe).
func jellyfinChecks(ctx context.Context, f JellyfinFiles, exe string) []Check {
	return judgeJellyfin(discoverJellyfin(ctx, f), exe)
}

// judgeJellyfin: the path Jellyfin runs must be this binary, under a name
// that makes it the ffmpeg shim, with the ffprobe shim beside it.
func judgeJellyfin(s jellyfinSetting, exe string) []Check {
	mk := func(name string, st Status, msg, fix string) Check {
		return Check{Section: SectionJellyfin, Name: name, Status: st, Message: msg, Fix: fix}
	}
	link := func(dir string) string {
		return fmt.Sprintf("ln -s %s %s/ffmpeg && ln -s %s %s/ffprobe", shellWord(exe), dir, shellWord(exe), dir)
	}
	if !s.Found {
		return []Check{mk("jellyfin", Warn, "no Jellyfin installation found here (looked at "+strings.Join(s.Looked, ", ")+")",
			"if Jellyfin runs elsewhere (a container), start it with --ffmpeg or JELLYFIN_FFMPEG naming an ffmpeg symlink to rffmpeg")}
	}
	fixOpt := "set JELLYFIN_FFMPEG_OPT=\"--ffmpeg=/usr/lib/rffmpeg/ffmpeg\" in /etc/default/jellyfin (after " + link("/usr/lib/rffmpeg") + "), then systemctl restart jellyfin"
	if s.Path == "" {
		return []Check{mk("ffmpeg setting", Fail, "Jellyfin has no --ffmpeg, JELLYFIN_FFMPEG or EncoderAppPath: it runs the ffmpeg in its PATH", fixOpt)}
	}
	out := []Check{mk("ffmpeg setting", OK, s.Path+" (from "+s.Source+")", "")}
	if s.LastUsed != "" && s.LastUsed != s.Path {
		out = append(out, mk("ffmpeg in use", Warn, "Jellyfin last started with "+s.LastUsed+" (EncoderAppPathDisplay), not "+s.Path,
			"systemctl restart jellyfin"))
	}
	out = append(out, isUs("ffmpeg", s.Path, exe, fixOpt))
	probe := filepath.Join(filepath.Dir(s.Path), "ffprobe")
	c := isUs("ffprobe", probe, exe, "ln -s "+shellWord(exe)+" "+shellWord(probe))
	if c.Status == Fail {
		c.Message += " (Jellyfin runs the ffprobe beside its ffmpeg)"
	}
	return append(out, c)
}

// isUs checks that path runs this binary under a name that selects the
// right face (the base name decides: ffmpeg, ffprobe, or the admin CLI).
func isUs(tool, path, exe, fix string) Check {
	c := Check{Section: SectionJellyfin, Name: tool + " is rffmpeg"}
	fi, err := os.Stat(path)
	if err != nil {
		c.Status, c.Message, c.Fix = Fail, fmt.Sprintf("%s: %v", path, unwrapPathErr(err)), fix
		return c
	}
	self, err := os.Stat(exe)
	if err != nil || !os.SameFile(fi, self) {
		target, _ := filepath.EvalSymlinks(path)
		c.Status, c.Fix = Fail, fix
		c.Message = fmt.Sprintf("%s is %s, not rffmpeg (%s): %s calls run locally", path, target, exe, tool)
		return c
	}
	base := filepath.Base(path)
	if !strings.Contains(base, tool) || strings.Contains(base, "rffmpeg") {
		c.Status, c.Fix = Fail, fix
		c.Message = fmt.Sprintf("%s is rffmpeg, but its name %q does not make it act as %s", path, base, tool)
		return c
	}
	c.Status, c.Message = OK, path+" runs "+exe
	return c
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// readSmall reads a file the media server's account can write, as root:
// a regular file only (a planted FIFO must not hang the doctor), at most
// 4 MiB.
func readSmall(path string) ([]byte, error) {
	f, err := safefs.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}
