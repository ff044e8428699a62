package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// A private PostgreSQL server: a fresh cluster of the installed PostgreSQL
// (the same binaries as the system's), on a free port of 127.0.0.1, run as
// the postgres account and removed at the end. Restarting it disturbs
// nobody else on the machine, unlike restarting the shared cluster.
type privateServer struct {
	bin, dir string
	port     int
	opts     string // the server's options (pg_ctl -o)
	cred     *syscall.Credential
}

// startPrivate initialises and starts a private server as root.
func startPrivate() (*privateServer, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, fmt.Errorf("no PostgreSQL installed (/usr/lib/postgresql/*/bin/pg_ctl)")
	}
	sort.Strings(bins)
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("a private server runs as postgres: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "rffmpeg-bench-pg-")
	if err != nil {
		return nil, err
	}
	os.Chown(dir, uid, gid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &privateServer{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: port,
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := p.run("initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		p.remove()
		return nil, err
	}
	p.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, dir)
	if err := p.start(); err != nil {
		p.remove()
		return nil, err
	}
	return p, nil
}

func (p *privateServer) data() string { return filepath.Join(p.dir, "data") }

func (p *privateServer) run(prog string, args ...string) error {
	c := exec.Command(filepath.Join(p.bin, prog), args...)
	c.Dir = p.dir
	c.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	// Into a file, not a pipe: the server pg_ctl starts keeps its
	// descriptors, and a pipe would never end.
	out, err := os.CreateTemp("", "rffmpeg-bench-pgctl-")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	c.Stdout, c.Stderr = out, out
	if err := c.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%s: %v: %s", prog, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// admin is the server's superuser connection.
func (p *privateServer) admin() state.Options {
	return state.Options{Backend: state.PostgreSQL, Host: "127.0.0.1", Port: p.port, User: "postgres", Name: "postgres"}
}

// restart stops the server in fast mode (connections are cut, as an
// administrator's restart or a package upgrade does) and starts it again
// after down: an outage long enough that calls must give up waiting.
func (p *privateServer) restart(down time.Duration) error {
	if err := p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "stop"); err != nil {
		return err
	}
	time.Sleep(down)
	return p.start()
}

func (p *privateServer) start() error {
	return p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-o", p.opts, "-w", "start")
}

func (p *privateServer) stop() {
	p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
	p.remove()
}

func (p *privateServer) remove() {
	time.Sleep(100 * time.Millisecond)
	os.RemoveAll(p.dir)
}
