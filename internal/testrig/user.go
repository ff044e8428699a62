package testrig

import (
	"fmt"
	"os/user"
)

// EnsureUser makes name an ordinary account with /bin/sh, as on a transcode
// host, and lets sshd log it in with a key.
func EnsureUser(name string) error {
	if cur, err := user.Current(); err == nil && cur.Username == name {
		return nil // the caller's own account: leave it alone
	}
	if _, err := user.Lookup(name); err != nil {
		if err := run("useradd", "--create-home", "--shell", "/bin/sh", name); err != nil {
			return fmt.Errorf("create test user: %w", err)
		}
	}
	// A new account has no password and is "locked"; sshd without PAM
	// refuses locked accounts even for key logins. "*" is unlocked, and
	// still matches no password.
	if err := run("usermod", "-p", "*", name); err != nil {
		return fmt.Errorf("unlock test user: %w", err)
	}
	return nil
}
