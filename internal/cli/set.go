package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// SetOptions are `rffmpeg set HOST KEY=VALUE...`: the hosts ref names and the
// properties to change.
type SetOptions struct {
	Ref   string
	Props state.HostProps
	// PathMap is path_map=FROM:TO,… (nil: unchanged; empty: removed).
	PathMap *[]state.PathMap
}

// setKeys are the keys set accepts, in the order help lists them.
var setKeys = []struct{ key, value, help string }{
	{"max_jobs", "N", "jobs at once on the host; 0: no limit"},
	{"priority", "N", "tier: lower is tried first, a higher one only when the lower are full (default 0)"},
	{"tags", "T,...", "replace the tags; +T adds, -T removes (tags=+gpu,-old); tags= clears"},
	{"ffmpeg", "PATH", "the host's ffmpeg (empty: commands.ffmpeg)"},
	{"ffprobe", "PATH", "the host's ffprobe (empty: commands.ffprobe)"},
	{"wol", "MAC", "Wake-on-LAN MAC address (empty: none)"},
	{"wol_addr", "ADDR", "where the magic packet goes: host or host:port (empty: broadcast)"},
	{"port", "N", "the host's ssh port (0: remote.args or ssh's default)"},
	{"user", "NAME", "the host's ssh user (empty: remote.user)"},
	{"path_map", "FROM:TO,...", "rewrite arguments starting with FROM (or file:FROM) to TO on this host (empty: none)"},
}

func setCommand() command {
	var o SetOptions
	var long strings.Builder
	long.WriteString("HOST as for remove (an id, else a server name, else every host with that hostname).\nKeys:")
	for _, k := range setKeys {
		fmt.Fprintf(&long, "\n  %-18s %s", k.key+"="+k.value, k.help)
	}
	return command{name: "set", args: "HOST KEY=VALUE...", short: "Set a host's max_jobs, priority, tags, ffmpeg paths, Wake-on-LAN",
		long: long.String(), argNames: []string{"HOST", "KEY=VALUE"}, maxArgs: -1,
		bind: func(pos []string) error {
			o.Ref = pos[0]
			for _, kv := range pos[1:] {
				if v, ok := strings.CutPrefix(kv, "path_map="); ok {
					m, err := state.ParsePathMaps(v)
					if err != nil {
						return usagef("%v", err)
					}
					o.PathMap = &m
					continue
				}
				if err := bindProp(&o.Props, kv); err != nil {
					return err
				}
			}
			return nil
		},
		run: func(x *verb) error { return x.set(o) }}
}

// bindProp reads one KEY=VALUE into p.
func bindProp(p *state.HostProps, kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return usagef("%q is not KEY=VALUE", kv)
	}
	str := func() *string { return &v }
	num := func() (*int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, usagef("%s %q is not a whole number", k, v)
		}
		return &n, nil
	}
	var err error
	switch k {
	case "max_jobs":
		p.MaxJobs, err = num()
	case "priority":
		p.Priority, err = num()
	case "tags":
		err = bindTags(p, v)
	case "ffmpeg":
		p.FFmpeg = str()
	case "ffprobe":
		p.FFprobe = str()
	case "wol":
		p.WoLMAC = str()
	case "wol_addr":
		p.WoLAddr = str()
	case "port":
		p.SSHPort, err = num()
	case "user":
		p.SSHUser = str()
	default:
		var keys []string
		for _, k := range setKeys {
			keys = append(keys, k.key)
		}
		return usagef("unknown key %q (one of %s)", k, strings.Join(keys, ", "))
	}
	return err
}

// bindTags reads tags=a,b (replace), tags=+a,-b (edit) or tags= (clear).
func bindTags(p *state.HostProps, v string) error {
	if err := state.EditTags(p, v); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	return nil
}

func (x *verb) set(o SetOptions) error {
	return x.withStore(func(s *state.Store) error {
		hosts, err := s.SetHostProps(x.ctx, o.Ref, o.Props)
		if err != nil {
			return err
		}
		if o.PathMap != nil {
			if hosts, err = s.SetPathMaps(x.ctx, o.Ref, *o.PathMap); err != nil {
				return err
			}
		}
		for _, h := range hosts {
			if o.Props.FFmpeg != nil && !h.ProbedAt.IsZero() {
				// Another ffmpeg: what the old one could do says nothing.
				if err := s.ForgetCapabilities(x.ctx, h.ID); err != nil {
					return err
				}
				fmt.Fprintf(x.env.Stdout, "Host '%s' (%s) with id %d: its ffmpeg changed, its capabilities are probed again before a job needs them\n",
					escape.Line(h.Hostname), escape.Line(h.Servername), h.ID)
			}
			props := describeProps(h)
			if m, err := s.PathMaps(x.ctx, h.ID); err == nil && m != nil {
				props += ", path_map " + state.FormatPathMaps(m)
			}
			fmt.Fprintf(x.env.Stdout, "Host '%s' (%s) with id %d: %s\n", escape.Line(h.Hostname), escape.Line(h.Servername), h.ID, escape.Line(props))
			x.audit("set host '%s' (%s) with id %d: %s", h.Hostname, h.Servername, h.ID, props)
		}
		return nil
	})
}

// describeProps lists a host's properties ("max_jobs 4, priority 0, tags gpu,nvidia").
func describeProps(h state.Host) string {
	maxJobs := "no limit"
	if h.MaxJobs > 0 {
		maxJobs = strconv.Itoa(h.MaxJobs)
	}
	parts := []string{"max_jobs " + maxJobs, "priority " + strconv.Itoa(h.Priority), "tags " + orNone(strings.Join(h.Tags, ","))}
	for _, p := range []struct{ k, v string }{{"ffmpeg", h.FFmpeg}, {"ffprobe", h.FFprobe}, {"wol", h.WoLMAC}, {"wol_addr", h.WoLAddr}, {"user", h.SSHUser}, {"port", portText(h.SSHPort)}} {
		if p.v != "" {
			parts = append(parts, p.k+" "+p.v)
		}
	}
	return strings.Join(parts, ", ")
}

func portText(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// propFlag is an add option that sets one property as `set KEY=VALUE` would
// (prefix "+" adds a tag).
func propFlag(p *state.HostProps, key string, prefix ...string) func(string) error {
	return func(v string) error {
		if strings.Contains(v, ",") && key == "tags" {
			return usagef("tag %q: one tag per --tag", v)
		}
		return bindProp(p, key+"="+strings.Join(prefix, "")+v)
	}
}
