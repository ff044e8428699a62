package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
)

// WriteMan writes the rffmpeg(1) manual page (man(7) roff) from the same
// command table the CLI parses with, so the page cannot drift from -h: every
// verb with its synopsis, help and options (with their defaults), and every
// configuration key with its default from internal/config. date is the
// page's date (SOURCE_DATE_EPOCH in a package build, so builds reproduce).
func WriteMan(w io.Writer, version string, date time.Time) error {
	m := &roff{w: w}
	m.line(`.TH RFFMPEG 1 %s %s "User Commands"`, quoteArg(date.UTC().Format("2006-01-02")), quoteArg("rffmpeg "+version))
	// No hyphenation, no justification: option names must not break or stretch.
	m.line(".nh")
	m.line(".nr HY 0")
	m.line(".ad l")
	m.section("NAME")
	m.text("rffmpeg \\- run ffmpeg and ffprobe on remote transcode hosts over SSH")
	m.section("SYNOPSIS")
	m.line(`.B rffmpeg`)
	m.line(`.I command`)
	m.line(`.RI [ options ]`)
	m.line(`.RI [ arguments ]`)
	m.line(`.br`)
	m.line(`.B /usr/lib/rffmpeg/ffmpeg`)
	m.line(`.RI [ "ffmpeg arguments" ]`)
	m.line(`.br`)
	m.line(`.B /usr/lib/rffmpeg/ffprobe`)
	m.line(`.RI [ "ffprobe arguments" ]`)
	m.section("DESCRIPTION")
	m.plain("rffmpeg is one binary with three faces, chosen by the name it is called by. Called as " +
		"ffmpeg or ffprobe (the symlinks in /usr/lib/rffmpeg), it is a drop-in ffmpeg: each call picks the " +
		"least busy transcode host from the shared state database, runs the real ffmpeg there over SSH and " +
		"behaves like a local ffmpeg (same bytes on stdout and stderr, same exit code, stdin and signals " +
		"passed through, no remote process left behind). With no usable host it runs the local ffmpeg. " +
		"Point the media server at /usr/lib/rffmpeg/ffmpeg (Jellyfin: --ffmpeg /usr/lib/rffmpeg/ffmpeg); " +
		"it finds ffprobe beside it.")
	m.pp()
	m.plain("Called as rffmpeg, it is the admin command line below. Start with 'rffmpeg init' (as root), " +
		"then 'rffmpeg add HOST' for each transcode host, and 'rffmpeg doctor' to check the setup.")
	m.section("COMMANDS")
	for _, c := range commands() {
		m.command(c)
	}
	m.agent()
	m.section("GLOBAL OPTIONS")
	m.option("-h, --help", "show the usage, or a command's help after the command, and exit")
	m.option("-V, --version", "show the version and exit (as 'rffmpeg version')")
	m.configuration()
	m.trailer()
	return m.err
}

// command documents one verb: the synopsis line as -h prints it, the short
// and long help, then every option with its default.
func (m *roff) command(c command) {
	m.line(".SS %s", quoteArg(strings.TrimSpace("rffmpeg "+c.name+" "+c.args)))
	m.plain(c.short + ".")
	if c.long != "" {
		m.pp()
		m.plain(c.long)
	}
	for _, f := range c.flags {
		help := f.help
		if f.def != "" {
			help += " (default " + f.def + ")"
		}
		m.option(strings.TrimSpace(f.names()), help)
	}
}

// agent documents the verb cmd/rffmpeg dispatches before the CLI (it runs
// on the transcode host, under an SSH forced command, and has its own
// parser in internal/agent).
func (m *roff) agent() {
	m.line(".SS %s", quoteArg("rffmpeg agent [--ffmpeg PATH] [--ffprobe PATH] [--allow-env NAME]..."))
	m.plain("On a transcode host: the forced command of the media server's key in authorized_keys. " +
		"It runs only the allowlisted ffmpeg and ffprobe from a request read as data, never a shell, e.g.")
	m.line(".RS")
	m.line(".EX")
	m.text(escapeRoff(`restrict,command="/usr/bin/rffmpeg agent --ffmpeg /usr/lib/jellyfin-ffmpeg/ffmpeg --ffprobe /usr/lib/jellyfin-ffmpeg/ffprobe" ssh-ed25519 AAAA...`))
	m.line(".EE")
	m.line(".RE")
	m.pp()
	m.plain("'rffmpeg agent -h' prints its usage.")
}

// configuration lists every key with its default, read from internal/config
// itself (the sample /etc/rffmpeg/rffmpeg.yml carries the same list).
func (m *roff) configuration() {
	m.section("CONFIGURATION")
	m.plain("/etc/rffmpeg/rffmpeg.yml, or the file named by RFFMPEG_CONFIG; no file means every default. " +
		"Everything sits under a top-level 'rffmpeg:' key, in sections; a missing key takes its default. " +
		"'rffmpeg config' shows the effective value of each key and where it came from. The keys and their defaults:")
	def, err := config.Parse(nil, func(string) (string, bool) { return "", false })
	if err != nil {
		m.fail(fmt.Errorf("man page: default configuration: %w", err))
		return
	}
	width := 0
	for _, e := range def.Entries() {
		width = max(width, len(e.Key))
	}
	m.line(".PP")
	m.line(".RS")
	m.line(".EX")
	for _, e := range def.Entries() {
		m.plain(fmt.Sprintf("%-*s  %s", width, e.Key, yamlValue(e.Value)))
	}
	m.line(".EE")
	m.line(".RE")
}

func (m *roff) trailer() {
	m.section("ENVIRONMENT")
	m.option("RFFMPEG_CONFIG", "the configuration file (default /etc/rffmpeg/rffmpeg.yml)")
	m.option("RFFMPEG_POSTGRES_USER", "set: use PostgreSQL instead of SQLite, as this user")
	m.option("RFFMPEG_POSTGRES_DB, _PASS, _PORT, _HOST", "the PostgreSQL database (default rffmpeg), password, port (5432) and host (localhost)")
	m.option("PAGER", "the pager of 'rffmpeg log' (default less)")
	m.section("FILES")
	m.option("/etc/rffmpeg/rffmpeg.yml", "the configuration")
	m.option("/var/lib/rffmpeg/rffmpeg.db", "the state database (directories.state), created by 'rffmpeg init'")
	m.option("/var/lib/rffmpeg/known_hosts", "the transcode hosts' SSH keys, recorded on first use")
	m.option("/var/log/jellyfin/rffmpeg.log", "the log (logging.logfile)")
	m.option("/usr/lib/rffmpeg/ffmpeg, /usr/lib/rffmpeg/ffprobe", "the symlinks the media server calls; they never shadow a system ffmpeg")
	m.section("EXIT STATUS")
	m.option("0", "done")
	m.option("1", "the operation failed (unknown host, invalid weight, database trouble); doctor: a check failed")
	m.option("2", "the command line was wrong (one line and a hint on stderr)")
	m.pp()
	m.plain("'rffmpeg run' and the ffmpeg and ffprobe symlinks exit with the command's own code " +
		"(128+N when it was killed by signal N).")
	m.section("SEE ALSO")
	m.line(".BR ffmpeg (1),")
	m.line(".BR ffprobe (1),")
	m.line(".BR ssh (1),")
	m.line(".BR ssh_config (5),")
	m.line(".BR sshd (8)")
}

// yamlValue shows a default the way the configuration file spells it.
func yamlValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// roff writes man(7) lines, keeping the first write error.
type roff struct {
	w   io.Writer
	err error
}

func (m *roff) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

func (m *roff) line(format string, args ...any) {
	if m.err != nil {
		return
	}
	_, err := fmt.Fprintf(m.w, format+"\n", args...)
	m.fail(err)
}

// text writes already escaped text, one roff line per line, each guarded so
// a line starting with a period or an apostrophe is text, not a request.
func (m *roff) text(s string) {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		m.line("%s", l)
	}
}

// plain writes prose from the help texts, escaped.
func (m *roff) plain(s string) { m.text(escapeRoff(s)) }

func (m *roff) section(name string) { m.line(".SH %s", name) }

func (m *roff) pp() { m.line(".PP") }

// option is a tagged paragraph: the tag in bold, then the help as prose.
func (m *roff) option(tag, help string) {
	m.line(".TP")
	m.text(`\fB` + escapeRoff(tag) + `\fR`)
	m.plain(help)
}

// escapeRoff makes help text literal in roff: a backslash is \e, and every
// '-' is \- so options stay ASCII hyphen-minus when copied from the
// rendered page (a bare '-' may become a typographic hyphen).
func escapeRoff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// quoteArg makes s one argument of a roff request: double quotes inside are
// written as \(dq, and text is escaped.
func quoteArg(s string) string {
	return `"` + strings.ReplaceAll(escapeRoff(s), `"`, `\(dq`) + `"`
}
