// Command rffmpeg runs a media server's ffmpeg and ffprobe calls on remote
// transcode hosts over SSH. One binary, three faces chosen by the name it is
// called by: "ffmpeg" and "ffprobe" symlinks are the shim, "rffmpeg" is the
// admin CLI (and `rffmpeg tui` the console).
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/agent"
)

func main() {
	os.Exit(dispatch(os.Args))
}

// Mode is what argv[0] asks for.
type Mode int

const (
	ModeCLI Mode = iota
	ModeFFmpeg
	ModeFFprobe
)

// ModeOf applies the original's rule to argv[0]'s base name.
func ModeOf(argv0 string) Mode {
	base := filepath.Base(argv0)
	switch {
	case strings.Contains(base, "ffprobe"):
		return ModeFFprobe
	case strings.Contains(base, "ffmpeg") && !strings.Contains(base, "rffmpeg"):
		return ModeFFmpeg
	}
	return ModeCLI
}

func dispatch(args []string) int {
	switch ModeOf(args[0]) {
	case ModeFFmpeg:
		return newApp().shim("ffmpeg", args)
	case ModeFFprobe:
		return newApp().shim("ffprobe", args)
	}
	if len(args) > 1 && args[1] == "agent" {
		return agent.Main(args[2:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	}
	return newApp().cli(args[1:])
}
