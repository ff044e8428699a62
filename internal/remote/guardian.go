package remote

import (
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// A guardian stops a remote job when the shim that started it dies without
// being able to (SIGKILL: Jellyfin's way to end a transcode that ignored
// "q"). ssh's master connection keeps a channel open after its mux client
// dies, so nothing on the remote side would notice. The guardian is a
// child in its own process group, holding no stream of the caller's; it
// waits on a pipe only the shim can write. The shim writes one byte when it
// finishes normally; EOF without that byte means the shim died, and the
// guardian runs the kill command (ssh … kill) and exits.
type Guardian struct {
	w   *os.File
	cmd *exec.Cmd
}

// GuardArg is the argument that starts the binary as a guardian.
const GuardArg = "__guard"

// StartGuardian starts exe (this binary) as a guardian for killArgv.
func StartGuardian(exe string, killArgv []string) (*Guardian, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{GuardArg, "--"}, killArgv...)...)
	cmd.Args[0] = "rffmpeg"
	cmd.ExtraFiles = []*os.File{r} // fd 3
	// Its own process group: a signal for the shim's group is the shim's to
	// handle; the guardian must survive to act if the shim cannot.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	r.Close()
	go cmd.Wait() // reap it whenever it ends
	return &Guardian{w: w, cmd: cmd}, nil
}

// Release tells the guardian the job ended normally.
func (g *Guardian) Release() {
	if g == nil {
		return
	}
	g.w.Write([]byte{'d'})
	g.w.Close()
}

// Guard is the guardian's main: it returns when the shim finished (0) or
// after running the kill command because the shim died (1).
func Guard(lifeline io.Reader, killArgv []string) int {
	b := make([]byte, 1)
	n, _ := lifeline.Read(b)
	if n == 1 && b[0] == 'd' {
		return 0
	}
	if len(killArgv) == 0 {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, killArgv[0], killArgv[1:]...)
	cmd.Run()
	return 1
}
