package remote

import (
	"bytes"
	"strconv"
	"time"
)

// Progress is one of ffmpeg's stats lines, read from the job's stderr as it
// passes through (Spec.Progress). ffmpeg prints one about twice a second
// while it encodes, ended by '\r' (by '\n' for the last one):
//
//	frame=  240 fps= 48 q=28.0 size=     512KiB time=00:00:09.56 bitrate= 438.7kbits/s speed=1.91x
//
// An audio-only job's line starts at size=. Jellyfin parses the same line
// (it does not use -progress), so every transcode it starts prints one.
type Progress struct {
	Frame int64 // frames written so far; -1 when the line has none
	FPS   float64
	// Position is the output's time= (how far the job got); HasPosition
	// is false for "N/A" (no stream has a timestamp yet).
	Position    time.Duration
	HasPosition bool
	Speed       float64 // times real time; 0 when "N/A"
}

// maxStatsLine bounds the line kept for parsing: a stats line with a few
// outputs is 100 to 300 bytes; a longer line (a log message) is skipped.
const maxStatsLine = 1024

// progressTap reads a copy of the job's stderr for stats lines. It sees the
// bytes after they were written on (the stream is never changed or held for
// it), keeps at most maxStatsLine of them, and allocates nothing per byte.
type progressTap struct {
	fn   func(Progress)
	line [maxStatsLine]byte
	n    int
	skip bool // the current line overflowed the buffer: not a stats line
}

func newProgressTap(fn func(Progress)) *progressTap {
	if fn == nil {
		return nil
	}
	return &progressTap{fn: fn}
}

// feed reads p, calling fn for every stats line that ends in it. Lines may
// be split across reads anywhere.
func (t *progressTap) feed(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !t.skip {
			if t.n+len(chunk) > len(t.line) {
				t.skip = true
			} else {
				t.n += copy(t.line[t.n:], chunk)
			}
		}
		if i < 0 {
			return
		}
		if !t.skip && t.n > 0 {
			if pr, ok := ParseStats(t.line[:t.n]); ok {
				t.fn(pr)
			}
		}
		t.n, t.skip = 0, false
		p = p[i+1:]
	}
}

// ParseStats reads one stats line (without its '\r' or '\n'); ok is false
// for any other line. A line counts when it starts with frame= or size=
// (Lsize= on the last one) and has time= — a log message that merely
// mentions "time=" somewhere does not.
func ParseStats(line []byte) (Progress, bool) {
	line = bytes.TrimLeft(line, " ")
	if !bytes.HasPrefix(line, []byte("frame=")) && !bytes.HasPrefix(line, []byte("size=")) &&
		!bytes.HasPrefix(line, []byte("Lsize=")) {
		return Progress{}, false
	}
	pr := Progress{Frame: -1}
	seenTime := false
	for len(line) > 0 {
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			break
		}
		key := bytes.TrimSpace(line[:eq])
		rest := bytes.TrimLeft(line[eq+1:], " ")
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		val := rest[:end]
		line = rest[end:]
		switch string(key) { // no allocation: the compiler compares in place
		case "frame":
			if n, err := strconv.ParseInt(string(val), 10, 64); err == nil {
				pr.Frame = n
			}
		case "fps":
			pr.FPS = parseFloat(val)
		case "time":
			seenTime = true
			pr.Position, pr.HasPosition = parseClock(val)
		case "speed":
			pr.Speed = parseFloat(bytes.TrimSuffix(val, []byte("x")))
		}
	}
	if !seenTime {
		return Progress{}, false
	}
	return pr, true
}

// parseFloat is a number ffmpeg printed, 0 for "N/A" or anything odd.
func parseFloat(b []byte) float64 {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f != f {
		return 0
	}
	return f
}

// parseClock reads ffmpeg's [-]HH:MM:SS.cc; a negative time (the first
// packets of a stream with a start offset) counts as 0.
func parseClock(b []byte) (time.Duration, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	h, rest, ok1 := bytes.Cut(b, []byte(":"))
	m, s, ok2 := bytes.Cut(rest, []byte(":"))
	if !ok1 || !ok2 {
		return 0, false
	}
	hours, err1 := strconv.Atoi(string(h))
	mins, err2 := strconv.Atoi(string(m))
	secs, err3 := strconv.ParseFloat(string(s), 64)
	if err1 != nil || err2 != nil || err3 != nil || hours < 0 || mins < 0 || secs < 0 {
		return 0, false
	}
	if neg {
		return 0, true
	}
	d := time.Duration(hours)*time.Hour + time.Duration(mins)*time.Minute + time.Duration(secs*float64(time.Second))
	return d.Round(time.Millisecond), true
}
