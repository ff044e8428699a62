package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/owner"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

func (x *verb) add(o AddOptions) error {
	if err := splitDestination(&o); err != nil {
		return err
	}
	return x.withStore(func(s *state.Store) error {
		version, err := x.reachNew(s, o)
		if err != nil {
			return err
		}
		h, err := s.AddHostWith(x.ctx, o.Hostname, o.Name, o.Weight, o.Props, x.env.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(x.env.Stdout, "Added host '%s' (%s) with id %d and weight %d\n", escape.Line(h.Hostname), escape.Line(h.Servername), h.ID, h.Weight)
		x.audit("added host '%s' (%s) with id %d and weight %d", h.Hostname, h.Servername, h.ID, h.Weight)
		if !o.Props.Empty() {
			props := describeProps(h)
			fmt.Fprintf(x.env.Stdout, "Host '%s' (%s) with id %d: %s\n", escape.Line(h.Hostname), escape.Line(h.Servername), h.ID, escape.Line(props))
			x.audit("set host '%s' (%s) with id %d: %s", h.Hostname, h.Servername, h.ID, props)
		}
		if !o.NoCheck {
			x.probeNew(s, h, version)
		}
		return nil
	})
}

func (x *verb) remove(o HostOptions) error {
	return x.withStore(func(s *state.Store) error {
		running := x.runningOn(s, o.Ref)
		hosts, err := s.RemoveHosts(x.ctx, o.Ref)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			fmt.Fprintf(x.env.Stdout, "Removed host '%s' (%s) with id %d\n", escape.Line(h.Hostname), escape.Line(h.Servername), h.ID)
			x.audit("removed host '%s' (%s) with id %d", h.Hostname, h.Servername, h.ID)
			x.warnRunning(h, running[h.ID])
		}
		return nil
	})
}

// runningOn reads the live jobs on the hosts ref names, before they go
// (best effort: without it remove still works).
func (x *verb) runningOn(s *state.Store, ref string) map[int64][]state.Process {
	v, err := selector.Load(x.ctx, s, x.policy())
	if err != nil {
		return nil
	}
	hosts, err := s.Resolve(x.ctx, ref)
	if err != nil {
		return nil
	}
	out := map[int64][]state.Process{}
	for _, h := range hosts {
		for _, hv := range v.Hosts {
			if hv.ID == h.ID && len(hv.Processes) > 0 {
				out[h.ID] = hv.Processes
			}
		}
	}
	return out
}

// warnRunning says which jobs a removed host leaves running: they finish
// where they are, and status lists them under the removed host.
func (x *verb) warnRunning(h state.Host, ps []state.Process) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintf(x.env.Stderr, "rffmpeg: warning: host '%s' (%s) had %s; they keep running there (status shows them under %s):\n",
		escape.Line(h.Hostname), escape.Line(h.Servername), plural(len(ps), "running job"), RemovedHost)
	for _, p := range ps {
		fmt.Fprintf(x.env.Stderr, "  PID %d: %s\n", p.PID, escape.Line(p.Cmd))
	}
}

func (x *verb) policy() selector.Policy {
	return setup.Policy(x.cfg, x.env.Now(), owner.Self())
}

func (x *verb) weight(o WeightOptions) error {
	return x.withStore(func(s *state.Store) error {
		hosts, err := s.SetWeight(x.ctx, o.Ref, o.Weight)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			fmt.Fprintf(x.env.Stdout, "Host '%s' (%s) with id %d now has weight %d\n", escape.Line(h.Hostname), escape.Line(h.Servername), h.ID, h.Weight)
			x.audit("set the weight of host '%s' (%s) with id %d to %d", h.Hostname, h.Servername, h.ID, h.Weight)
		}
		return nil
	})
}

func (x *verb) drain(o HostOptions, on bool) error {
	return x.withStore(func(s *state.Store) error {
		hosts, err := s.SetDrain(x.ctx, o.Ref, on)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			name, server := escape.Line(h.Hostname), escape.Line(h.Servername)
			if on {
				fmt.Fprintf(x.env.Stdout, "Draining host '%s' (%s) with id %d: no new jobs, running ones finish\n", name, server, h.ID)
				x.audit("draining host '%s' (%s) with id %d", h.Hostname, h.Servername, h.ID)
			} else {
				fmt.Fprintf(x.env.Stdout, "Host '%s' (%s) with id %d takes new jobs again\n", name, server, h.ID)
				x.audit("host '%s' (%s) with id %d takes new jobs again", h.Hostname, h.Servername, h.ID)
			}
		}
		return nil
	})
}

func (x *verb) clear(o ClearOptions) error {
	return x.withStore(func(s *state.Store) error {
		n, err := s.Clear(x.ctx, o.Ref, o.OnlyBad)
		if err != nil {
			return err
		}
		what := "all hosts"
		if o.Ref != "" {
			what = strconv.Quote(o.Ref)
		}
		fmt.Fprintf(x.env.Stdout, "Cleared %d process rows and %d state rows of %s\n", n.Processes, n.States, what)
		only := ""
		if o.OnlyBad {
			only = " (bad marks only)"
		}
		x.audit("cleared %d process rows and %d state rows of %s%s", n.Processes, n.States, what, only)
		return nil
	})
}

func (x *verb) run(o RunOptions) error {
	if x.env.RunJob == nil {
		return errors.New("run is not available in this build")
	}
	return ExitCode(x.env.RunJob(x.cfg, o.Prog, o.Args, o.StderrAsStdout))
}

// TUIOptions are `rffmpeg tui [--readonly]`.
type TUIOptions struct {
	ReadOnly bool // no key writes (a shared ops screen)
}

func (x *verb) tui(o TUIOptions) error {
	if !x.env.StdoutTTY {
		return errors.New("tui needs a terminal; use 'rffmpeg status' (or --json) in scripts")
	}
	if x.env.TUI == nil {
		return errors.New("tui is not available in this build")
	}
	return x.env.TUI(x.cfg, o)
}

func (x *verb) config(o ConfigOptions) error {
	c, w := x.cfg, x.env.Stdout
	if o.JSON {
		out := struct {
			File     string         `json:"file"`
			Database string         `json:"database"`
			Settings []config.Entry `json:"settings"`
			Warnings []string       `json:"warnings"`
		}{c.Path, setup.Store(c).Describe(), c.Entries(), append([]string{}, c.Warnings...)}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	file := c.Path
	if file == "" {
		file = config.DefaultPath + " (not found: all defaults)"
	}
	fmt.Fprintf(w, "# configuration file: %s\n", escape.Line(file))
	// The database in use, as the settings below combine into it.
	fmt.Fprintf(w, "# database: %s\n", escape.Line(setup.Store(c).Describe()))
	for _, e := range c.Entries() {
		v, _ := json.Marshal(e.Value)
		fmt.Fprintf(w, "%-28s %-44s # %s\n", e.Key, v, e.Source)
	}
	for _, warn := range c.Warnings {
		fmt.Fprintf(w, "# warning: %s\n", escape.Line(warn))
	}
	return nil
}

// plural is "1 host" or "2 hosts".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// splitDestination reads USER@HOST:PORT (and [ADDR]:PORT) in o.Hostname
// into the plain host, which the original's table keeps, and the host's own
// user and port. A user or port given both ways must agree.
func splitDestination(o *AddOptions) error {
	d := o.Hostname
	if u, rest, ok := strings.Cut(d, "@"); ok {
		if err := agree(&o.Props.SSHUser, u, "user"); err != nil {
			return err
		}
		d = rest
	}
	host := d
	if strings.HasPrefix(d, "[") || strings.Count(d, ":") == 1 {
		h, port, err := net.SplitHostPort(d)
		switch {
		case err != nil && strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]"):
			h = d[1 : len(d)-1] // [ADDR] without a port
		case err != nil:
			return usagef("%q: not HOST, HOST:PORT or [ADDR]:PORT", o.Hostname)
		default:
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return usagef("%q: port must be 1 to 65535", o.Hostname)
			}
			if err := agree(&o.Props.SSHPort, n, "port"); err != nil {
				return err
			}
		}
		host = h
	}
	if host == "" {
		return usagef("%q: no host name", o.Hostname)
	}
	o.Hostname = host
	return nil
}

// agree sets *p to v unless a flag set it to something else.
func agree[T comparable](p **T, v T, what string) error {
	if *p != nil && **p != v {
		return usagef("the %s is given twice, differently: %v and %v", what, **p, v)
	}
	*p = &v
	return nil
}
