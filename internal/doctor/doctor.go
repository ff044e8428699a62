// Package doctor diagnoses an rffmpeg installation the way a support thread
// would, in one run: the configuration and the state database as the
// service account sees them, the media server's ffmpeg setting, every
// transcode host (name, TCP, SSH login with the configured key, host key,
// remote ffmpeg and ffprobe, Jellyfin's startup probes with their timings,
// clock), and the paths that must be shared between this machine and the
// hosts. Each check ends ok, warn or fail, with a one-line fix.
//
// It reads the configuration and the database and runs ssh; it changes
// nothing but sentinel files it creates and removes, and the known_hosts
// entry and master connection the shim itself would create.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Options say what to check.
type Options struct {
	Env   config.Env // how the configuration is found (os.LookupEnv)
	Hosts []string   // hosts to check (server names or host names); none: every host in the state
	Paths []string   // directories that must be shared with the hosts (transcode, cache)
	// Exe is this rffmpeg binary (os.Executable()): Jellyfin's ffmpeg must
	// be a symlink to it, and the state is opened as the service account
	// by running it. "" skips those checks.
	Exe      string
	Jellyfin *JellyfinFiles // nil: DefaultJellyfinFiles()
}

// Run runs every check and returns the report; it never fails itself.
func Run(ctx context.Context, o Options) Report {
	var r Report
	add := func(cs ...Check) { r.Checks = append(r.Checks, cs...) }
	c, err := config.Load(o.Env)
	if err != nil {
		add(Check{Section: SectionConfig, Name: "configuration", Status: Fail, Message: err.Error(),
			Fix: "correct the file (rffmpeg config shows what was understood); nothing else can be checked until it loads"})
		return r
	}
	file := c.Path
	if file == "" {
		file = config.DefaultPath + " (absent: all defaults)"
	}
	add(Check{Section: SectionConfig, Name: "configuration", Status: OK, Message: "loaded " + file})
	for _, w := range c.Warnings {
		add(Check{Section: SectionConfig, Name: "configuration", Status: Warn, Message: w,
			Fix: "remove or correct the key (a misspelt key keeps its default)"})
	}
	acct, cs := serviceAccount(c)
	add(cs...)
	cs, stored, read := stateChecks(ctx, c, acct, o)
	add(cs...)
	hosts, cs := hostList(ctx, c, acct, stored, read, o.Hosts)
	add(cs...)
	jf := DefaultJellyfinFiles()
	if o.Jellyfin != nil {
		jf = *o.Jellyfin
	}
	js := discoverJellyfin(ctx, jf)
	if o.Exe != "" {
		add(judgeJellyfin(js, o.Exe)...)
	}
	hc, reached := hostsChecks(ctx, c, acct, hosts)
	add(hc...)
	add(pathsChecks(ctx, c, acct, reached, sharedDirs(o.Paths, js.TMPDIR))...)
	return r
}

// serviceAccount is who the checks act as: directories.owner when it
// exists and we are root (or are it), else ourselves, said so.
func serviceAccount(c *config.Config) (account, []Check) {
	mk := func(st Status, msg, fix string) Check {
		return Check{Section: SectionConfig, Name: "service account", Status: st, Message: msg, Fix: fix}
	}
	me := currentAccount()
	a, err := lookupAccount(c.Directories.Owner)
	if err != nil {
		return me, []Check{mk(Fail, fmt.Sprintf("directories.owner %q does not exist on this machine; checking as %s instead", c.Directories.Owner, me.Name),
			"set directories.owner to the account the media server runs as (e.g. jellyfin)")}
	}
	switch {
	case a.Switch:
		return a, []Check{mk(OK, fmt.Sprintf("checking as %s (uid %d), the account the media server runs the shim as", a.Name, a.UID), "")}
	case a.UID == me.UID:
		return a, []Check{mk(OK, fmt.Sprintf("checking as %s (uid %d)", a.Name, a.UID), "")}
	}
	return me, []Check{mk(Warn, fmt.Sprintf("running as %s, not as the service account %s: permissions and the SSH key are checked as %s", me.Name, a.Name, me.Name),
		"run it as root (sudo rffmpeg doctor) to check as "+a.Name)}
}

// stateChecks: every file the shim touches, as the service account, then
// a real open of the database by that account.
// It returns the hosts when the service account could read them.
func stateChecks(ctx context.Context, c *config.Config, a account, o Options) ([]Check, []state.Host, bool) {
	var out []Check
	if c.Path != "" {
		out = append(out, checkPath(a, need{Path: c.Path, Label: "configuration file"}, c.Directories.Group))
	}
	var needs []need
	if c.Database.Type == config.SQLite {
		db := c.DBPath()
		needs = append(needs,
			need{Path: filepath.Dir(db), Label: "state directory", Dir: true, Write: true, Create: "sudo rffmpeg init"},
			need{Path: db, Label: "database", Write: true, Create: "sudo rffmpeg init"},
			need{Path: db + "-wal", Label: "database -wal", Write: true, Optional: true},
			need{Path: db + "-shm", Label: "database -shm", Write: true, Optional: true},
			need{Path: db + ".lock", Label: "database lock", Write: true, Optional: true})
		if tc, blocked := checkTraverse(a, filepath.Dir(db)); blocked {
			out = append(out, tc)
		}
	}
	if c.Remote.HostKeys == config.HostKeysTOFU {
		needs = append(needs, need{Path: c.KnownHostsPath(), Label: "known_hosts", Write: true, Optional: true})
	}
	if c.Remote.Persist > 0 {
		needs = append(needs, need{Path: c.Directories.Persist, Label: "persist directory", Dir: true, Write: true})
	}
	if lo := setup.Log(c); lo.ToFile {
		if p := logPath(c); p != "" {
			needs = append(needs, need{Path: p, Label: "log file", Write: true, Optional: true})
			if _, err := os.Lstat(p); err != nil {
				needs = append(needs, need{Path: filepath.Dir(p), Label: "log directory", Dir: true, Write: true})
			}
		}
	}
	for _, n := range needs {
		out = append(out, checkPath(a, n, c.Directories.Group))
	}
	if o.Exe == "" {
		return out, nil, false
	}
	ch, hosts, ok := openAsAccount(ctx, c, a, o.Exe)
	out = append(out, ch)
	if ok {
		out = append(out, helperCheck(a.run(ctx, []string{o.Exe, "serve", "--check"}, nil, 10*time.Second, configEnv(c)...), a.Name))
	}
	return out, hosts, ok
}

// configEnv points a command run as the account at this configuration.
func configEnv(c *config.Config) []string {
	if c.Path == "" {
		return nil
	}
	return []string{"RFFMPEG_CONFIG=" + c.Path}
}

// HelperNotRunning is `rffmpeg serve --check`'s exit code when no state
// helper runs for the account.
const HelperNotRunning = 3

// helperCheck judges `rffmpeg serve --check` run as the account: the
// state helper is optional, so none running is fine; one that runs but
// would not answer the account's calls (rffmpeg upgraded, or the
// configuration changed, since it started) is worth a warning.
func helperCheck(res output, account string) Check {
	ch := Check{Section: SectionConfig, Name: "state helper"}
	msg := firstLine(res.Stdout)
	switch {
	case res.Err == nil && res.Code == 0:
		ch.Status, ch.Message = OK, msg
	case res.Err == nil && res.Code == HelperNotRunning:
		ch.Status, ch.Message = OK, "not running (optional: 'rffmpeg serve' as "+account+" keeps the database open for the calls)"
	default:
		if msg == "" {
			msg = firstLine(res.Stderr)
		}
		ch.Status, ch.Message = Warn, msg
		ch.Fix = "restart the state helper (e.g. systemctl restart rffmpeg-serve); calls work without it meanwhile"
	}
	return ch
}

// statusHosts is the part of `rffmpeg status --json` the host checks need.
type statusHosts struct {
	Hosts []struct {
		ID         int64  `json:"id"`
		Hostname   string `json:"hostname"`
		Servername string `json:"servername"`
	} `json:"hosts"`
	// What the store said about the open: a database the account can only
	// read (side files another user created) answers status but would
	// fail every job's write.
	Warnings []string `json:"warnings"`
}

// openAsAccount runs `rffmpeg status --json` as the service account with
// this configuration: the same open (and read) the shim does. Its output
// lists the hosts, so the doctor never opens the database as root itself
// (which could leave root-owned -wal and -shm files: the very fault it
// looks for).
func openAsAccount(ctx context.Context, c *config.Config, a account, exe string) (Check, []state.Host, bool) {
	ch := Check{Section: SectionConfig, Name: "state opens", Timed: true}
	res := a.run(ctx, []string{exe, "status", "--json"}, nil, 20*time.Second, configEnv(c)...)
	ch.Duration = res.Took
	desc := setup.Store(c).Describe()
	var st statusHosts
	if res.Err == nil && res.Code == 0 && json.Unmarshal(res.Stdout, &st) == nil {
		ch.Status, ch.Message = OK, fmt.Sprintf("%s opened and read by %s", desc, a.Name)
		if len(st.Warnings) > 0 {
			ch.Status = Fail
			ch.Message = fmt.Sprintf("%s opened by %s, but: %s", desc, a.Name, strings.Join(st.Warnings, "; "))
			ch.Fix = "see the file checks above: every file beside the database must be writable by the service account"
		}
		hosts := []state.Host{}
		for _, h := range st.Hosts {
			hosts = append(hosts, state.Host{ID: h.ID, Hostname: h.Hostname, Servername: h.Servername})
		}
		return ch, hosts, true
	}
	why := firstLine(res.Stderr)
	if why == "" && res.Err != nil {
		why = res.Err.Error()
	}
	ch.Status = Fail
	ch.Message = fmt.Sprintf("%s cannot be opened by %s: %s", desc, a.Name, why)
	ch.Fix = "see the file checks above; 'sudo rffmpeg init' creates the database with the right owner"
	return ch, nil, false
}

// hostList resolves which hosts to check: the stored ones (as the service
// account read them, else read here unless that would be as root for
// someone else), narrowed to the arguments.
func hostList(ctx context.Context, c *config.Config, a account, stored []state.Host, read bool, args []string) ([]state.Host, []Check) {
	if !read && !a.Switch {
		s, err := setup.OpenStore(ctx, c)
		if err == nil {
			snap, serr := s.Snapshot(ctx)
			s.Close()
			stored, read, err = snap.Hosts, serr == nil, serr
		}
		if err != nil && len(args) == 0 {
			return nil, []Check{{Section: SectionConfig, Name: "hosts", Status: Fail, Message: "cannot read the hosts: " + err.Error(),
				Fix: "run 'sudo rffmpeg init', then 'rffmpeg add HOST'"}}
		}
	}
	if !read && len(args) == 0 {
		return nil, []Check{{Section: SectionConfig, Name: "hosts", Status: Fail, Message: "cannot read the hosts (see above)",
			Fix: "fix the state, or name the hosts to check: rffmpeg doctor HOST…"}}
	}
	snap := state.Snapshot{Hosts: stored}
	if len(args) == 0 {
		if len(snap.Hosts) == 0 {
			return nil, []Check{{Section: SectionConfig, Name: "hosts", Status: Warn, Message: "no transcode hosts: every job runs locally",
				Fix: "rffmpeg add HOST"}}
		}
		return snap.Hosts, nil
	}
	var hs []state.Host
	var out []Check
	for _, arg := range args {
		found := false
		for _, h := range snap.Hosts {
			if h.Servername == arg || h.Hostname == arg {
				hs, found = append(hs, h), true
				break
			}
		}
		if !found {
			hs = append(hs, state.Host{Hostname: arg, Servername: arg})
			if read {
				out = append(out, Check{Section: SectionConfig, Name: "hosts", Host: arg, Status: Warn,
					Message: arg + " is not in the state: checked as a host name", Fix: "rffmpeg add " + shellWord(arg) + " once it passes"})
			}
		}
	}
	return hs, out
}

// sharedDirs is the --path directories plus $TMPDIR/jellyfin (where
// Jellyfin 10.10+ writes images and trickplay) when it exists; TMPDIR is
// Jellyfin's (from its unit) when set there, else ours.
func sharedDirs(paths []string, jellyfinTMPDIR string) []string {
	dirs := append([]string{}, paths...)
	tmp := jellyfinTMPDIR
	if tmp == "" {
		tmp = os.Getenv("TMPDIR")
	}
	if tmp == "" {
		tmp = "/tmp"
	}
	if fi, err := os.Stat(filepath.Join(tmp, "jellyfin")); err == nil && fi.IsDir() {
		dirs = append(dirs, filepath.Join(tmp, "jellyfin"))
	}
	return dirs
}

// parallel runs fn for every host at once (a dead host costs one timeout,
// not one per host) and returns the checks in host order.
func parallel(hosts []state.Host, fn func(i int, h state.Host) []Check) []Check {
	res := make([][]Check, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = fn(i, h)
		}()
	}
	wg.Wait()
	var out []Check
	for _, r := range res {
		out = append(out, r...)
	}
	return out
}

// logPath is the file the shim logs to today.
func logPath(c *config.Config) string { return logging.Path(setup.Log(c), time.Now()) }
