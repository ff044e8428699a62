package testrig

import (
	"fmt"
	"os"
	"path/filepath"
)

// Keys are a rig's key files in one directory: the sshd host key, the client
// key (its public half is the only authorized key) and a second host key
// for host-key-change tests.
type Keys struct {
	Host, Client, OtherHost, AuthorizedKeys string
}

// KeysIn names the key files MakeKeys writes in dir.
func KeysIn(dir string) Keys {
	return Keys{
		Host:           filepath.Join(dir, "host"),
		Client:         filepath.Join(dir, "client"),
		OtherHost:      filepath.Join(dir, "otherhost"),
		AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
	}
}

// MakeKeys generates fresh ed25519 keys in dir (replacing any there).
func MakeKeys(dir string) (Keys, error) {
	k := KeysIn(dir)
	for _, f := range []string{k.Host, k.Client, k.OtherHost} {
		os.Remove(f)
		os.Remove(f + ".pub")
		if err := run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rffmpeg-testrig", "-f", f); err != nil {
			return Keys{}, fmt.Errorf("make keys: %w", err)
		}
	}
	pub, err := os.ReadFile(k.Client + ".pub")
	if err != nil {
		return Keys{}, fmt.Errorf("make keys: %w", err)
	}
	if err := os.WriteFile(k.AuthorizedKeys, pub, 0o644); err != nil {
		return Keys{}, fmt.Errorf("make keys: %w", err)
	}
	return k, nil
}
