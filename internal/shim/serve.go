package shim

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// maxKeepWait bounds what a request may wait for the database (a call
// asks for its database.wait, seconds).
const maxKeepWait = time.Minute

// maxKeepBytes bounds a message (a request is a few hundred bytes, an
// answer grows with the chosen host's running jobs).
const maxKeepBytes = 16 << 20

// keeperServer is the state helper (see keeper.go).
type keeperServer struct {
	o     Options
	key   string
	store *state.Store
	log   *logging.Logger
	db    [2]uint64 // the SQLite file's device and inode when opened
	// turn lets one request at a time use the store: the writes are
	// serialized anyway, and waiting here costs no database retries.
	turn chan struct{}

	mu      sync.Mutex
	closed  bool // set holding turn: no request starts any more
	conns   map[net.Conn]bool
	refused map[string]bool // reasons already logged
}

// Serve is the state helper, `rffmpeg serve`: it answers the calls of this
// account (the shim's processes under the same uid and configuration) on
// KeeperPath(o) until ctx ends, and then removes the socket. ready gets the
// socket's path once it listens.
func Serve(ctx context.Context, o Options, log *logging.Logger, ready func(path string)) error {
	path := KeeperPath(o)
	if path == "" {
		return fmt.Errorf("this account has no private socket directory (directories.persist): %v", o.SocketErr)
	}
	store, err := state.Open(ctx, o.Store)
	if err != nil {
		return err
	}
	store.KeepOpen()
	s := &keeperServer{o: o, key: o.KeeperKey(), store: store, log: log, turn: make(chan struct{}, 1),
		conns: map[net.Conn]bool{}, refused: map[string]bool{}}
	defer func() { s.store.Close() }() // sameFile may replace it
	if o.Store.Backend != state.PostgreSQL {
		if s.db, err = fileID(o.Store.Path); err != nil {
			return err
		}
	}
	ln, err := listenKeeper(path)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	log.Infof("Serving the state database for this account's calls on %s", path)
	ready(path)
	var wg sync.WaitGroup
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// Out of descriptors, say: calls work on their own meanwhile.
			s.warnOnce("cannot accept calls: " + err.Error())
			time.Sleep(50 * time.Millisecond)
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.serve(conn) }()
	}
	ln.Close() // removes the socket: new calls work on their own
	s.shutdown()
	wg.Wait()
	log.Infof("Stopped serving the state database")
	return nil
}

// shutdown waits for the request in hand, then closes every connection:
// their calls release their jobs themselves.
func (s *keeperServer) shutdown() {
	s.turn <- struct{}{}
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-s.turn
}

// listenKeeper binds the helper's socket, replacing a stale one of this
// user; anything else at the path is left alone.
func listenKeeper(path string) (*net.UnixListener, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err == nil {
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || int(st.Uid) != os.Geteuid() {
			return nil, fmt.Errorf("%s exists and is not a socket of this account: leaving it alone", path)
		}
		if c, err := net.DialTimeout("unix", path, keeperDial); err == nil {
			c.Close()
			return nil, fmt.Errorf("a state helper already serves on %s", path)
		}
		os.Remove(path) // its helper died
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	os.Chmod(path, 0o600) // just made, in a directory only this account enters
	return ln, nil
}

// serve answers one call's requests until it hangs up.
func (s *keeperServer) serve(conn *net.UnixConn) {
	defer conn.Close()
	pid, ok := s.peer(conn)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[conn] = true
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.conns, conn); s.mu.Unlock() }()
	br := bufio.NewReader(conn)
	for {
		var r keepRequest
		if err := readMsg(br, &r); err != nil {
			return
		}
		a, ok := s.handle(r, pid)
		if !ok || writeMsg(conn, &a) != nil {
			return
		}
	}
}

// peer is the caller's PID, when it is a process of this uid.
func (s *keeperServer) peer(conn *net.UnixConn) (int, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || int(cred.Uid) != os.Geteuid() {
		return 0, false
	}
	return int(cred.Pid), true
}

// handle answers one request; ok false: hang up without an answer (the
// helper is stopping).
func (s *keeperServer) handle(r keepRequest, pid int) (a keepReply, ok bool) {
	if why := s.refusal(r, pid); why != "" {
		return keepReply{Refused: why}, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(r.Wait, maxKeepWait))
	defer cancel()
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return keepReply{Busy: true}, true
	}
	defer func() { <-s.turn }()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return a, false
	}
	if why := s.sameFile(ctx); why != "" {
		return keepReply{Refused: why}, true
	}
	switch r.Op {
	case "acquire":
		return s.acquire(ctx, r), true
	case "release":
		return replyOf(ctx, s.store.ReleaseAndRecord(ctx, r.Lease, r.Record)), true
	}
	return keepReply{Refused: "unknown request " + strconv.Quote(r.Op)}, true
}

// refusal is why the helper must not answer r for the process pid ("":
// it may). Each reason is logged once: it is the admin's to fix.
func (s *keeperServer) refusal(r keepRequest, pid int) string {
	why := ""
	switch {
	case r.Key != s.key:
		why = "the call runs another build of rffmpeg or another configuration than this helper " +
			"(restart 'rffmpeg serve' after an upgrade or a configuration change)"
	case r.Self.PID != pid:
		why = fmt.Sprintf("the caller claims PID %d but is PID %d here (another PID namespace?)", r.Self.PID, pid)
	}
	if why != "" {
		s.warnOnce("not answering: " + why)
	}
	return why
}

// warnOnce logs a problem of the helper once: it is the admin's to fix.
func (s *keeperServer) warnOnce(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.refused[why] {
		s.refused[why] = true
		s.log.Warnf("State helper: %s", why)
	}
}

// sameFile reopens the SQLite database when its file was replaced since
// it was opened (a restored backup, a new 'init' by another tool): a
// connection to the old file would write where nobody reads. It runs
// holding turn. A database that cannot be reopened is refused.
func (s *keeperServer) sameFile(ctx context.Context) string {
	if s.o.Store.Backend == state.PostgreSQL {
		return ""
	}
	if id, err := fileID(s.o.Store.Path); err == nil && id == s.db {
		return ""
	}
	store, err := state.Open(ctx, s.o.Store)
	if err == nil {
		if s.db, err = fileID(s.o.Store.Path); err != nil {
			store.Close()
		}
	}
	if err != nil {
		why := fmt.Sprintf("the database file %s was replaced and cannot be opened again: %v", s.o.Store.Path, err)
		s.warnOnce("not answering: " + why)
		return why
	}
	store.KeepOpen()
	s.store.Close()
	s.store = store
	s.log.Infof("State helper: the database file %s was replaced; opened the new one", s.o.Store.Path)
	return ""
}

// acquire runs the call's selection (decider) on the call's inputs.
func (s *keeperServer) acquire(ctx context.Context, r keepRequest) keepReply {
	c := &call{o: s.o, env: Env{Self: r.Self, Now: func() time.Time { return r.Req.Claim.Now }},
		j: Job{Special: r.Special}, job: r.Job, localProbed: r.LocalProbed}
	var a keepReply
	lease, d, snap, err := s.store.Acquire(ctx, r.Req, c.decider(c.policy(r.Req, r.GiveUp), &a.Chosen, &a.Route))
	if err != nil {
		return replyOf(ctx, err)
	}
	a.Lease, a.Decision, a.Local, a.LocalKnown, a.Malformed = lease, d, c.local, c.localKnown, snap.Malformed
	a.PathMaps = a.Chosen.PathMapsText()
	return a
}

// replyOf is the answer to a store operation that ended with err.
func replyOf(ctx context.Context, err error) keepReply {
	switch {
	case err == nil:
		return keepReply{}
	case ctx.Err() != nil:
		return keepReply{Busy: true}
	}
	return keepReply{Err: err.Error()}
}

// fileID is a file's device and inode.
func fileID(path string) ([2]uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{uint64(st.Dev), st.Ino}, nil
}
