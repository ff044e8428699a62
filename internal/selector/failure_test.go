package selector

import (
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

func TestFailureClass(t *testing.T) {
	for reason, want := range map[string]string{
		"host key changed or unknown: refusing to connect (see remote.host_keys)": state.FailHostKey,
		"authentication failed (permission denied) (host keys: no known_hosts)":   state.FailAuth,
		"connection refused": state.FailConnect,
		"unknown host name":  state.FailConnect,
		"ssh failed before the command started (exit 255)":                              state.FailConnect,
		"timed out: the command did not start within 2.5s (host frozen or unreachable)": state.FailTimeout,
		"timed out after 3s (host frozen or unreachable)":                               state.FailTimeout,
		"connection lost while running (host frozen or unreachable)":                    state.FailLost,
		"remote program not found (exit 127)":                                           state.FailRemoteMissing,
		"remote program not executable (exit 126)":                                      state.FailRemoteNotExec,
		"refused: host name begins with '-'":                                            "",
		"":                                                                              "",
		"Marked bad by the original rffmpeg":                                            "",
	} {
		if got := FailureClass(reason); got != want {
			t.Errorf("FailureClass(%q) = %q, want %q", reason, got, want)
		}
	}
}
