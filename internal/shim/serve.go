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
	"github.com/rffmpeg/rffmpeg/internal/safefs"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// maxKeepWait bounds what a request may wait for the database (a call
// asks for its database.wait, seconds).
const maxKeepWait = time.Minute

// maxKeepBytes bounds a message (measured: a request with a transcode's
// command line 457 bytes, an answer naming a host with 32 capabilities 491;
// a host travels without its jobs).
const maxKeepBytes = 1 << 20

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
	// inflight counts requests read and not yet answered: a stopping
	// helper answers them before it hangs up (a call that lost the answer
	// to a committed request would do it again).
	inflight sync.WaitGroup

	mu     sync.Mutex
	closed bool // no request starts any more
	conns  map[net.Conn]bool
	warned map[string]bool // kinds of problems already logged
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
	unlock, err := keeperLock(path)
	if err != nil {
		return err
	}
	defer unlock()
	store, err := state.Open(ctx, o.Store)
	if err != nil {
		return err
	}
	store.KeepOpen()
	s := &keeperServer{o: o, key: o.KeeperKey(), store: store, log: log, turn: make(chan struct{}, 1),
		conns: map[net.Conn]bool{}, warned: map[string]bool{}}
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
			s.warnOnce("accept", "cannot accept calls: "+err.Error())
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

// shutdown lets no request start, answers those in hand, then closes every
// connection: their calls release their jobs themselves.
func (s *keeperServer) shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// keeperLock makes this the one helper of the directory (two started at
// once would both replace a dead helper's socket) for as long as it runs.
func keeperLock(path string) (unlock func(), err error) {
	f, _, err := safefs.Open(path+".lock", os.O_RDONLY, 0o600, true)
	if err != nil {
		return nil, fmt.Errorf("state helper lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("a state helper already serves on %s", path)
	}
	return func() { f.Close() }, nil
}

// listenKeeper binds the helper's socket, replacing a stale one of this
// user (its helper died: this one holds the lock); anything else at the
// path is left alone.
func listenKeeper(path string) (*net.UnixListener, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err == nil {
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || int(st.Uid) != os.Geteuid() {
			return nil, fmt.Errorf("%s exists and is not a socket of this account: leaving it alone", path)
		}
		os.Remove(path)
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
		if err := readMsg(br, &r); err != nil || !s.begin() {
			return
		}
		ok := s.answer(conn, r, pid)
		s.inflight.Done()
		if !ok {
			return
		}
	}
}

// begin counts a request in hand, unless the helper is stopping.
func (s *keeperServer) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// answer works on r and writes the answer, with an acknowledgement first
// if that takes longer than keeperAckAfter (the call then knows the helper
// is alive and waits on); ok false: hang up.
func (s *keeperServer) answer(conn *net.UnixConn, r keepRequest, pid int) bool {
	var mu sync.Mutex
	answered := false
	ack := time.AfterFunc(keeperAckAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if !answered {
			conn.Write([]byte{0}) // a failure shows when the answer is written
		}
	})
	a := s.handle(r, pid, func() bool { return gone(conn) })
	ack.Stop()
	mu.Lock()
	defer mu.Unlock()
	answered = true
	return writeMsg(conn, &a) == nil
}

// gone reports whether the call hung up (it gave up waiting, and works on
// its own): a request it no longer waits for must not be carried out.
// Between a request and its answer a call sends nothing.
func gone(conn *net.UnixConn) bool {
	conn.SetReadDeadline(time.Now())
	var b [1]byte
	n, err := conn.Read(b[:])
	conn.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() && n == 0 {
		return false
	}
	return true
}

// peer is the caller's PID, when it is a process of this uid.
func (s *keeperServer) peer(conn *net.UnixConn) (int, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil || cred == nil || int(cred.Uid) != os.Geteuid() {
		return 0, false
	}
	return int(cred.Pid), true
}

// handle answers one request: refused, or carried out if the call still
// waits (gone says it hung up).
func (s *keeperServer) handle(r keepRequest, pid int, gone func() bool) keepReply {
	if why := s.refusal(r, pid); why != "" {
		return keepReply{Refused: why}
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(r.Wait, maxKeepWait))
	defer cancel()
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return keepReply{Busy: true}
	}
	defer func() { <-s.turn }()
	if why := s.sameFile(ctx, r.DBFile); why != "" {
		return keepReply{Refused: why}
	}
	if gone() {
		return keepReply{Refused: "the call hung up"}
	}
	switch r.Op {
	case "ping": // would answer this call (Ping)
		return keepReply{}
	case "acquire":
		return s.acquire(ctx, r)
	case "release":
		return replyOf(ctx, s.store.ReleaseAndRecord(ctx, r.Lease, r.Record))
	}
	return keepReply{Refused: "unknown request " + strconv.Quote(r.Op)}
}

// refusal is why the helper must not answer r for the process pid ("":
// it may). Each kind of reason is logged once: it is the admin's to fix.
func (s *keeperServer) refusal(r keepRequest, pid int) string {
	switch {
	case r.Key != s.key:
		why := "the call runs another build of rffmpeg or another configuration than this helper " +
			"(restart 'rffmpeg serve' after an upgrade or a configuration change)"
		s.warnOnce("key", "not answering: "+why)
		return why
	case r.Self.PID != pid:
		s.warnOnce("pid", fmt.Sprintf("not answering calls from another PID namespace (a call claims PID %d and is PID %d here)", r.Self.PID, pid))
		return fmt.Sprintf("the caller claims PID %d but is PID %d here (another PID namespace?)", r.Self.PID, pid)
	}
	return ""
}

// warnOnce logs a problem of the helper once per kind.
func (s *keeperServer) warnOnce(kind, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.warned[kind] {
		s.warned[kind] = true
		s.log.Warnf("State helper: %s", why)
	}
}

// sameFile makes sure the helper writes the SQLite file the call reads
// (call: its device and inode). A file replaced since the helper opened it
// (a restored backup) is opened anew; a call that sees another file (a
// relative database.path, another mount namespace) is refused. It runs
// holding turn.
func (s *keeperServer) sameFile(ctx context.Context, call [2]uint64) string {
	if s.o.Store.Backend == state.PostgreSQL {
		return ""
	}
	if id, err := fileID(s.o.Store.Path); err != nil || id != s.db {
		if why := s.reopen(ctx); why != "" {
			return why
		}
	}
	if call != s.db {
		why := "the call's database file is not the one this helper opened (a relative database.path, or another mount namespace?)"
		s.warnOnce("file", "not answering: "+why)
		return why
	}
	return ""
}

// reopen opens the database file anew, replacing the store.
func (s *keeperServer) reopen(ctx context.Context) string {
	store, err := state.Open(ctx, s.o.Store)
	var id [2]uint64
	if err == nil {
		if id, err = fileID(s.o.Store.Path); err != nil {
			store.Close()
		}
	}
	if err != nil {
		why := fmt.Sprintf("the database file %s was replaced and cannot be opened again: %v", s.o.Store.Path, err)
		s.warnOnce("reopen", "not answering: "+why)
		return why
	}
	store.KeepOpen()
	s.store.Close()
	s.store, s.db = store, id
	s.log.Infof("State helper: the database file %s was replaced; opened the new one", s.o.Store.Path)
	return ""
}

// acquire runs the call's selection (decider) on the call's inputs. The
// chosen host's running jobs travel as a count: a call needs no more, and
// their command lines (64 KiB each at most) could make the answer large.
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
	a.Chosen.Counted, a.Chosen.Processes = a.Chosen.Running(), nil
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
