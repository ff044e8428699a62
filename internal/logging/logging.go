// Package logging writes the original rffmpeg's log format,
//
//	2026-11-24 12:00:00,123 - rffmpeg[4242] - INFO - Finished rffmpeg with return code 0
//
// to the configured file (or one dated file per day, Jellyfin's naming), so
// users' greps keep working. A log that cannot be opened never stops a job.
// Control characters in a message are escaped, so one message is one line.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
)

// Options say where and how much to log.
type Options struct {
	ToFile   bool
	File     string
	Dated    bool
	DatedDir string
	Debug    bool
	Stderr   io.Writer // used when ToFile is false
	PID      int
	Now      func() time.Time
}

// Logger is safe for concurrent use.
type Logger struct {
	mu   sync.Mutex
	o    Options
	w    io.Writer
	f    *os.File
	err  error
	open bool
}

// New prepares a logger; the file is opened on the first message.
func New(o Options) *Logger {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return &Logger{o: o}
}

// Path is the file messages go to now ("" when logging to stderr).
func (l *Logger) Path() string {
	return Path(l.o, l.o.Now())
}

// Path is the log file for options at time t.
func Path(o Options, t time.Time) string {
	if !o.ToFile {
		return ""
	}
	if o.Dated {
		return filepath.Join(o.DatedDir, t.Format("20060102")+"_rffmpeg.log")
	}
	return o.File
}

// Err is why the log file could not be opened, if it could not.
func (l *Logger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *Logger) writer() io.Writer {
	if l.open {
		return l.w
	}
	l.open = true
	if !l.o.ToFile {
		l.w = l.o.Stderr
		return l.w
	}
	p := l.Path()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o664)
	if err != nil {
		l.err = err
		l.w = io.Discard
		return l.w
	}
	l.f, l.w = f, f
	return l.w
}

func (l *Logger) log(level, format string, args ...any) {
	t := l.o.Now()
	// Arguments, host names and a remote host's stderr reach messages: a
	// newline must not forge a line ("Finished rffmpeg with return code 0")
	// and a terminal sequence must not act on whoever tails the log.
	msg := escape.Line(fmt.Sprintf(format, args...))
	line := fmt.Sprintf("%s,%03d - rffmpeg[%d] - %s - %s\n", t.Format("2006-01-02 15:04:05"), t.Nanosecond()/1e6, l.o.PID, level, msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	// One write per line: O_APPEND keeps concurrent shims' lines whole.
	l.writer().Write([]byte(line))
}

func (l *Logger) Debugf(format string, args ...any) {
	if l.o.Debug {
		l.log("DEBUG", format, args...)
	}
}
func (l *Logger) Infof(format string, args ...any)  { l.log("INFO", format, args...) }
func (l *Logger) Warnf(format string, args ...any)  { l.log("WARNING", format, args...) }
func (l *Logger) Errorf(format string, args ...any) { l.log("ERROR", format, args...) }

// Close closes the file.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}
