package logging

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/safefs"
)

// Pos is where a reader of the log stands: the file, which file it was (a
// rotated log is a new file at the same path), and the offset of the next
// unread byte. The zero Pos has read nothing yet.
type Pos struct {
	Path string
	Ino  uint64 // 0: not opened yet
	Off  int64
}

// Chunk is what one read of the log found.
type Chunk struct {
	Pos   Pos      // where the next read starts
	Reset bool     // another file than before, or the same one shorter: earlier lines are gone
	Lines []string // complete new lines without their newline, raw: escape them for display
}

// maxRead bounds one read, so a huge backlog arrives in pieces.
const maxRead = 4 << 20

// ReadNew reads what was appended to the log at path since pos. backlog is
// how much of the first file read is shown: its last backlog bytes (cut to
// whole lines), 0 for nothing (tail -n0 -f). A file that replaces another
// (rotation, the next day's dated file, a truncation) is read from its
// start. A partial last line waits for its newline. ok is false when there
// is nothing to tell; the returned chunk's Pos is the next position anyway.
func ReadNew(path string, pos Pos, backlog int64) (c Chunk, ok bool) {
	c.Pos = pos
	if path == "" {
		return c, false
	}
	first := pos.Path == ""
	if path != pos.Path {
		c.Reset = !first
		c.Pos = Pos{Path: path}
	}
	f, err := safefs.OpenRegular(path) // never block on a planted FIFO
	if err != nil {
		return c, c.Reset
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return c, c.Reset
	}
	var ino uint64
	if st, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
		ino = st.Ino
	}
	switch {
	case c.Pos.Ino == 0 && first:
		c.Pos.Off = max(0, fi.Size()-backlog)
	case c.Pos.Ino != 0 && (ino != c.Pos.Ino || fi.Size() < c.Pos.Off):
		c.Reset, c.Pos.Off = true, 0
	}
	c.Pos.Ino = ino
	if fi.Size() > c.Pos.Off {
		c.Lines, c.Pos.Off = readLines(f, fi.Size(), c.Pos.Off, first && midLine(f, c.Pos.Off))
	}
	return c, c.Reset || len(c.Lines) > 0
}

// midLine reports whether off falls inside a line (a backlog cut).
func midLine(f *os.File, off int64) bool {
	if off == 0 {
		return false
	}
	b := make([]byte, 1)
	_, err := f.ReadAt(b, off-1)
	return err == nil && b[0] != '\n'
}

// readLines reads whole lines of f (size bytes long) from off; dropFirst
// skips a line cut by a backlog that started mid-line.
func readLines(f *os.File, size, off int64, dropFirst bool) ([]string, int64) {
	b := make([]byte, min(size-off, maxRead))
	n, _ := f.ReadAt(b, off)
	b = b[:n]
	used := n
	if end := bytes.LastIndexByte(b, '\n'); end >= 0 {
		b, used = b[:end+1], end+1
	} else if n < maxRead {
		return nil, off // a partial line: wait for its end
	} else {
		b = append(b, '\n') // one line longer than a read: show it in pieces rather than never
	}
	if dropFirst {
		b = b[bytes.IndexByte(b, '\n')+1:]
	}
	if len(b) == 0 {
		return nil, off + int64(used)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), off + int64(used)
}

// Tail follows the log: it polls the file named by pathAt (which changes at
// midnight with dated files) every interval and calls emit with what is new,
// until ctx ends (then it returns nil) or emit fails. backlog is as for
// ReadNew. Nothing is emitted while nothing changes.
func Tail(ctx context.Context, pathAt func() string, backlog int64, every time.Duration, emit func(Chunk) error) error {
	var pos Pos
	for {
		for {
			c, ok := ReadNew(pathAt(), pos, backlog)
			pos = c.Pos
			if !ok {
				break
			}
			if err := emit(c); err != nil {
				return err
			}
			if len(c.Lines) == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// Writer adapts an io.Writer to Tail's emit: each line, then a newline, in
// one write per chunk. escape makes each line safe for a terminal (nil:
// raw).
func Writer(w io.Writer, escape func(string) string) func(Chunk) error {
	return func(c Chunk) error {
		if len(c.Lines) == 0 {
			return nil
		}
		var b strings.Builder
		for _, l := range c.Lines {
			if escape != nil {
				l = escape(l)
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
}
