package cli

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestJSONDocumented fails when a command accepts -o json and docs/json.md
// has no section naming it.
func TestJSONDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "### ") {
			headings = append(headings, line)
		}
	}
	app := newApp(io.Discard, io.Discard)
	n := 0
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			if len(c.Subcommands) > 0 {
				walk(path, c.Subcommands)
				continue
			}
			n++
			full := "`apimtls " + path + "`"
			found := false
			for _, h := range headings {
				found = found || strings.Contains(h, full)
			}
			if !found {
				t.Errorf("docs/json.md has no section for %s", full)
			}
		}
	}
	walk("", app.Commands)
	if n < 20 {
		t.Fatalf("only %d commands seen: the walk is broken", n)
	}
}
