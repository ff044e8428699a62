package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/escape"
	"github.com/rffmpeg/rffmpeg/internal/logging"
	"github.com/rffmpeg/rffmpeg/internal/safefs"
	"github.com/rffmpeg/rffmpeg/internal/setup"
)

// followEvery is how often `log -f` looks for new lines.
const followEvery = 200 * time.Millisecond

func (x *verb) log(o LogOptions) error {
	lo := setup.Log(x.cfg)
	if !lo.ToFile {
		return errors.New("logging.log_to_file is false: rffmpeg logs to the caller's stderr, there is no file to show")
	}
	if o.Follow {
		ctx, stop := x.env.Interrupted()
		defer stop()
		// From now on (tail -n0 -f), on to the next day's file at midnight.
		return logging.Tail(ctx, func() string { return logging.Path(lo, x.env.Now()) }, 0, followEvery,
			logging.Writer(x.env.Stdout, escape.Text))
	}
	path := logging.Path(lo, x.env.Now())
	f, err := safefs.OpenRegular(path) // a FIFO planted in the log directory must not hang an admin

	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer f.Close()
	if x.env.StdoutTTY && x.page(f) {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return copyEscaped(x.env.Stdout, f)
}

// page shows the log in $PAGER (less), fed escaped text on its stdin: the
// file's lines are data from the database and remote hosts, and a pager
// passes some control sequences through. false: no pager could run.
func (x *verb) page(f *os.File) bool {
	pager, _ := x.env.LookupEnv("PAGER")
	if pager == "" {
		pager = "less"
	}
	cmd := exec.Command("sh", "-c", pager)
	in, err := cmd.StdinPipe()
	if err != nil {
		return false
	}
	cmd.Stdout, cmd.Stderr = x.env.Stdout, x.env.Stderr
	if err := cmd.Start(); err != nil {
		return false
	}
	copyEscaped(in, f) // a pager quit early closes the pipe: not an error
	in.Close()
	return cmd.Wait() == nil
}

// copyEscaped copies the log line by line with control characters escaped
// (newlines and tabs kept).
func copyEscaped(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if _, werr := bw.WriteString(escape.Text(line)); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			bw.Flush()
			return fmt.Errorf("log file: %w", err)
		}
	}
}
