package setup

import (
	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
)

// SSH is how to reach a host under this configuration: the shim, the
// guardian, `rffmpeg doctor` and the console's checks build it here, so they
// run ssh with the same options.
func SSH(c *config.Config, hostname string) remote.SSH {
	return remote.SSH{
		Path: c.Commands.SSH, User: c.Remote.User, Host: hostname,
		ConnectTimeout: c.Remote.ConnectTimeout, Persist: c.Remote.Persist, PersistDir: c.Directories.Persist,
		KeepaliveEvery: c.Remote.KeepaliveEvery, KeepaliveCount: c.Remote.KeepaliveCount,
		HostKeys: c.Remote.HostKeys, KnownHosts: c.KnownHostsPath(), Extra: c.Remote.Args,
	}
}
