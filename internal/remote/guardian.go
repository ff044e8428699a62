package remote

import (
	"os"
	"os/exec"
	"syscall"
)

// A guardian stops a remote job when the shim that started it dies without
// being able to (SIGKILL: Jellyfin's way to end a transcode that ignored
// "q"). ssh's master connection keeps a channel open after its mux client
// dies, so nothing on the remote side would notice.
//
// The guardian is a /bin/sh child in its own process group, holding none of
// the caller's streams, blocked reading a pipe only the shim can write. The
// shim writes a line when it finishes normally; EOF without that line means
// the shim died, and the guardian execs the kill command (ssh … kill).
// A shell costs a millisecond; a second copy of this binary would cost more
// on every one of a library scan's hundreds of calls.
type Guardian struct {
	w *os.File
}

const guardScript = `IFS= read -r line <&3 || exec "$@"`

// StartGuardian starts a guardian that runs killArgv if the calling process
// dies. The process is spawned in the background, off the job's critical
// path: the pipe exists at once, so a goodbye written before the guardian
// is up still reaches it.
func StartGuardian(killArgv []string) (*Guardian, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", guardScript, "rffmpeg-guardian"}, killArgv...)...)
	cmd.ExtraFiles = []*os.File{r} // fd 3
	cmd.Env = SSHEnv(os.Environ())
	// Its own process group: a signal meant for the shim's group is the
	// shim's to handle; the guardian must be there if the shim cannot.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	go func() {
		err := cmd.Start()
		r.Close()
		if err == nil {
			cmd.Wait() // reap it whenever it ends
		}
	}()
	return &Guardian{w: w}, nil
}

// Release tells the guardian the job ended normally; it exits at once.
func (g *Guardian) Release() {
	if g == nil {
		return
	}
	g.w.Write([]byte("done\n"))
	g.w.Close()
}
