package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestArgs runs each argument rule through a real urfave app and Run's
// exit-code mapping: a wrong count is exit 2 naming what the command takes.
func TestArgs(t *testing.T) {
	var got []string
	app := func(action func(*cli.Context) error) *cli.App {
		return &cli.App{Name: "t", ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{{Name: "cmd", Action: action}}}
	}
	rules := map[string]func(*cli.Context) error{
		"none": func(c *cli.Context) error { return noArgs(c) },
		"one": func(c *cli.Context) error {
			a, err := oneArg(c, "NAME")
			got = []string{a}
			return err
		},
		"two": func(c *cli.Context) error {
			a, err := exactArgs(c, "SRC", "DST")
			got = a
			return err
		},
		"optional": func(c *cli.Context) error {
			a, err := optionalArg(c, "FILE")
			got = []string{a}
			return err
		},
	}
	for _, tc := range []struct {
		rule    string
		args    []string
		want    []string
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"none", []string{"x"}, nil, "t cmd takes no arguments (got 1)"},
		{"one", []string{"alice"}, []string{"alice"}, ""},
		{"one", nil, nil, "t cmd takes 1 argument: NAME (got 0)"},
		{"one", []string{"a", "b"}, nil, "t cmd takes 1 argument: NAME (got 2)"},
		{"one", []string{"--", "-dash"}, []string{"-dash"}, ""},
		{"two", []string{"a", "b"}, []string{"a", "b"}, ""},
		{"two", []string{"a"}, nil, "t cmd takes 2 arguments: SRC DST (got 1)"},
		{"optional", nil, []string{""}, ""},
		{"optional", []string{"f.pem"}, []string{"f.pem"}, ""},
		{"optional", []string{"a", "b"}, nil, "t cmd takes at most one argument: [FILE] (got 2)"},
	} {
		got = nil
		err := app(rules[tc.rule]).RunContext(context.Background(), append([]string{"t", "cmd"}, tc.args...))
		if tc.wantErr == "" {
			if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%s %q: got %q, %v; want %q", tc.rule, tc.args, got, err, tc.want)
			}
			continue
		}
		if err == nil || err.Error() != tc.wantErr {
			t.Errorf("%s %q: error %v, want %q", tc.rule, tc.args, err, tc.wantErr)
		}
		if code := exitCode(err); code != exitUsage {
			t.Errorf("%s %q: exit %d, want %d", tc.rule, tc.args, code, exitUsage)
		}
	}
}

// TestArgsThroughCommands checks that real commands use the rules: each
// gets a wrong count and must exit 2 with the message.
func TestArgsThroughCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ca", "show"}, "ca show takes 1 argument: NAME (got 0)"},
		{[]string{"ca", "init", "stray"}, "ca init takes no arguments (got 1)"},
		{[]string{"probe"}, "probe takes 1 argument: URL (got 0)"},
		{[]string{"truststore", "push", "--bucket", "b", "a.pem", "b.pem"}, "truststore push takes at most one argument: [FILE] (got 2)"},
		{[]string{"completion"}, "completion takes 1 argument: SHELL (got 0)"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"apimtls", "--dir", t.TempDir()}, tc.args...)
		if code := Run(context.Background(), args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
