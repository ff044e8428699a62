package setup

import (
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// remote.host_keys is passed through as it is written: config (which reads
// it) and remote (which acts on it) must spell each mode the same. Neither
// package may import the other, so this test holds them together.
func TestHostKeyModesAgree(t *testing.T) {
	for _, m := range [][2]string{
		{config.HostKeysTOFU, remote.HostKeysTOFU},
		{config.HostKeysIgnore, remote.HostKeysIgnore},
		{config.HostKeysSSH, remote.HostKeysSSH},
	} {
		if m[0] != m[1] {
			t.Errorf("config says %q, remote %q", m[0], m[1])
		}
	}
}
