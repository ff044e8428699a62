package tui

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Ops is what the console needs from the state store: the same operations
// the CLI uses (validation included), and a change feed.
type Ops interface {
	Snapshot(ctx context.Context) (state.Snapshot, error)
	Reap(ctx context.Context, processes, marks []int64) error
	AddHost(ctx context.Context, hostname, name string, weight int, now time.Time) (state.Host, error)
	RemoveHosts(ctx context.Context, ref string) ([]state.Host, error)
	SetWeight(ctx context.Context, ref string, weight int) ([]state.Host, error)
	SetDrain(ctx context.Context, ref string, drain bool) ([]state.Host, error)
	Clear(ctx context.Context, ref string, onlyBad bool) (state.Cleared, error)
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
	view selector.View
	at   time.Time
}

// tickMsg re-renders ages and countdowns once a second.
type tickMsg time.Time

// logMsg carries lines appended to the log.
type logMsg struct {
	path  string
	off   int64
	lines []string
	reset bool
}

// doneMsg reports an action's result for the status line.
type doneMsg struct {
	text string
	err  error
}

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
			return watchErr{err}
		}
		return changedMsg{}
	}
}

func load(ctx context.Context, ops Ops, policy func(time.Time) selector.Policy, now func() time.Time) tea.Cmd {
	return func() tea.Msg {
		snap, err := ops.Snapshot(ctx)
		if err != nil {
			return dbErrMsg{err}
		}
		t := now()
		v := policy(t).Classify(snap)
		// Rows of dead writers go, as with `status` (best effort).
		ops.Reap(ctx, v.DeadProcesses, v.DeadMarks)
		return loadedMsg{view: v, at: t}
	}
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// maxLogLines is what the log pane keeps.
const maxLogLines = 2000

// followLog waits until the log has something new for the pane and returns
// it: lines appended to path since off, or a reset when the file is new
// (rotation, the next day's dated file) or shorter. It polls the file size
// every 250 ms without sending anything meanwhile, so an idle console is not
// re-rendered for nothing. The first read of a file takes its last 64 KiB.
func followLog(ctx context.Context, pathAt func() string, prevPath string, off int64) tea.Cmd {
	return func() tea.Msg {
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(250 * time.Millisecond):
				}
			}
			if msg, ok := readLog(pathAt(), prevPath, off); ok {
				return msg
			}
		}
	}
}

// readLog reads what is new in path; ok is false when nothing is.
func readLog(path, prevPath string, off int64) (logMsg, bool) {
	msg := logMsg{path: path, off: off}
	if path == "" {
		return msg, false
	}
	if path != prevPath {
		msg.reset, msg.off = true, -1
	}
	f, err := os.Open(path)
	if err != nil {
		return msg, msg.reset && prevPath != ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return msg, false
	}
	if msg.off < 0 || fi.Size() < msg.off {
		msg.reset = true
		msg.off = max(0, fi.Size()-64*1024)
	}
	if fi.Size() > msg.off {
		f.Seek(msg.off, io.SeekStart)
		b, _ := io.ReadAll(io.LimitReader(f, 4<<20))
		// Keep a partial last line for the next read.
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
			msg.off += int64(len(b))
			msg.lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
	}
	return msg, msg.reset || len(msg.lines) > 0
}

// act runs a write and reports for the status line.
func act(fn func() (string, error)) tea.Cmd {
	return func() tea.Msg {
		text, err := fn()
		return doneMsg{text: text, err: err}
	}
}
