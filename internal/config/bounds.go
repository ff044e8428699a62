package config

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// A configuration is a few dozen lines. Every call of the shim parses it,
// and the YAML parser's cost grows with size and, badly, with nesting: a
// 200 KB file of nested '[' made every call allocate gigabytes and die
// before ffmpeg ran. So both are bounded before parsing, by a cheap scan.
const (
	// MaxSize is the largest configuration file read.
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting of flow collections ([…], {…}) accepted.
	MaxDepth = 64
	// maxOpens bounds the '[' and '{' of a whole file (see checkBounds).
	maxOpens = 4096
)

// ErrTooLarge and ErrTooDeep are matched (errors.Is) by the refusals.
var (
	ErrTooLarge = errors.New("too large")
	ErrTooDeep  = errors.New("nested too deeply")
)

// readBounded reads at most MaxSize+1 bytes of path: a larger file is
// refused without reading (or allocating) the rest.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// checkBounds refuses a configuration larger than MaxSize or nested deeper
// than MaxDepth. The scan ignores quotes and comments on purpose: a scanner
// that guessed where a string ends differently from the parser could be
// fooled into under-counting. So it over-counts (a bracket in a string
// counts), and it also bounds the number of opening brackets, which bounds
// the parser's depth even if closing brackets in strings fool the running
// count (4096 levels parse in milliseconds).
func checkBounds(data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%w (more than %d bytes; a configuration is a few kilobytes)", ErrTooLarge, MaxSize)
	}
	depth, opens, line := 0, 0, 1
	for _, b := range data {
		switch b {
		case '\n':
			line++
		case '[', '{':
			depth++
			opens++
			if depth > MaxDepth || opens > maxOpens {
				return fmt.Errorf("line %d: %w (more than %d levels of [ or {)", line, ErrTooDeep, MaxDepth)
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
