package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ncruces/go-sqlite3"
)

// Build is what `rffmpeg version` reports.
type Build struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"` // "" when not built from a git checkout
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	SQLite   string `json:"sqlite"`
}

// BuildInfo reads the build's facts: the commit as given, else from the Go
// toolchain's VCS stamp; the SQLite version from the embedded library itself.
func BuildInfo(version, commit string) Build {
	b := Build{Version: version, Commit: commit, Go: runtime.Version(), SQLite: sqliteVersion()}
	if bi, ok := debug.ReadBuildInfo(); ok && commit == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

func sqliteVersion() string {
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		return "unknown"
	}
	defer c.Close()
	st, _, err := c.Prepare("SELECT sqlite_version()")
	if err != nil {
		return "unknown"
	}
	defer st.Close()
	if !st.Step() {
		return "unknown"
	}
	return st.ColumnText(0)
}

func (x *verb) version(o VersionOptions) error {
	b := BuildInfo(x.env.Version, x.env.Commit)
	if o.JSON {
		enc := json.NewEncoder(x.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	commit := b.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case b.Modified:
		commit += " (modified)"
	}
	fmt.Fprintf(x.env.Stdout, "rffmpeg %s\ncommit %s\n%s\nSQLite %s\n", b.Version, commit, b.Go, b.SQLite)
	return nil
}
