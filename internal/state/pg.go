package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// What several frontends sharing one PostgreSQL need beyond SQLite: riding
// out a server restart, counting round trips, and telling live views about
// changes (LISTEN/NOTIFY) instead of polling a digest of every table.

// notifyChannel is the channel every write transaction notifies (in the
// same statement that takes the write lock: no extra round trip) and Watch
// listens on. PostgreSQL delivers a notification only if its transaction
// commits, and folds identical ones of one transaction into one.
const notifyChannel = "rffmpeg"

// transient reports whether err means the PostgreSQL server went away or
// is not accepting connections yet (a restart, a failover): the same work
// may succeed on a new connection in a moment. Authentication, a missing
// database or a bad query are not transient.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
		// cannot_connect_now (starting up, shutting down), class 08:
		// connection exceptions.
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || strings.HasPrefix(pe.Code, "08")
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return transient(ce.Unwrap())
	}
	// pgx reports a connection closed under a query in words only.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "connection reset")
}

// outageWait bounds how long a caller without a deadline of its own (an
// admin command) waits for a restarting server.
const outageWait = 5 * time.Second

// outageBound is when to stop waiting for a server that went away: the
// caller's deadline (a job's database.wait), else outageWait from now.
func outageBound(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(outageWait)
}

// statementCounter counts the statements sent to PostgreSQL.
type statementCounter struct{ n *atomic.Int64 }

func (t statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A pipelined batch of statements (see pipeline) is one round trip: it
// counts once.
func (t statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// Statements is how many round trips this store has made to PostgreSQL:
// statements sent one at a time (BEGIN and COMMIT included) and pipelined
// batches of them (each counted once); 0 on SQLite. Tests and `make
// bench-scale` read it before and after an operation to show that
// selection costs the same number of round trips whatever the number of
// hosts and jobs.
func (s *Store) Statements() int64 { return s.statements.Load() }

// watchPostgres is Watch on PostgreSQL: LISTEN on a connection of its own;
// each notification (a committed write of any frontend) is a change.
// When the connection breaks (a restart) the error is sent, and once it is
// back a change is sent too: notifications sent meanwhile were lost.
func (s *Store) watchPostgres(ctx context.Context, retry time.Duration, send func(error)) {
	lost := false
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.pgConfig.Copy())
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			send(err)
			lost = true
			sleep(ctx, retry)
			continue
		}
		if lost {
			send(nil)
			lost = false
		}
		for {
			if _, err = conn.WaitForNotification(ctx); err != nil {
				break
			}
			send(nil)
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		send(err)
		lost = true
		sleep(ctx, retry)
	}
}

// recordPostgres writes a job's four rows (processes and ours, states and
// ours) in one statement, one round trip instead of four while the write
// lock is held: what every selection waits for. SQLite has no
// data-modifying WITH; it is in-process anyway.
func (s *Store) recordPostgres(ctx context.Context, tx *sql.Tx, hostID int64, c Claim) (processID, stateID int64, err error) {
	err = tx.QueryRowContext(ctx, `WITH p AS (INSERT INTO processes (host_id, process_id, cmd) VALUES ($1, $2, $3) RETURNING id),
	x AS (INSERT INTO rffmpeg_processes (id, host_id, process_id, started, owner, heartbeat) SELECT id, $1, $2, $4, $5, $4 FROM p
		ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, process_id = excluded.process_id, started = excluded.started, owner = excluded.owner, heartbeat = excluded.heartbeat),
	s AS (INSERT INTO states (host_id, process_id, state) VALUES ($1, $2, '`+StateActive+`') RETURNING id),
	y AS (INSERT INTO rffmpeg_states (id, host_id, process_id, created, reason, owner) SELECT id, $1, $2, $4, NULL, $5 FROM s
		ON CONFLICT (id) DO UPDATE SET host_id = excluded.host_id, process_id = excluded.process_id, created = excluded.created, reason = excluded.reason, owner = excluded.owner)
	SELECT (SELECT id FROM p), (SELECT id FROM s)`, hostID, c.PID, c.Cmd, ms(c.Now), c.Owner).Scan(&processID, &stateID)
	return processID, stateID, err
}
