package shim

import (
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// Per-host path prefix maps (issue 13 §6): the one exception to "the
// arguments reach ffmpeg byte for byte", opt-in per host (rffmpeg set HOST
// path_map=/srv/media:/mnt/media) for hosts that mount the media elsewhere.
// Only whole arguments that start with a mapped prefix are rewritten (also
// after file:, as Jellyfin writes inputs); a path inside a filter graph
// (subtitles=filename=…) is not. Every rewrite is logged.

// MapArgs rewrites the arguments that start with a map's From (a whole
// path component: /srv/media maps /srv/media and /srv/media/x, never
// /srv/media2), trying maps in order (longest first, as ParsePathMaps
// sorts them); it returns the new arguments and how many changed. args is
// never modified.
func MapArgs(args []string, maps []state.PathMap) ([]string, int) {
	if len(maps) == 0 {
		return args, 0
	}
	out := make([]string, len(args))
	n := 0
	for i, a := range args {
		out[i] = mapArg(a, maps)
		if out[i] != a {
			n++
		}
	}
	return out, n
}

func mapArg(a string, maps []state.PathMap) string {
	scheme := ""
	if rest, ok := strings.CutPrefix(a, "file:"); ok {
		scheme, a = "file:", rest
	}
	for _, m := range maps {
		rest, ok := strings.CutPrefix(a, m.From)
		if ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			return scheme + m.To + rest
		}
	}
	return scheme + a
}

// mapPaths applies host h's path maps to the job's arguments for this
// attempt and returns what puts them back (the next attempt may go to
// another host, and the history keeps the command as the caller gave it).
func (c *call) mapPaths(h selector.HostView) (restore func()) {
	maps, err := h.PathMaps() // read with the selection
	if err != nil {
		c.log.Warnf("Not mapping paths for %s: %v", hostLabel(h), err)
	}
	mapped, n := MapArgs(c.j.Args, maps)
	if n == 0 {
		return func() {}
	}
	c.log.Infof("Path map of %s (%s) rewrote %d arguments: %s", hostLabel(h), state.FormatPathMaps(maps), n, remote.Join(mapped))
	orig := c.j.Args
	c.j.Args = mapped
	return func() { c.j.Args = orig }
}
