package shim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The state helper (`rffmpeg serve`, Serve) is an optional process of the
// service account that keeps the state database open: a call asks it to
// select a host and record the job, and later to release the job and
// write its history row, instead of opening the database itself (half a
// millisecond of SQLite set-up, schema and WAL index per call, the pages
// of the SQLite library in every call's memory) and queueing with
// hundreds of other calls for the writers' lock. The helper runs the
// call's own selection code (decider) on the call's inputs; what it
// answers is what the call would have decided itself.
//
// Without a helper, or when it does not answer, refuses (another build of
// rffmpeg, another configuration, a caller it cannot see), or fails
// midway, the call does the work itself as before. Everything else a call
// writes (bad marks, checks, progress, probes) it writes itself, through
// a store it connects only when that happens.
//
// The socket lives in the private socket directory of the account (0700,
// made and checked by setup.SocketDir); the helper serves only peers of
// its own uid (SO_PEERCRED) whose PID is the one the request claims, and
// a caller dials only a socket of its own uid.

// KeeperSocket is the helper's socket name in the private directory.
const KeeperSocket = "state.sock"

// HelperEnv set to "0" makes calls ignore a running helper (to measure
// or rule it out).
const HelperEnv = "RFFMPEG_STATE_HELPER"

// KeeperPath is where the state helper of o listens ("": nowhere, the
// account has no private socket directory).
func KeeperPath(o Options) string {
	if o.LockDir == "" {
		return ""
	}
	return filepath.Join(o.LockDir, KeeperSocket)
}

// KeeperKey identifies what a call and a helper must share for the helper
// to answer for the call: the same build of rffmpeg (the executable's
// file: an upgrade replaces it) and the same configuration (the file's
// bytes and the environment it reads: RFFMPEG_POSTGRES_* and libpq's PG*,
// which decide the database, and RFFMPEG_FRONTEND_ID: keyEnv).
func KeeperKey(c *config.Config) string {
	h := sha256.New()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err == nil {
		fmt.Fprintf(h, "exe %d %d %d %d\n", st.Dev, st.Ino, st.Size, st.Mtim.Nano())
	}
	fmt.Fprintf(h, "config %s\n", c.Digest())
	for _, name := range keyEnv {
		v, ok := os.LookupEnv(name)
		fmt.Fprintf(h, "%s %t %q\n", name, ok, v)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// keyEnv is the environment that decides the database and the frontend:
// rffmpeg's own variables and those pgx (like libpq) reads.
var keyEnv = []string{"RFFMPEG_POSTGRES_HOST", "RFFMPEG_POSTGRES_PORT", "RFFMPEG_POSTGRES_DB", "RFFMPEG_POSTGRES_USER",
	"RFFMPEG_POSTGRES_PASS", "RFFMPEG_FRONTEND_ID", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD",
	"PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGAPPNAME", "PGCONNECT_TIMEOUT", "PGSSLMODE", "PGSSLKEY", "PGSSLCERT",
	"PGSSLSNI", "PGSSLROOTCERT", "PGSSLPASSWORD", "PGSSLNEGOTIATION", "PGTARGETSESSIONATTRS", "PGTZ", "PGOPTIONS",
	"PGMINPROTOCOLVERSION", "PGMAXPROTOCOLVERSION"}

// keepRequest is what a call asks the helper: "acquire" (a selection with
// the call's inputs) or "release" (a finished job).
type keepRequest struct {
	Op     string
	Key    string        // KeeperKey of the call
	DBFile [2]uint64     // the SQLite file's device and inode as the call sees it (zero: PostgreSQL)
	Wait   time.Duration // how long the database may keep the call waiting
	// acquire
	Req         state.AcquireRequest
	Job         jobclass.Job
	Special     bool
	Self        owner.Identity
	GiveUp      bool
	LocalProbed bool
	// release
	Lease  state.Lease
	Record state.JobRecord
}

// keepReply is the helper's answer.
type keepReply struct {
	Refused string // not served: the call works on its own
	Err     string // the store's error
	Busy    bool   // the database stayed busy past the call's wait
	// acquire
	Lease      state.Lease
	Decision   state.Decision
	Chosen     selector.HostView
	PathMaps   string // Chosen's (unexported in state.Host)
	Route      selector.Route
	Local      localProbe
	LocalKnown bool
	Malformed  []state.Malformed
}

// errKeeperBusy: the helper's database stayed busy past the call's wait.
var errKeeperBusy = errors.New("the state helper's database stayed busy")

// keeperDial bounds connecting to the helper: a local process that
// accepts at once, or is not there.
const keeperDial = 100 * time.Millisecond

// keeper is a call's connection to the helper.
type keeper struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialKeeper connects to the helper of o, or returns nil: no socket, not
// a socket of this user, nobody listening.
func dialKeeper(o Options) *keeper {
	if os.Getenv(HelperEnv) == "0" {
		return nil
	}
	return dialKeeperAt(KeeperPath(o))
}

func dialKeeperAt(path string) *keeper {
	if path == "" {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || int(st.Uid) != os.Geteuid() {
		return nil
	}
	c, err := net.DialTimeout("unix", path, keeperDial)
	if err != nil {
		return nil
	}
	return &keeper{conn: c, r: bufio.NewReader(c)}
}

func (k *keeper) close() {
	if k != nil {
		k.conn.Close()
	}
}

// keeperAck bounds the helper's first word on a request: its answer, or
// (when the answer takes longer than keeperAckAfter: the database is
// busy) an acknowledgement. A helper that is stopped, frozen or swapped
// out must not cost a call its database wait (the kernel still accepts
// connections for it).
const keeperAck = 500 * time.Millisecond

// keeperAckAfter is when the helper acknowledges a request it has not
// answered yet. Not at once: an acknowledgement wakes the call once more,
// which costs about as much as the helper saves.
const keeperAckAfter = 100 * time.Millisecond

// keeperMargin is how long before the call's deadline the helper answers
// that the database stayed busy.
const keeperMargin = 50 * time.Millisecond

// ask sends r and reads the answer by ctx's deadline less reserve (time
// kept for the call to do the work itself if the helper fails). A
// transport error, a missing acknowledgement or a refusal means the
// helper is of no use to this call (keeperFailed).
func (k *keeper) ask(ctx context.Context, r keepRequest, reserve time.Duration) (keepReply, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	deadline = deadline.Add(-reserve)
	r.Wait = max(time.Until(deadline)-keeperMargin, 0)
	var a keepReply
	k.conn.SetDeadline(time.Now().Add(keeperAck))
	if err := writeMsg(k.conn, &r); err != nil {
		return a, err
	}
	// From here on the helper may have carried the request out, whatever
	// fails (lostAnswer).
	n, err := binary.ReadUvarint(k.r)
	if err == nil && n == 0 { // acknowledged: the answer takes longer
		k.conn.SetDeadline(deadline)
		n, err = binary.ReadUvarint(k.r)
	}
	if err == nil {
		err = readBody(k.r, n, &a)
	}
	if err != nil {
		return a, lostAnswer{err}
	}
	switch {
	case a.Refused != "":
		return a, fmt.Errorf("refused: %s", a.Refused)
	case a.Busy:
		return a, errKeeperBusy
	case a.Err != "":
		return a, storeErr{a.Err}
	}
	return a, nil
}

// lostAnswer is a failure after the helper took a request: it may have
// carried it out.
type lostAnswer struct{ err error }

func (e lostAnswer) Error() string { return "no answer: " + e.err.Error() }

// storeErr is the store's error, as the helper met it: the call would have
// met it too, so it is not the helper's failure.
type storeErr struct{ msg string }

func (e storeErr) Error() string { return e.msg }

// keeperFailed reports whether err says the helper is of no use to the
// call (rather than that the database failed or stayed busy).
func keeperFailed(err error) bool {
	var se storeErr
	return err != nil && !errors.Is(err, errKeeperBusy) && !errors.As(err, &se)
}

// ErrNoHelper: no state helper listens for this account (see Ping).
var ErrNoHelper = errors.New("no state helper is running for this account (optional: rffmpeg serve)")

// Ping asks the state helper of o whether it would answer this account's
// calls, as a call of this process would be answered (`rffmpeg serve
// --check`, the doctor): nil, ErrNoHelper, or why not. path is its socket.
func Ping(o Options) (path string, err error) {
	path = KeeperPath(o)
	k := dialKeeperAt(path)
	if k == nil {
		return path, ErrNoHelper
	}
	defer k.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &call{o: o}
	_, err = k.ask(ctx, keepRequest{Op: "ping", Key: o.KeeperKey(), DBFile: c.dbFile(), Self: owner.Self()}, 0)
	return path, err
}

// keepAcquire is the selection through the helper.
func (c *call) keepAcquire(ctx context.Context, req state.AcquireRequest, giveUp bool) (
	state.Lease, state.Decision, selector.HostView, selector.Route, []state.Malformed, error) {
	a, err := c.keep.ask(ctx, keepRequest{Op: "acquire", Key: c.o.KeeperKey(), DBFile: c.dbFile(), Req: req, Job: c.job,
		Special: c.j.Special, Self: c.env.Self, GiveUp: giveUp, LocalProbed: c.localProbed}, 0)
	if err != nil {
		return a.Lease, a.Decision, a.Chosen, a.Route, nil, err
	}
	a.Chosen.SetPathMapsText(a.PathMaps)
	c.local, c.localKnown = a.Local, a.LocalKnown
	c.log.Debugf("Selected through the state helper")
	return a.Lease, a.Decision, a.Chosen, a.Route, a.Malformed, nil
}

// dbFile is the SQLite file's identity as this call sees it: the helper
// must write the same file (a relative database.path, another mount
// namespace would not).
func (c *call) dbFile() [2]uint64 {
	if c.o.Store.Backend == state.PostgreSQL {
		return [2]uint64{}
	}
	id, _ := fileID(c.o.Store.Path)
	return id
}

// unkeep drops a helper that is of no use (why) and opens the database
// for this call's own selection.
func (c *call) unkeep(ctx context.Context, why error) error {
	c.log.Debugf("State helper: %v; selecting without it", why)
	var lost lostAnswer
	c.lostAnswer = errors.As(why, &lost)
	c.keep.close()
	c.keep = nil
	store, err := state.Open(ctx, c.o.Store)
	if err != nil {
		return err
	}
	c.store.Close()
	c.store = store
	return nil
}

// release ends the job's rows and writes its history row: through the
// helper when there is one that answers, else itself.
func (c *call) release(ctx context.Context, lease state.Lease, rec state.JobRecord) error {
	if k := c.keep; k != nil {
		// Half the wait is kept for releasing without the helper.
		deadline, _ := ctx.Deadline()
		_, err := k.ask(ctx, keepRequest{Op: "release", Key: c.o.KeeperKey(), DBFile: c.dbFile(), Self: c.env.Self,
			Lease: lease, Record: rec}, time.Until(deadline)/2)
		if !keeperFailed(err) {
			return err
		}
		c.log.Debugf("State helper: %v; releasing without it", err)
		// The helper may have released the job before its answer was lost:
		// one history row, not two.
		return c.store.ReleaseAndRecordHeld(ctx, lease, rec)
	}
	return c.store.ReleaseAndRecord(ctx, lease, rec)
}
