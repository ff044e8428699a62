package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// hostRun carries one host's checks and what the parity check compares.
type hostRun struct {
	c       *config.Config
	a       account
	h       state.Host
	ssh     remote.SSH
	out     []Check
	version map[string]string // tool → first line of -version
	reached bool              // logged in: the later sections may use it
}

func (r *hostRun) add(name string, st Status, msg, fix string) *Check {
	r.out = append(r.out, Check{Section: SectionHosts, Host: r.h.Hostname, Name: name, Status: st, Message: msg, Fix: fix})
	return &r.out[len(r.out)-1]
}

func (r *hostRun) timed(name string, st Status, msg, fix string, d time.Duration) {
	ch := r.add(name, st, msg, fix)
	ch.Duration, ch.Timed = d, true
}

// hostsChecks checks every host at once, then their versions against each
// other and the local fallback. It also returns the hosts it logged in to
// (the shared-path checks use only those: the others already failed).
func hostsChecks(ctx context.Context, c *config.Config, a account, hosts []state.Host) ([]Check, []state.Host) {
	runs := make([]*hostRun, len(hosts))
	for i, h := range hosts {
		runs[i] = &hostRun{c: c, a: a, h: h, ssh: setup.ForHost(setup.SSHFor(c, h.Hostname, a.UID), h), version: map[string]string{}}
	}
	out := parallel(hosts, func(i int, _ state.Host) []Check {
		runs[i].check(ctx)
		return runs[i].out
	})
	var reached []state.Host
	for _, r := range runs {
		if r.reached {
			reached = append(reached, r.h)
		}
	}
	return append(out, parity(ctx, c, a, runs)...), reached
}

func (r *hostRun) check(ctx context.Context) {
	if r.h.IsLocal() {
		r.add("local", OK, "runs jobs on this machine without SSH", "")
		return
	}
	eff, ok := r.effective(ctx)
	if !ok {
		return
	}
	if !r.network(ctx, eff) {
		return
	}
	r.hostKey(eff)
	if !r.login(ctx, eff) {
		return
	}
	r.reached = true
	if !r.tools(ctx) {
		return
	}
	r.probes(ctx)
	r.clock(ctx)
}

// sshEffective is what `ssh -G` says ssh will do for this host.
type sshEffective struct {
	hostname, user string
	port           int
	identities     []string
}

// effective asks ssh itself (ssh -G, the shim's options, no connection)
// where it will connect and with which keys, so ssh_config aliases,
// ports and users are taken into account exactly.
func (r *hostRun) effective(ctx context.Context) (sshEffective, bool) {
	argv := r.ssh.Argv("true", remote.Quiet(false))
	argv = append([]string{argv[0], "-G"}, argv[1:len(argv)-1]...)
	res := r.a.run(ctx, argv, nil, 5*time.Second)
	if res.Code != 0 {
		r.add("ssh configuration", Fail, "ssh -G failed: "+firstLine(append(res.Stderr, []byte(errString(res.Err))...)),
			"check commands.ssh and remote.args")
		return sshEffective{}, false
	}
	e := sshEffective{port: 22}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "hostname":
			e.hostname = v
		case "user":
			e.user = v
		case "port":
			e.port, _ = strconv.Atoi(v)
		case "identityfile":
			e.identities = append(e.identities, expandHome(v, r.a.Home))
		}
	}
	r.keyFiles(e)
	return e, true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func expandHome(p, home string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return home + "/" + rest
	}
	return p
}

// keyFiles checks the private keys named in remote.args (-i): the service
// account must read them, and ssh ignores a key others can read.
func (r *hostRun) keyFiles(e sshEffective) {
	for i, w := range r.c.Remote.Args {
		key := ""
		switch {
		case w == "-i" && i+1 < len(r.c.Remote.Args):
			key = r.c.Remote.Args[i+1]
		case strings.HasPrefix(w, "-i") && len(w) > 2:
			key = w[2:]
		}
		if key == "" {
			continue
		}
		ch := checkPath(r.a, need{Path: key, Label: "SSH key"}, r.c.Directories.Group)
		ch.Section, ch.Host = SectionHosts, r.h.Hostname
		if ch.Status == Fail {
			ch.Fix = fmt.Sprintf("chown %s %s && chmod 0600 %s", r.a.Name, shellWord(key), shellWord(key))
		} else if fi, err := os.Stat(key); err == nil && fi.Mode().Perm()&0o077 != 0 {
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) == r.a.UID {
				ch.Status = Fail
				ch.Message = key + " is " + describeOwner(st) + ": ssh ignores a private key that others can read"
				ch.Fix = "chmod 0600 " + shellWord(key)
			}
		}
		r.out = append(r.out, ch)
	}
}

// network: the name resolves and the SSH port accepts a connection.
func (r *hostRun) network(ctx context.Context, e sshEffective) bool {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	addrs, err := net.DefaultResolver.LookupHost(rctx, e.hostname)
	took := time.Since(start)
	if err != nil {
		r.timed("name", Fail, fmt.Sprintf("%s does not resolve: %v", e.hostname, unwrapDNS(err)),
			"add it to DNS or /etc/hosts, or use its address", took)
		return false
	}
	r.timed("name", OK, e.hostname+" is "+strings.Join(addrs, ", "), "", took)
	addr := net.JoinHostPort(e.hostname, strconv.Itoa(e.port))
	limit := time.Duration(r.c.Remote.ConnectTimeout) * time.Second
	start = time.Now()
	conn, err := (&net.Dialer{Timeout: limit}).DialContext(ctx, "tcp", addr)
	took = time.Since(start)
	if err != nil {
		why := "no answer within remote.connect_timeout (" + limit.String() + "): host down or a firewall drops the packets"
		fix := "start the host, or open TCP port " + strconv.Itoa(e.port) + " to it"
		if errors.Is(err, syscall.ECONNREFUSED) {
			why = "connection refused: nothing listens on port " + strconv.Itoa(e.port)
			fix = "start sshd on the host, or give the right port (remote.args: [\"-p\", \"PORT\"])"
		} else if !isTimeout(err) {
			why = err.Error()
		}
		r.timed("connect", Fail, addr+": "+why+" (the host's other checks are skipped)", fix, took)
		return false
	}
	conn.Close()
	r.timed("connect", OK, "TCP "+addr+" accepts connections", "", took)
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func unwrapDNS(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Err
	}
	return err.Error()
}

// knownHostsName is how ssh names the host in known_hosts: brackets and
// the port only for a port other than 22.
func knownHostsName(host string, port int) string {
	if port == 22 || port == 0 {
		return host
	}
	return fmt.Sprintf("[%s]:%d", host, port)
}

// hostKey reports the trust-on-first-use state before logging in.
func (r *hostRun) hostKey(e sshEffective) {
	switch r.c.Remote.HostKeys {
	case config.HostKeysIgnore:
		r.add("host key", Warn, "not checked (remote.host_keys: ignore): any machine answering at this address gets the jobs and their media",
			"set remote.host_keys: tofu")
		return
	case config.HostKeysSSH:
		r.add("host key", OK, "left to ssh_config and the service account's known_hosts (remote.host_keys: ssh)", "")
		return
	}
	name := knownHostsName(r.h.Hostname, e.port)
	kh := r.c.KnownHostsPath()
	// ssh-keygen -F knows hashed entries too; exit 1 means no entry.
	res := output{Code: 1}
	if _, err := os.Stat(kh); err == nil {
		res = r.a.run(context.Background(), []string{"ssh-keygen", "-F", name, "-f", kh}, nil, 5*time.Second)
	}
	switch {
	case res.Code == 0 && len(res.Stdout) > 0:
		r.add("host key", OK, kh+" has a key for "+name, "")
	case res.Code != 1 && res.Code != 0:
		r.add("host key", Warn, "cannot read "+kh+": "+firstLine(append(res.Stderr, errString(res.Err)...)),
			"see the known_hosts check above")
	default:
		r.add("host key", OK, "no key for "+name+" in "+kh+" yet: recorded on the first connection (trust on first use)", "")
	}
}

// login authenticates with a fresh connection (never a master connection,
// which would hide a key that no longer works).
func (r *hostRun) login(ctx context.Context, e sshEffective) bool {
	fresh := r.ssh
	fresh.Persist = 0
	limit := time.Duration(r.c.Remote.ConnectTimeout)*time.Second + 10*time.Second
	res := r.a.run(ctx, fresh.Argv("true", remote.Quiet(false)), nil, limit)
	who := fmt.Sprintf("%s@%s as %s", e.user, knownHostsName(e.hostname, e.port), r.a.Name)
	if res.Err == nil && res.Code == 0 {
		r.timed("ssh login", OK, "logged in "+who, "", res.Took)
		return true
	}
	diag := strings.TrimSpace(string(res.Stderr))
	if res.TimedOut {
		diag = "timed out"
	}
	reason := remote.Classify(res.Code, diag)
	fix := ""
	switch {
	case strings.HasPrefix(reason, "host key"):
		reason = "the host's key changed since it was recorded in " + r.c.KnownHostsPath() + ": refusing to connect"
		fix = fmt.Sprintf("if the host was reinstalled: ssh-keygen -f %s -R %s", shellWord(r.c.KnownHostsPath()), shellWord(knownHostsName(r.h.Hostname, e.port)))
	case strings.HasPrefix(reason, "authentication failed"):
		key := strings.Join(e.identities, ", ")
		fix = fmt.Sprintf("add the public key of %s to ~%s/.ssh/authorized_keys on the host (ssh-copy-id -i KEY %s@%s, run as %s)", key, e.user, e.user, r.h.Hostname, r.a.Name)
	default:
		fix = "run the same login by hand: sudo -u " + r.a.Name + " " + commandLine(fresh.Argv("true", remote.Quiet(false)))
	}
	r.timed("ssh login", Fail, who+": "+reason+" ("+firstLine([]byte(diag))+")", fix, res.Took)
	return false
}

func commandLine(argv []string) string { return remote.Join(argv) }
