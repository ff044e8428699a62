// Command gendoc writes rffmpeg's manual page and shell completions from the
// CLI's own command table (internal/cli), for the Debian package. It runs
// with `go run` on the build machine, so a package for another architecture
// is documented without running its binary:
//
//	go run ./packaging/gendoc -out DIR -version 1.2.3 -date 1700000000
//
// DIR gets rffmpeg.1, rffmpeg.bash, _rffmpeg (zsh) and rffmpeg.fish.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/cli"
)

func main() {
	out := flag.String("out", "", "directory to write the files into (created if missing)")
	version := flag.String("version", "dev", "version shown in the manual page's footer")
	date := flag.Int64("date", 0, "the page's date in Unix seconds (SOURCE_DATE_EPOCH; 0: today)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gendoc -out DIR [-version V] [-date UNIX]")
		os.Exit(2)
	}
	when := time.Now()
	if *date != 0 {
		when = time.Unix(*date, 0)
	}
	if err := write(*out, *version, when); err != nil {
		fmt.Fprintf(os.Stderr, "gendoc: %v\n", err)
		os.Exit(1)
	}
}

func write(dir, version string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var man bytes.Buffer
	if err := cli.WriteMan(&man, version, date); err != nil {
		return err
	}
	files := map[string][]byte{"rffmpeg.1": man.Bytes()}
	names := map[string]string{"bash": "rffmpeg.bash", "zsh": "_rffmpeg", "fish": "rffmpeg.fish"}
	for _, sh := range cli.Shells {
		var b bytes.Buffer
		if err := cli.WriteCompletion(&b, sh); err != nil {
			return err
		}
		files[names[sh]] = b.Bytes()
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
