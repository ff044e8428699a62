package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func TestBounds(t *testing.T) {
	okDeep := "rffmpeg:\n  commands:\n    pre: " + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + "\n"
	tests := []struct {
		name string
		data string
		want error // nil: parsed (or a YAML error that is not a bound)
	}{
		{"100000 nested [", "rffmpeg:\n  x: " + strings.Repeat("[", 100000), ErrTooDeep},
		{"nested {", strings.Repeat("{a: ", MaxDepth+1), ErrTooDeep},
		{"brackets balanced by ] in strings", strings.Repeat(`["]", `, 5000), ErrTooDeep},
		{"too large", "# " + strings.Repeat("x", MaxSize) + "\n", ErrTooLarge},
		{"a real config with brackets", "rffmpeg:\n  remote:\n    args: [\"-i\", \"/k\"]\n", nil},
		{"just under the depth", okDeep, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			_, err := Parse([]byte(tt.data), noEnv)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == nil && (errors.Is(err, ErrTooDeep) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("refused a sane config: %v", err)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// Load refuses a huge file without reading it whole, in one clear line.
func TestLoadBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // 100 MB of NULs, sparse
		t.Fatal(err)
	}
	f.Close()
	deep := filepath.Join(dir, "deep.yml")
	os.WriteFile(deep, []byte(strings.Repeat("[", 200000)), 0o644)
	for _, tt := range []struct{ path, want string }{
		{big, "config " + big + ": too large"},
		{deep, "config " + deep + ": line 1: nested too deeply"},
	} {
		t0 := time.Now()
		_, err := Load(func(k string) (string, bool) {
			if k == "RFFMPEG_CONFIG" {
				return tt.path, true
			}
			return "", false
		})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want a line starting %q", err, tt.want)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("%s: took %v", tt.path, d)
		}
	}
}
