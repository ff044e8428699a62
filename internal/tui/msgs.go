package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Ops is what the console needs from the state store: the store's own
// operations (validation included) and a change feed. Writes name the host
// row the user saw by its key (id and server name), never by a string that
// is resolved as a name: a row that vanished meanwhile is an error ("host no
// longer exists"), not another host whose name is its id.
type Ops interface {
	Snapshot(ctx context.Context) (state.Snapshot, error)
	Reap(ctx context.Context, processes, marks []int64) error
	AddHost(ctx context.Context, hostname, name string, weight int, now time.Time) (state.Host, error)
	// CheckAdd says whether AddHost would refuse the values, without
	// writing: the add form asks before it spends seconds reaching a host.
	CheckAdd(ctx context.Context, hostname, name string, weight int, p state.HostProps) error
	SetCapabilities(ctx context.Context, k state.HostKey, caps []string, now time.Time) (state.Host, error)
	RemoveHostByKey(ctx context.Context, k state.HostKey) (state.Host, error)
	SetWeightByKey(ctx context.Context, k state.HostKey, weight int) (state.Host, error)
	AddWeightByKey(ctx context.Context, k state.HostKey, delta int) (state.Host, error)
	SetDrainByKey(ctx context.Context, k state.HostKey, drain bool) (state.Host, error)
	ClearByKey(ctx context.Context, k state.HostKey, onlyBad bool) (state.Cleared, error)
	ClearAll(ctx context.Context, onlyBad bool) (state.Cleared, error)
	SetHostPropsByKey(ctx context.Context, k state.HostKey, p state.HostProps) (state.Host, error)
	History(ctx context.Context, q state.HistoryQuery) ([]state.JobRecord, error)
	Watch(ctx context.Context, interval time.Duration) <-chan error
	Close() error
}

// connectedMsg: the store is open.
type connectedMsg struct {
	ops   Ops
	watch <-chan error
}

// dbErrMsg: the store cannot be opened or read; the console retries.
type dbErrMsg struct{ err error }

// retryMsg: time to try the store again.
type retryMsg struct{}

// changedMsg: someone changed the state.
type changedMsg struct{}

// loadedMsg carries a fresh classified view.
type loadedMsg struct {
	view     selector.View
	at       time.Time
	warnings []string
	progress map[int64]state.JobProgress // by processes row id
}

// progressor is a store that records running jobs' progress (a
// *state.Store does).
type progressor interface {
	Progress(ctx context.Context) (map[int64]state.JobProgress, error)
}

// warner is what a store may also tell (a *state.Store does): its own
// warnings (a read-only database) and the problems calls worked around (an
// unusable log file or socket directory), which `rffmpeg status` shows too.
type warner interface {
	Warnings() []string
	Problems(ctx context.Context, since time.Time) ([]state.Problem, error)
}

func warningsOf(ctx context.Context, ops Ops, now time.Time) []string {
	w, ok := ops.(warner)
	if !ok {
		return nil
	}
	out := w.Warnings()
	ps, err := w.Problems(ctx, now.Add(-state.ProblemWindow))
	if err != nil {
		return append(out, err.Error())
	}
	for _, p := range ps {
		out = append(out, p.Describe(now))
	}
	return out
}

// tickMsg re-renders ages and countdowns once a second.
type tickMsg time.Time

// logMsg carries lines appended to the log.
type logMsg logging.Chunk

// doneMsg reports a write's result for the status line. It triggers no
// reload: the change feed sees the write and reloads once.
type doneMsg struct {
	text string
	err  error
}

// watchErrMsg is a change-feed error (the feed keeps trying).
type watchErrMsg struct{ err error }

// watchInterval is how often the change feed polls: a change shows within
// this plus one read and render, inside the 500 ms the console promises; an
// idle poll is one step of a prepared statement.
const watchInterval = 200 * time.Millisecond

func connect(ctx context.Context, open func(context.Context) (Ops, error)) tea.Cmd {
	return func() tea.Msg {
		ops, err := open(ctx)
		if err != nil {
			return dbErrMsg{err}
		}
		return connectedMsg{ops: ops, watch: ops.Watch(ctx, watchInterval)}
	}
}

func retryLater() tea.Cmd {
	return tea.Tick(2*time.Second, func(time.Time) tea.Msg { return retryMsg{} })
}

// listen turns the next event of the change feed into a message.
func listen(ch <-chan error) tea.Cmd {
	return func() tea.Msg {
		err, ok := <-ch
		switch {
		case !ok:
			return nil
		case err != nil:
			return watchErrMsg{err}
		}
		return changedMsg{}
	}
}

func load(ctx context.Context, ops Ops, policy func(time.Time) selector.Policy, now func() time.Time) tea.Cmd {
	return func() tea.Msg {
		// Classified and reaped exactly as `rffmpeg status` does.
		t := now()
		v, err := selector.Load(ctx, ops, policy(t))
		if err != nil {
			return dbErrMsg{err}
		}
		var prog map[int64]state.JobProgress
		if p, ok := ops.(progressor); ok {
			prog, _ = p.Progress(ctx) // best effort: the jobs are listed without it
		}
		return loadedMsg{view: v, at: t, warnings: warningsOf(ctx, ops, t), progress: prog}
	}
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// act runs a write and reports for the status line.
func act(fn func() (string, error)) tea.Cmd {
	return func() tea.Msg {
		text, err := fn()
		return doneMsg{text: text, err: err}
	}
}
