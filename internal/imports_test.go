package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Imports point inward: state, remote, owner, config and logging are leaves;
// selector uses only state; nothing but cmd wires everything, and only the
// console uses Bubble Tea.
func TestImportDirections(t *testing.T) {
	allowed := map[string][]string{
		"state":     {},
		"remote":    {},
		"owner":     {},
		"config":    {},
		"logging":   {"escape", "safefs"},
		"escape":    {},
		"safefs":    {},
		"agent":     {"escape", "remote"},
		"setup":     {"config", "jobclass", "logging", "owner", "remote", "safefs", "selector", "state"},
		"doctor":    {"config", "escape", "logging", "remote", "safefs", "setup", "state"},
		"jobclass":  {},
		"wol":       {},
		"selector":  {"state", "jobclass"},
		"statetest": {"state", "selector"},
		"tui":       {"state", "selector", "jobclass", "escape", "logging", "doctor"},
		"cli":       {"config", "doctor", "escape", "jobclass", "logging", "metrics", "owner", "safefs", "selector", "setup", "state"},
		"metrics":   {"state", "selector"},
		"testrig":   {},
		"rig":       {"testrig"}, // testrig's command, for the demo and bench scripts
		"wolwait":   {},          // a sleeping test host's network card (testrig/cmd/wolwait)
		"shim":      {"config", "jobclass", "logging", "owner", "remote", "safefs", "selector", "setup", "state", "wol"},
	}
	const mod = "github.com/rffmpeg/rffmpeg/internal/"
	filepath.Walk(".", func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := filepath.Base(filepath.Dir(path))
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("%s: package %s has no import rule", path, pkg)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(p, "bubbletea") || strings.Contains(p, "bubbles") || strings.Contains(p, "lipgloss") {
				if pkg != "tui" {
					t.Errorf("%s imports %s: only the console may", path, p)
				}
			}
			if !strings.HasPrefix(p, mod) {
				continue
			}
			dep := strings.Split(strings.TrimPrefix(p, mod), "/")
			name := dep[len(dep)-1]
			permitted := false
			for _, a := range ok {
				permitted = permitted || a == name
			}
			if !permitted {
				t.Errorf("%s (package %s) imports %s", path, pkg, p)
			}
		}
		return nil
	})
}

// The test rig (sshd for a test user, namespaces, a hung host) is test
// equipment: no product code may import it, only tests, the rig's own
// command and the scripts.
func TestTestRigStaysOutOfTheProduct(t *testing.T) {
	const rigPath = "github.com/rffmpeg/rffmpeg/internal/testrig"
	checked := 0
	filepath.Walk("..", func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		slash := filepath.ToSlash(path)
		if fi.IsDir() {
			switch slash {
			case "../internal/testrig", "../e2e", "../scripts", "../.git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); p == rigPath || strings.HasPrefix(p, rigPath+"/") {
				t.Errorf("%s imports %s: test equipment in the product", slash, p)
			}
		}
		return nil
	})
	if checked == 0 {
		t.Fatal("no product file checked")
	}
}
