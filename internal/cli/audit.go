package cli

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/setup"
)

// Who ran an admin command: the real user, and the user sudo was run by.
type Who struct {
	User     string
	UID      int
	SudoUser string // SUDO_USER, "" when not run through sudo
}

// WhoAmI is this process's real user (root under sudo) and SUDO_USER.
func WhoAmI(env func(string) (string, bool)) Who {
	w := Who{UID: os.Getuid()}
	w.User = strconv.Itoa(w.UID)
	if u, err := user.LookupId(w.User); err == nil {
		w.User = u.Username
	}
	w.SudoUser, _ = env("SUDO_USER")
	return w
}

// String is how the log names who did it: "alice (uid 1000)", or
// "root (uid 0) via sudo by alice".
func (w Who) String() string {
	s := fmt.Sprintf("%s (uid %d)", w.User, w.UID)
	if w.SudoUser != "" {
		s += " via sudo by " + w.SudoUser
	}
	return escape.Line(s)
}

// audit writes an admin action to the rffmpeg log with who ran it, so a
// host that vanished or changed weight can be traced. Only to a log file:
// with logging to stderr there is no record to keep, and the admin's
// terminal is not a log. Best effort: a log that cannot be written never
// fails the action.
func (x *verb) audit(format string, args ...any) {
	o := setup.Log(x.cfg)
	if !o.ToFile {
		return
	}
	o.Now = x.env.Now
	l := logging.New(o)
	defer l.Close()
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = escape.Line(s)
		}
	}
	l.Infof("Admin action by %s: rffmpeg %s: %s", x.env.Who(), x.name, fmt.Sprintf(format, args...))
}
