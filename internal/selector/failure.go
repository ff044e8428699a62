package selector

import (
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// FailureClass is the failure class (state.Fail*) of a host's bad mark or
// last error, read from the reason the shim wrote ("" when the reason says
// none: a mark the original rffmpeg wrote, a refused host name). The shim
// writes these reasons (remote.Classify and the shim's own outcomes); their
// beginnings are stable, as scripts read them through status --json.
func FailureClass(reason string) string {
	r := strings.ToLower(reason)
	for _, c := range failurePrefixes {
		if strings.HasPrefix(r, c.prefix) {
			return c.class
		}
	}
	return ""
}

var failurePrefixes = []struct{ prefix, class string }{
	{"host key", state.FailHostKey},
	{"authentication failed", state.FailAuth},
	{"connection refused", state.FailConnect},
	{"unreachable", state.FailConnect},
	{"unknown host name", state.FailConnect},
	{"ssh failed before the command started", state.FailConnect},
	{"timed out", state.FailTimeout},
	{"connection lost", state.FailLost},
	{"ssh exited 255 in plain mode", state.FailLost},
	{"remote program not found", state.FailRemoteMissing},
	{"remote program not executable", state.FailRemoteNotExec},
}

// MarkClass is FailureClass for a display or a metric label: "other" where
// no class is named.
func MarkClass(reason string) string {
	if c := FailureClass(reason); c != "" {
		return c
	}
	return "other"
}
