package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/cli"
	"github.com/apimtls/apimtls/internal/scripttest"
)

func TestMain(m *testing.M) {
	if raceEnabled && os.Getenv("APIMTLS_SCRIPTS_RACE") == "" {
		// Under -race the scripts run a plain build of apimtls: every
		// `exec apimtls` of a race-instrumented binary (hundreds per run,
		// RSA key generation among them) made this package most of CI's
		// time. The CLI's concurrent code (bulk workers, serve, the
		// outputs) runs in-process under the race detector in the
		// internal/cli, pki and gateway tests; APIMTLS_SCRIPTS_RACE=1 runs
		// the scripts instrumented too.
		os.Exit(withPlainBinary(m))
	}
	testscript.Main(m, map[string]func(){
		"apimtls": func() { os.Exit(cli.Main()) },
	})
}

// withPlainBinary builds apimtls onto the front of PATH, where the
// scripts' `exec apimtls` finds it, and runs the tests.
func withPlainBinary(m *testing.M) int {
	dir, err := os.MkdirTemp("", "apimtls-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "apimtls"), ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build apimtls for the scripts: %v\n%s", err, out)
		return 1
	}
	os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return m.Run()
}

// TestScripts runs the end-to-end CLI scripts in testdata/script.
func TestScripts(t *testing.T) {
	scripttest.Run(t, "testdata/script")
}

// The README's package map says what each package may import; this keeps
// it true. A package missing from the map, or importing an apimtls package
// the map does not allow, fails.
func TestPackageMapHolds(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/apimtls/apimtls"
	allowed := map[string][]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.Fields(strings.TrimSpace(cells[1]))[0], "`")
		var may []string
		for _, p := range strings.Split(cells[3], ",") {
			if p = strings.Trim(strings.TrimSpace(p), "`"); p != "" && p != "none" && !strings.Contains(p, " ") {
				may = append(may, p)
			}
		}
		allowed[pkg] = may
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		if pkg == "" {
			pkg = "."
		}
		may, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in README's package map", pkg)
			continue
		}
		if pkg == "internal/cli" || pkg == "." {
			continue // "every package below" / only internal/cli
		}
		for _, imp := range f[1:] {
			rel, ours := strings.CutPrefix(imp, module+"/")
			if ours && !contains(may, rel) {
				t.Errorf("%s imports %s, which README's package map does not allow", pkg, rel)
			}
		}
	}
	if len(allowed) < 10 {
		t.Fatalf("read only %d rows of the package map: the table changed shape", len(allowed))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
