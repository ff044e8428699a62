package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A PostgreSQL setting that reaches another service says so.
func TestPgReason(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{errors.New("failed to connect to `user=x database=rffmpeg`: 127.0.0.1:8767 (127.0.0.1): expected at most 1073741822, but got 1397239086"),
			"expected at most 1073741822, but got 1397239086 (the server there does not speak PostgreSQL's protocol"},
		{fmt.Errorf("ping: %w", context.DeadlineExceeded), "(no PostgreSQL answer in time"},
		{errors.New("failed to connect to `user=x`: 127.0.0.1:5432 (127.0.0.1): dial error: connection refused"), "connection refused"},
	} {
		if got := pgReason(tt.err); !strings.Contains(got, tt.want) {
			t.Errorf("pgReason(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
	if got := pgReason(errors.New("password authentication failed for user \"x\"")); strings.Contains(got, "another service") {
		t.Errorf("an authentication failure blamed on another service: %q", got)
	}
}
