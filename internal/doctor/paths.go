package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// visibleWithin is how long a new file may take to appear on the other
// side (NFS caches directory lookups and attributes for a few seconds).
const visibleWithin = 5 * time.Second

// pathsChecks proves each directory is the same directory here and on
// every host, in both directions.
func pathsChecks(ctx context.Context, c *config.Config, a account, hosts []state.Host, dirs []string) []Check {
	var out []Check
	var remoteHosts []state.Host
	for _, h := range hosts {
		if !h.IsLocal() {
			remoteHosts = append(remoteHosts, h)
		}
	}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() {
			out = append(out, Check{Section: SectionPaths, Name: d, Status: Fail,
				Message: d + " is not a directory here: " + errString(err), Fix: "create it or mount the share at " + d})
			continue
		}
		if len(remoteHosts) == 0 {
			out = append(out, Check{Section: SectionPaths, Name: d, Status: Warn,
				Message: "no reachable remote host to compare " + d + " with", Fix: "see the host checks above"})
			continue
		}
		out = append(out, parallel(remoteHosts, func(_ int, h state.Host) []Check {
			p := sharedPath{c: c, a: a, h: h, ssh: setup.ForHost(setup.SSHFor(c, h.Hostname, a.UID), h), dir: d}
			return p.check(ctx)
		})...)
	}
	return out
}

type sharedPath struct {
	c   *config.Config
	a   account
	h   state.Host
	ssh remote.SSH
	dir string
}

func (p sharedPath) mk(name string, st Status, msg, fix string, d time.Duration) Check {
	return Check{Section: SectionPaths, Host: p.h.Hostname, Name: name, Status: st, Message: msg, Fix: fix, Duration: d, Timed: d > 0}
}

func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fileID is a file's owner and mode as one side sees it.
type fileID struct {
	uid, gid int
	mode     uint32
}

func (f fileID) String() string { return fmt.Sprintf("%d:%d %04o", f.uid, f.gid, f.mode) }

func parseFileID(line string) (fileID, bool) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return fileID{}, false
	}
	uid, e1 := strconv.Atoi(f[0])
	gid, e2 := strconv.Atoi(f[1])
	mode, e3 := strconv.ParseUint(f[2], 8, 32)
	return fileID{uid, gid, uint32(mode)}, e1 == nil && e2 == nil && e3 == nil
}

func (p sharedPath) check(ctx context.Context) []Check {
	self, _ := os.Hostname()
	base := fmt.Sprintf(".rffmpeg-doctor-%s-%d-%s", self, os.Getpid(), token())
	// Both directions at once: on an unshared path each waits the full
	// visibleWithin.
	out := make([]Check, 2)
	done := make(chan struct{})
	go func() {
		out[1] = p.fromHost(ctx, filepath.Join(p.dir, base+"-there"))
		close(done)
	}()
	out[0] = p.toHost(ctx, filepath.Join(p.dir, base+"-here"))
	<-done
	// Remove both sentinels on both sides (on an unshared path each side
	// has its own).
	p.a.run(ctx, p.ssh.Argv(remote.Join([]string{"rm", "-f", "--", filepath.Join(p.dir, base+"-here"), filepath.Join(p.dir, base+"-there")}), remote.Quiet(true)), nil, 10*time.Second)
	os.Remove(filepath.Join(p.dir, base+"-here"))
	os.Remove(filepath.Join(p.dir, base+"-there"))
	return out
}

// toHost: a file the service account writes here is read on the host.
func (p sharedPath) toHost(ctx context.Context, path string) Check {
	name := p.dir + ": here → host"
	content := "rffmpeg doctor " + token() + "\n"
	w := p.a.run(ctx, []string{"/bin/sh", "-c", `set -C; cat > "$1"`, "sh", path}, []byte(content), 10*time.Second)
	if w.Code != 0 {
		return p.mk(name, Fail, fmt.Sprintf("%s cannot create a file in %s here: %s", p.a.Name, p.dir, firstLine(w.Stderr)),
			fmt.Sprintf("chown %s %s (Jellyfin writes transcodes there)", p.a.Name, shellWord(p.dir)), 0)
	}
	written := time.Now()
	fi, err := os.Lstat(path)
	if err != nil {
		return p.mk(name, Fail, "the file just written vanished: "+err.Error(), "", 0)
	}
	st := fi.Sys().(*syscall.Stat_t)
	here := fileID{int(st.Uid), int(st.Gid), st.Mode & 0o7777}
	// The host waits for the file itself, so one SSH round trip measures
	// how long the share takes to show it.
	polls := int(visibleWithin / (100 * time.Millisecond))
	script := fmt.Sprintf(`p=%s; i=0; while [ ! -e "$p" ]; do [ $i -ge %d ] && exit 3; sleep 0.1; i=$((i+1)); done; echo $i; stat -c '%%u %%g %%a' -- "$p"; cat -- "$p"`,
		remote.Quote(path), polls)
	res := p.a.run(ctx, p.ssh.Argv(script, remote.Quiet(false)), nil, visibleWithin+15*time.Second)
	took := time.Since(written)
	switch {
	case res.Code == 3:
		return p.mk(name, Fail, fmt.Sprintf("not shared: a file written here in %s did not appear in %s on the host within %s", p.dir, p.dir, visibleWithin),
			fmt.Sprintf("mount the same share at %s on the host (the same path on both machines)", p.dir), took)
	case res.Code != 0 && res.Code != 1:
		return p.mk(name, Fail, "cannot look on the host: "+remote.Classify(res.Code, string(res.Stderr)), "", took)
	}
	lines := strings.SplitN(string(res.Stdout), "\n", 3)
	if len(lines) < 3 {
		return p.mk(name, Fail, "unexpected answer from the host: "+firstLine(res.Stdout)+" "+firstLine(res.Stderr), "", took)
	}
	waited, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	there, _ := parseFileID(lines[1])
	visible := time.Duration(waited) * 100 * time.Millisecond
	if res.Code != 0 {
		return p.mk(name, Fail, fmt.Sprintf("the host's user %s cannot read a file the service account wrote (%s here, %s there): %s",
			p.ssh.Destination(), here, there, firstLine(res.Stderr)),
			"give both sides the same uid/gid for the media server's account, or a group they share with a umask of 002", took)
	}
	if lines[2] != content {
		return p.mk(name, Fail, "the host reads different content at "+path+": not the same directory", "mount the same share at "+p.dir+" on the host", took)
	}
	return p.compare(name, here, there, visible, took)
}

// compare judges ownership and delay once the content matched.
func (p sharedPath) compare(name string, here, there fileID, visible, took time.Duration) Check {
	msg := fmt.Sprintf("same file on both sides (%s here, %s there), visible after %s", here, there, visible)
	switch {
	case here.uid != there.uid || here.gid != there.gid:
		return p.mk(name, Warn, msg+": owners differ (root squash or ID mapping)",
			"use the same uid and gid for the media server's account on both machines", took)
	case here.mode != there.mode:
		return p.mk(name, Warn, msg+": permissions differ", "check the share's export and mount options", took)
	case visible > time.Second:
		return p.mk(name, Warn, msg+": Jellyfin polls for the first segment every 100 ms",
			"lower attribute caching on the mount (e.g. NFS lookupcache=positive, actimeo=1)", took)
	}
	return p.mk(name, OK, msg, "", took)
}

// fromHost: a file the host's user writes there is read here by the
// service account (the transcoded segments Jellyfin serves).
func (p sharedPath) fromHost(ctx context.Context, path string) Check {
	name := p.dir + ": host → here"
	content := "rffmpeg doctor " + token() + "\n"
	script := fmt.Sprintf(`set -C; printf '%%s\n' %s > %s && stat -c '%%u %%g %%a' -- %s`,
		remote.Quote(strings.TrimSuffix(content, "\n")), remote.Quote(path), remote.Quote(path))
	res := p.a.run(ctx, p.ssh.Argv(script, remote.Quiet(false)), nil, 15*time.Second)
	if res.Code != 0 {
		return p.mk(name, Fail, fmt.Sprintf("the host's user %s cannot create a file in %s: %s", p.ssh.Destination(), p.dir, firstLine(res.Stderr)),
			"let that user write there (ffmpeg writes its outputs there): same uid, or a shared group with write permission", 0)
	}
	written := time.Now()
	there, _ := parseFileID(firstLine(res.Stdout))
	var fi os.FileInfo
	var err error
	for {
		if fi, err = os.Lstat(path); err == nil || time.Since(written) > visibleWithin {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	visible := time.Since(written)
	if err != nil {
		return p.mk(name, Fail, fmt.Sprintf("not shared: a file the host wrote in %s did not appear here within %s", p.dir, visibleWithin),
			fmt.Sprintf("mount the same share at %s on both machines", p.dir), visible)
	}
	st := fi.Sys().(*syscall.Stat_t)
	here := fileID{int(st.Uid), int(st.Gid), st.Mode & 0o7777}
	rd := p.a.run(ctx, []string{"cat", "--", path}, nil, 10*time.Second)
	if rd.Code != 0 {
		return p.mk(name, Fail, fmt.Sprintf("%s cannot read what the host wrote (%s there, %s here): %s", p.a.Name, there, here, firstLine(rd.Stderr)),
			"give both sides the same uid/gid for the media server's account, or a group they share with a umask of 002", visible)
	}
	if string(rd.Stdout) != content {
		return p.mk(name, Fail, "different content here at "+path+": not the same directory", "mount the same share at "+p.dir+" on both machines", visible)
	}
	return p.compare(name, here, there, visible.Truncate(10*time.Millisecond), visible)
}
