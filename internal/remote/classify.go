package remote

import (
	"strconv"
	"strings"
)

// Classify turns a failed ssh call (its exit code and what it printed) into a
// short reason for the log and for `status`: refused, timed out, host key
// changed, authentication failed, remote program missing, …
func Classify(code int, diag string) string {
	d := strings.ToLower(diag)
	switch {
	case strings.Contains(d, "remote host identification has changed"), strings.Contains(d, "host key verification failed"):
		return "host key changed or unknown: refusing to connect (see remote.host_keys)"
	case strings.Contains(d, "connection refused"):
		return "connection refused"
	case strings.Contains(d, "timed out"), strings.Contains(d, "timeout"):
		return "timed out"
	case strings.Contains(d, "no route to host"), strings.Contains(d, "network is unreachable"):
		return "unreachable"
	case strings.Contains(d, "could not resolve hostname"), strings.Contains(d, "name or service not known"):
		return "unknown host name"
	case strings.Contains(d, "permission denied"):
		return "authentication failed (permission denied)"
	case code == 127, strings.Contains(d, "not found"):
		return "remote program not found (exit 127)"
	case code == 126:
		return "remote program not executable (exit 126)"
	}
	first := strings.TrimSpace(strings.SplitN(strings.TrimSpace(diag), "\n", 2)[0])
	if first == "" {
		return "failed with exit code " + strconv.Itoa(code)
	}
	if len(first) > 200 {
		first = first[:200]
	}
	return first + " (exit " + strconv.Itoa(code) + ")"
}
