package cli

import (
	"os"

	"github.com/rffmpeg/rffmpeg/internal/doctor"
)

// DoctorOptions are `rffmpeg doctor [HOST…] [--path DIR]… [--json]`.
type DoctorOptions struct {
	Hosts []string // none: every host in the state
	Paths []string // directories that must be shared with the hosts
	JSON  bool
}

// doctor runs every check (loading the configuration itself, so a broken
// one is reported as a failed check) and exits 1 when one failed.
func (x *verb) doctor(o DoctorOptions) error {
	exe, _ := os.Executable()
	r := doctor.Run(x.ctx, doctor.Options{Env: x.env.LookupEnv, Hosts: o.Hosts, Paths: o.Paths, Exe: exe})
	write := r.WriteText
	if o.JSON {
		write = r.WriteJSON
	}
	if err := write(x.env.Stdout); err != nil {
		return err
	}
	if !r.OK() {
		return ExitCode(ExitError)
	}
	return nil
}
