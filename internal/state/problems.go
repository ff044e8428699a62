package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Problems are what a call could not use and worked around (its log file,
// its private socket directory): the call runs on, so nobody would know.
// The shim records them here, where status and the console look, because
// the admin who runs those is rarely the service account that hit them.
// One row per source (a problem and whose it is), rewritten while it lasts;
// readers show only recent ones, so a fixed problem fades away by itself.

// Problem is one recorded problem.
type Problem struct {
	Source  string // what and whose, e.g. "log file (uid 107)"
	Message string
	Seen    time.Time // last reported
}

// createProblems is the migration adding rffmpeg_problems.
func createProblems(ctx context.Context, tx *sql.Tx, d dialect) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rffmpeg_problems (source TEXT PRIMARY KEY, message TEXT NOT NULL, seen BIGINT NOT NULL)`)
	return err
}

// maxProblem bounds a message (it may quote an error with a path).
const maxProblem = 1024

// ReportProblem records (or refreshes) the problem of source.
func (s *Store) ReportProblem(ctx context.Context, source, message string, now time.Time) error {
	if len(message) > maxProblem {
		message = message[:maxProblem]
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO rffmpeg_problems (source, message, seen) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET message = excluded.message, seen = excluded.seen`), capCommand(source), message, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record problem: %w", err)
	}
	return nil
}

// Problems lists the problems reported at or after since, newest first.
func (s *Store) Problems(ctx context.Context, since time.Time) ([]Problem, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT source, message, seen FROM rffmpeg_problems WHERE seen >= ? ORDER BY seen DESC, source`), since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read problems: %w", err)
	}
	defer rows.Close()
	var ps []Problem
	for rows.Next() {
		var p Problem
		var seen int64
		if err := rows.Scan(&p.Source, &p.Message, &seen); err != nil {
			return nil, fmt.Errorf("read problems: %w", err)
		}
		p.Seen = time.UnixMilli(seen)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// ProblemWindow is how long a reported problem is shown (status, the
// console): a fixed problem fades away without anyone clearing it.
const ProblemWindow = 10 * time.Minute

// Describe is the problem as status and the console warn of it.
func (p Problem) Describe(now time.Time) string {
	return fmt.Sprintf("a call worked around a problem with its %s, %s ago: %s", p.Source, now.Sub(p.Seen).Round(time.Second), p.Message)
}
