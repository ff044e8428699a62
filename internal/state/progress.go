package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Live progress of running jobs and requests to stop them: one row per
// running job in rffmpeg_progress, a table of ours keyed by the job's
// processes row (the original's tables stay untouched). The shim writes
// its job's position, speed and fps at most every couple of seconds, best
// effort; `rffmpeg kill` writes who asked to stop it, which the shim reads
// when the job ends. A row goes with its job's release (reap), and like
// our other rows it copies its base row's host and PID, so a row left for
// a reused id is ignored rather than attached to a stranger.

// FailStalled is the failure class of a job the shim stopped because its
// position did not advance for commands.stall_after (commands.stop_stalled).
const FailStalled = "stalled"

// JobProgress is what a running job last reported.
type JobProgress struct {
	ProcessID int64 // the job's processes row
	HostID    int64
	PID       int // the shim's local PID
	// Position is how far the job got (ffmpeg's time=); HasPosition is
	// false while ffmpeg said N/A.
	Position    time.Duration
	HasPosition bool
	Speed       float64 // times real time; 0: unknown
	FPS         float64
	Frames      int64     // frames written; -1: unknown (audio only)
	At          time.Time // when the shim last recorded progress
	// AdvancedAt is when the position last moved forward (the job's first
	// stats line before it ever did): a job whose position stays put for
	// long is stalled.
	AdvancedAt time.Time
	// KillBy is who asked to stop the job (`rffmpeg kill`), "" when
	// nobody did; KillAt is when.
	KillBy string
	KillAt time.Time
}

// HasProgress reports whether the job ever reported progress (a row
// holding only a kill request has none).
func (p JobProgress) HasProgress() bool { return !p.At.IsZero() }

// Stalled reports whether the job's position has not advanced for at
// least after (0 disables the check). A job that never reported progress
// (ffprobe, a job run locally) is never stalled.
func (p JobProgress) Stalled(now time.Time, after time.Duration) bool {
	return after > 0 && p.HasProgress() && now.Sub(p.AdvancedAt) >= after
}

// progressSchema is the progress table.
func progressSchema(d dialect) string {
	if d.name() == PostgreSQL {
		return `CREATE TABLE IF NOT EXISTS rffmpeg_progress (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER,
			position_ms BIGINT, speed DOUBLE PRECISION, fps DOUBLE PRECISION, frames BIGINT, updated BIGINT, advanced BIGINT,
			kill_by TEXT, kill_at BIGINT)`
	}
	return `CREATE TABLE IF NOT EXISTS rffmpeg_progress (id INTEGER PRIMARY KEY, host_id INTEGER, process_id INTEGER,
		position_ms INTEGER, speed REAL, fps REAL, frames INTEGER, updated INTEGER, advanced INTEGER,
		kill_by TEXT, kill_at INTEGER)`
}

// createProgress is the progress migration; it creates only what is
// missing, so it may sit at any position when migrations are merged.
func createProgress(ctx context.Context, tx *sql.Tx, d dialect) error {
	_, err := tx.ExecContext(ctx, progressSchema(d))
	return err
}

// sameJob keeps a row's kill request only while it belongs to the same job
// (see the package comment on reused ids).
const sameJob = `rffmpeg_progress.host_id = excluded.host_id AND rffmpeg_progress.process_id = excluded.process_id`

// The statements insert through a SELECT of the job's processes row, so a
// write that comes after the job's release inserts nothing. Values are
// cast: PostgreSQL cannot infer a parameter's type in a select list.
const setProgress = `INSERT INTO rffmpeg_progress (id, host_id, process_id, position_ms, speed, fps, frames, updated, advanced)
	SELECT p.id, p.host_id, p.process_id, CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION),
		CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
	FROM processes p WHERE p.id = ? AND p.process_id = ?
	ON CONFLICT (id) DO UPDATE SET position_ms = excluded.position_ms, speed = excluded.speed, fps = excluded.fps,
		frames = excluded.frames, updated = excluded.updated, advanced = excluded.advanced,
		kill_by = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.kill_by END,
		kill_at = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.kill_at END,
		host_id = excluded.host_id, process_id = excluded.process_id`

const requestKill = `INSERT INTO rffmpeg_progress (id, host_id, process_id, kill_by, kill_at)
	SELECT p.id, p.host_id, p.process_id, CAST(? AS TEXT), CAST(? AS BIGINT)
	FROM processes p WHERE p.id = ? AND p.process_id = ?
	ON CONFLICT (id) DO UPDATE SET kill_by = excluded.kill_by, kill_at = excluded.kill_at,
		position_ms = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.position_ms END,
		speed = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.speed END,
		fps = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.fps END,
		frames = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.frames END,
		updated = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.updated END,
		advanced = CASE WHEN ` + sameJob + ` THEN rffmpeg_progress.advanced END,
		host_id = excluded.host_id, process_id = excluded.process_id`

// SetProgress records a running job's progress (p.ProcessID and p.PID name
// it; p.HostID is read from its row). One statement, no write transaction
// of the store's: the caller bounds it with ctx and a busy database only
// means this update is skipped. A job already released is not written.
func (s *Store) SetProgress(ctx context.Context, p JobProgress) error {
	if err := s.readOnlyErr(); err != nil {
		return fmt.Errorf("record progress: %w", err)
	}
	var pos sql.NullInt64
	if p.HasPosition {
		pos = sql.NullInt64{Int64: p.Position.Milliseconds(), Valid: true}
	}
	_, err := s.db.ExecContext(ctx, s.q(setProgress), pos, p.Speed, p.FPS, p.Frames, ms(p.At), ms(p.AdvancedAt), p.ProcessID, p.PID)
	if err != nil {
		return fmt.Errorf("record progress of job %d: %w", p.ProcessID, err)
	}
	return s.notify(ctx)
}

// notify wakes live views (Watch) after a write made outside s.tx, which
// notifies by itself: PostgreSQL's LISTEN sees only what is notified
// (SQLite's views poll the data version and need nothing).
func (s *Store) notify(ctx context.Context) error {
	if s.d.name() != PostgreSQL {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `SELECT pg_notify('`+notifyChannel+`', '')`)
	return err
}

// RequestKill records that by asked to stop the job in processes row
// processID (whose writer has PID pid). ErrNotFound: the job is no longer
// running (or the row is another job's now).
func (s *Store) RequestKill(ctx context.Context, processID int64, pid int, by string, now time.Time) error {
	if err := s.readOnlyErr(); err != nil {
		return fmt.Errorf("request kill: %w", err)
	}
	r, err := s.db.ExecContext(ctx, s.q(requestKill), by, ms(now), processID, pid)
	if err != nil {
		return fmt.Errorf("request kill of job %d: %w", processID, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return kindErr(ErrNotFound, "job %d (PID %d) is not running", processID, pid)
	}
	return s.notify(ctx)
}

// KillRequest is who asked to stop the job in processes row processID
// (PID pid); "" when nobody did.
func (s *Store) KillRequest(ctx context.Context, processID int64, pid int) (string, error) {
	var by sql.NullString
	err := s.db.QueryRowContext(ctx, s.q(`SELECT kill_by FROM rffmpeg_progress WHERE id = ? AND process_id = ?`), processID, pid).Scan(&by)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read kill request of job %d: %w", processID, err)
	}
	return by.String, nil
}

const progressSelect = `SELECT x.id, x.host_id, x.process_id, x.position_ms, x.speed, x.fps, x.frames, x.updated, x.advanced, x.kill_by, x.kill_at
	FROM rffmpeg_progress x JOIN processes p ON p.id = x.id AND p.host_id = x.host_id AND p.process_id = x.process_id`

// Progress reads what every running job last reported, by processes row
// id (a job without a row reported nothing). The status and the console
// show it beside the jobs of a Snapshot.
func (s *Store) Progress(ctx context.Context) (map[int64]JobProgress, error) {
	rows, err := s.db.QueryContext(ctx, progressSelect)
	if err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	defer rows.Close()
	out := map[int64]JobProgress{}
	for rows.Next() {
		var p JobProgress
		var pos, frames, at, adv, killAt sql.NullInt64
		var speed, fps sql.NullFloat64
		var by sql.NullString
		if err := rows.Scan(&p.ProcessID, &p.HostID, &p.PID, &pos, &speed, &fps, &frames, &at, &adv, &by, &killAt); err != nil {
			return nil, fmt.Errorf("read progress: %w", err)
		}
		p.Position, p.HasPosition = time.Duration(pos.Int64)*time.Millisecond, pos.Valid
		p.Speed, p.FPS, p.Frames = speed.Float64, fps.Float64, frames.Int64
		if !frames.Valid {
			p.Frames = -1
		}
		p.At, p.AdvancedAt, p.KillBy, p.KillAt = fromMS(at), fromMS(adv), by.String, fromMS(killAt)
		out[p.ProcessID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	return out, nil
}

// ReleaseKilled ends the rows of a job whose shim was killed before it
// could (`rffmpeg kill` had to SIGKILL it) and records rec as its history,
// in one transaction; ok is false when the shim released them itself (and
// wrote its own history row), so a job is recorded once.
func (s *Store) ReleaseKilled(ctx context.Context, processID int64, pid int, rec JobRecord) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var host int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT host_id FROM processes WHERE id = ? AND process_id = ?`), processID, pid).Scan(&host)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		// Its "active" state row: the one of this host and PID (a shim
		// runs one job at a time; its bad marks stay).
		var states []int64
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM states WHERE host_id = ? AND process_id = ? AND state = ?`), host, pid, StateActive)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			states = append(states, id)
		}
		rows.Close()
		if err := s.reap(ctx, tx, []int64{processID}, states); err != nil {
			return err
		}
		ok = true
		return s.recordJob(ctx, tx, rec)
	})
	if err != nil {
		return false, fmt.Errorf("release killed job %d: %w", processID, err)
	}
	return ok, nil
}

// Clock is the job's position as HH:MM:SS ("--:--:--" when it has none).
func (p JobProgress) Clock() string {
	if !p.HasPosition {
		return "--:--:--"
	}
	d := p.Position.Truncate(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
