// Package logging writes the original rffmpeg's log format,
//
//	2026-11-24 12:00:00,123 - rffmpeg[4242] - INFO - Finished rffmpeg with return code 0
//
// to the configured file (or one dated file per day, Jellyfin's naming), so
// users' greps keep working. A log that cannot be opened never stops a job.
// Control characters in a message are escaped, so one message is one line.
//
// The log directory is often writable by the service account, so the file
// is opened without following a symlink, must be a regular file with one
// link, and only a file this call created is given an owner and mode: the
// owner and group of the state (OwnerOf), mode 0664, so a log file that
// `sudo rffmpeg …` happened to create first does not silence the service.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/safefs"
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
	// OwnerOf are paths (the database, the state directory) of which the
	// first that exists gives its owner and group to a log file this
	// process creates.
	OwnerOf []string
}

// FileMode is the mode of a log file rffmpeg creates: the service account,
// root and the group's admins all append to it.
const FileMode = 0o664

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

// Err is why the log file could not be opened, if it could not. The lines
// are then dropped (the shim never writes to the caller's stderr, which is
// Jellyfin's transcode log and ffmpeg's): no ERROR can say so in the log
// itself, so status and doctor ask (see Check).
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
	f, err := open(l.o, l.Path())
	if err != nil {
		l.err = err
		l.w = io.Discard
		return l.w
	}
	l.f, l.w = f, f
	return l.w
}

// open opens (creating it when missing) the log file at p for appending.
func open(o Options, p string) (*os.File, error) {
	f, created, err := safefs.Open(p, os.O_WRONLY|os.O_APPEND, FileMode, true)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			// A hard link to another file (/etc/shadow) planted where
			// protected_hardlinks is off: never append to it.
			f.Close()
			return nil, fmt.Errorf("log file: %w: %s has %d hard links", safefs.ErrUnsafe, p, st.Nlink)
		}
	}
	if created {
		safefs.Adopt(f, FileMode, o.OwnerOf...)
	}
	return f, nil
}

// Check opens the log file the options name the way a call does (creating
// it when missing) and says why it cannot be used, if it cannot: status and
// doctor report it, since the log cannot.
func Check(o Options) error {
	if !o.ToFile {
		return nil
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f, err := open(o, Path(o, o.Now()))
	if err != nil {
		return err
	}
	return f.Close()
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
