package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/errkind"
)

var testKeys = []Key{
	{Name: "bucket", Check: func(v string) error {
		if strings.ToLower(v) != v {
			return fmt.Errorf("%q is not lowercase", v)
		}
		return nil
	}},
	{Name: "region"},
}

func TestParseRefusesWithTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"unknown key", "[default]\nbucket = \"b\"\n\n[prod]\nbuckt = \"x\"\n", 5, `in [prod]: buckt: unknown key: the keys are bucket, region`},
		{"bad value", "# team settings\n[prod]\nregion = \"eu-west-1\"\nbucket = \"Bad\"\n", 4, `in [prod]: bucket: "Bad" is not lowercase`},
		{"a secret", "[default]\npassphrase = \"hunter2\"\n", 2, `passphrase: the profile holds no secrets`},
		{"a private key", "[default]\nregion = \"-----BEGIN PRIVATE KEY-----\"\n", 2, `looks like a private key`},
		{"not a string", "[default]\nbucket = 3\n", 2, `bucket in [default] is not a string: write bucket = "VALUE"`},
		{"outside a context", "bucket = \"b\"\n", 1, `bucket is outside a context: put it under [default]`},
		{"dotted context", "[prod.eu]\nbucket = \"b\"\n", 1, `[prod.eu]: a context is one name`},
		{"array table", "[[prod]]\nbucket = \"b\"\n", 1, `[[prod]]: a context is a table`},
		{"dotted key", "[prod]\nbucket.name = \"b\"\n", 2, `bucket.name: a key is one name`},
		{"bad context name", "[\"two words\"]\nbucket = \"b\"\n", 1, `"two words" is not a context name`},
		{"twice", "[prod]\nbucket = \"a\"\nbucket = \"b\"\n", 3, `not valid TOML: key bucket is already defined`},
		{"syntax", "[prod]\nbucket = \"a\n", 2, `not valid TOML`},
		{"empty", "[prod]\nbucket = \"\"\n", 2, `bucket: empty value`},
		{"control character", "[prod]\nregion = \"a\\u0007b\"\n", 2, `holds control characters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.toml", []byte(tc.file), testKeys)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v, want a *FileError", err)
			}
			if fe.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %q (line %d), want line %d and %q", err, fe.Line, tc.line, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "config.toml:") {
				t.Errorf("%q does not name the file", err)
			}
			if errkind.Of(err) != errkind.Invalid {
				t.Errorf("kind %s, want invalid", errkind.Of(err))
			}
		})
	}
}

func TestSettingsOfContexts(t *testing.T) {
	f, err := Parse("c.toml", []byte("[default]\nbucket = \"a\"\n\n[prod]\nbucket = \"b\" # the team's\nregion = 'eu-west-1'\n"), testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Contexts(), ","); got != "default,prod" {
		t.Errorf("Contexts = %s", got)
	}
	s, err := f.Settings("prod")
	if err != nil {
		t.Fatal(err)
	}
	if s["bucket"] != (Setting{"b", 5}) || s["region"] != (Setting{"eu-west-1", 6}) {
		t.Errorf("prod = %+v", s)
	}
	_, err = f.Settings("staging")
	var uc *UnknownContextError
	if !errors.As(err, &uc) || err.Error() != `no context "staging" in c.toml: its contexts are default, prod` {
		t.Errorf("Settings(staging) = %v", err)
	}
	if errkind.Of(err) != errkind.NotFound {
		t.Errorf("kind %s", errkind.Of(err))
	}
	// The default context is there even when the file has no table for it.
	empty, _ := Parse("c.toml", nil, testKeys)
	if s, err := empty.Settings(DefaultContext); err != nil || len(s) != 0 {
		t.Errorf("default of an empty profile = %v, %v", s, err)
	}
}

func TestEditsKeepTheRest(t *testing.T) {
	const before = "# our team\n[default]\nbucket = \"a\" # shared\n\n[prod]\n# the production account\nregion = \"eu-west-1\"\n"
	f, err := Parse("c.toml", []byte(before), testKeys)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return f.Set("default", "bucket", "b") }, "# our team\n[default]\nbucket = \"b\" # shared\n\n[prod]\n# the production account\nregion = \"eu-west-1\"\n"},
		{func() error { return f.Set("prod", "bucket", "p") }, "# our team\n[default]\nbucket = \"b\" # shared\n\n[prod]\n# the production account\nregion = \"eu-west-1\"\nbucket = \"p\"\n"},
		{func() error { return f.Set("dev", "region", "us-east-1") }, "# our team\n[default]\nbucket = \"b\" # shared\n\n[prod]\n# the production account\nregion = \"eu-west-1\"\nbucket = \"p\"\n\n[dev]\nregion = \"us-east-1\"\n"},
		{func() error { _, err := f.Unset("prod", "region"); return err }, "# our team\n[default]\nbucket = \"b\" # shared\n\n[prod]\n# the production account\nbucket = \"p\"\n\n[dev]\nregion = \"us-east-1\"\n"},
		{func() error { return f.Set("dev", "bucket", "Upper") }, ""}, // refused by the check: nothing changes
	}
	for i, s := range steps {
		err := s.do()
		if s.want == "" {
			if err == nil {
				t.Fatalf("step %d: no error", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if string(f.data) != s.want {
			t.Fatalf("step %d:\n%s\nwant:\n%s", i, f.data, s.want)
		}
	}
	if ok, err := f.Unset("prod", "region"); ok || err != nil {
		t.Errorf("Unset of a key not set = %v, %v", ok, err)
	}
	if _, err := f.Unset("staging", "region"); err == nil {
		t.Error("Unset in an unknown context: no error")
	}
}

func TestSetQuotesWhatTOMLNeeds(t *testing.T) {
	keys := []Key{{Name: "dir"}}
	f, _ := Parse("c.toml", []byte("[default]"), keys) // no final newline
	for _, v := range []string{`C:\pki "main"`, "ünïcode", "tab\there"} {
		err := f.Set("default", "dir", v)
		if v == "tab\there" {
			if err == nil {
				t.Errorf("Set(%q): no error", v)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		g, err := Parse("c.toml", f.data, keys)
		if err != nil {
			t.Fatalf("%s: %v", f.data, err)
		}
		if s, _ := g.Settings("default"); s["dir"].Value != v {
			t.Errorf("read back %q, want %q", s["dir"].Value, v)
		}
	}
}

func TestSaveAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apimtls", "config.toml")
	f, err := Read(path, testKeys)
	if err != nil || len(f.Contexts()) != 0 || f.Mode != 0 {
		t.Fatalf("Read of no file = %v, %v", f, err)
	}
	if err := f.Set("prod", "bucket", "b"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("saved with %v, %v; want 0600", info.Mode(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("folder has %v, want 0700", dir.Mode())
	}
	g, err := Read(path, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := g.Settings("prod"); s["bucket"].Value != "b" || g.Mode != 0o600 {
		t.Errorf("read back %+v mode %v", s, g.Mode)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("#", maxSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path, testKeys); err == nil || !strings.Contains(err.Error(), "not a profile") {
		t.Errorf("Read of a huge file = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[default]\nbucket = \"a\"\n[prod]\nregion = \"x\" # c\n"))
	f.Add([]byte("[a]\nb.c = 1\n[[d]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.toml", data, testKeys)
		if err != nil {
			return
		}
		// Whatever parses can be edited and still parses.
		if err := p.Set("fuzz", "region", "r"); err != nil {
			t.Fatalf("Set: %v on %q", err, data)
		}
		for _, c := range p.Contexts() {
			if err := p.Set(c, "bucket", "b"); err != nil {
				t.Fatalf("Set in %s: %v on %q", c, err, data)
			}
		}
	})
}
