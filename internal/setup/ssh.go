package setup

import (
	"fmt"
	"os"
	"strconv"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/safefs"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// SSH is how to reach a host under this configuration: the shim, the
// guardian, `rffmpeg doctor` and the console's checks build it here, so they
// run ssh with the same options. When the private socket directory cannot
// be made safe (see SocketDir) it runs without a master connection.
func SSH(c *config.Config, hostname string) remote.SSH {
	s, _ := SSHChecked(c)
	s.Host = hostname
	return s
}

// ForHost is s aimed at host h: its name, and its own port and user when
// it has them (rffmpeg add user@host:port).
func ForHost(s remote.SSH, h state.Host) remote.SSH {
	s.Host = h.Hostname
	if h.SSHPort > 0 {
		s.Port = h.SSHPort
	}
	if h.SSHUser != "" {
		s.User = h.SSHUser
	}
	return s
}

// SSHFor is SSH for an ssh run as uid (rffmpeg doctor, as root, checks as
// the service account): another user cannot reach this user's private
// socket directory, and root must not make one for them, so such a run
// has no master connection.
func SSHFor(c *config.Config, hostname string, uid int) remote.SSH {
	s := SSH(c, hostname)
	if uid != os.Geteuid() {
		s.ControlDir = ""
	}
	return s
}

// sshBase is the configuration's ssh options, without a host and without
// a socket directory (nothing is created on disk).
func sshBase(c *config.Config) remote.SSH {
	return remote.SSH{
		Path: c.Commands.SSH, User: c.Remote.User,
		ConnectTimeout: c.Remote.ConnectTimeout, Persist: c.Remote.Persist, PersistDir: c.Directories.Persist,
		KeepaliveEvery: c.Remote.KeepaliveEvery, KeepaliveCount: c.Remote.KeepaliveCount,
		HostKeys: c.Remote.HostKeys, KnownHosts: c.KnownHostsPath(), Extra: c.Remote.Args,
	}
}

// SSHChecked is SSH without a host, and why the socket directory was
// refused (nil when it is fine or persist is off).
func SSHChecked(c *config.Config) (remote.SSH, error) {
	s := sshBase(c)
	if s.Persist == 0 {
		return s, nil
	}
	dir, err := SocketDir(c.Directories.Persist)
	s.ControlDir = dir
	return s, err
}

// maxSocketDir keeps <dir>/<16 hex> plus ssh's temporary suffix (a dot and
// 16 random characters while the master binds) inside the 108-byte
// sun_path, with its NUL.
const maxSocketDir = 108 - 1 - (1 + 16) - 17

// SocketDir is this user's private directory for master sockets and check
// locks under directories.persist: persist/rffmpeg-<euid>, mode 0700, owned
// by the effective uid, verified with lstat. The persist directory is
// /run/shm by default, world-writable: a socket at a predictable name there
// could be bound by another user first (a fake master that receives every
// command and the caller's streams). Anything wrong is refused, never
// repaired: the caller then runs without a master.
func SocketDir(persist string) (string, error) {
	dir, err := safefs.PrivateDir(persist, "rffmpeg-"+strconv.Itoa(os.Geteuid()))
	if err != nil {
		return "", fmt.Errorf("ssh socket directory: %w (running without a shared master connection)", err)
	}
	if len(dir) > maxSocketDir {
		return "", fmt.Errorf("ssh socket directory %s: longer than %d bytes, a socket path there would not fit (running without a shared master connection)", dir, maxSocketDir)
	}
	return dir, nil
}
