package shim

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdWriteLock holds w's database write lock until the test ends, as
// another process would. The store's own lock opens on its first write:
// this is a descriptor of our own.
func holdWriteLock(t *testing.T, w *world) {
	t.Helper()
	lock, err := os.OpenFile(w.o.Store.Path+".lock", os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
}

// A database whose write lock another process holds (here: another open
// file description of rffmpeg.db.lock) bounds every call: a special flag
// answers locally within SpecialWait, a job runs on the fallback after
// database.wait, and with the fallback off it fails, saying why.
func TestBusyDatabaseBounded(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		args     []string
		wantCode int
		wantLog  string
		bound    time.Duration
	}{
		{"special flag", "rffmpeg:\n  database:\n    wait: 30\n", []string{"-version"}, 0, "stayed busy for 1.2s, answering locally", 2 * time.Second},
		{"job", "rffmpeg:\n  database:\n    wait: 1\n", []string{"-i", "x"}, 0, "stayed busy for 1s, running on the fallback", 3 * time.Second},
		{"job, fallback off", "rffmpeg:\n  database:\n    wait: 1\n  commands:\n    fallback: false\n", []string{"-i", "x"}, 1, "commands.fallback is off: not running", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.yaml, "gpu1")
			holdWriteLock(t, w)
			f := &fake{}
			t0 := time.Now()
			code := w.call(f, tt.args...)
			took := time.Since(t0)
			if code != tt.wantCode || took > tt.bound {
				t.Errorf("exit %d after %v; want %d within %v", code, took, tt.wantCode, tt.bound)
			}
			if log := w.logText(); !strings.Contains(log, tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log)
			}
			for _, c := range f.Calls() {
				if !strings.HasPrefix(c, "local") {
					t.Errorf("ran %q past a held database", c)
				}
			}
		})
	}
}
