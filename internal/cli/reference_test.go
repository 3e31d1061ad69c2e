package cli

import (
	"flag"
	"io"
	"os"
	"testing"
)

var updateReference = flag.Bool("update-reference", false, "rewrite docs/reference.md and docs/apimtls.1 from the CLI definitions")

// TestReferenceIsCurrent fails when the checked-in command reference, made
// from the same definitions as --help, no longer matches them.
func TestReferenceIsCurrent(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	md, err := app.ToMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	man, err := app.ToMan()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"../../docs/reference.md": "<!-- Generated from the CLI definitions: go test ./internal/cli -run TestReferenceIsCurrent -update-reference -->\n\n" + md,
		"../../docs/apimtls.1":    man,
	} {
		if *updateReference {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale or missing: go test ./internal/cli -run TestReferenceIsCurrent -update-reference", path)
		}
	}
}
