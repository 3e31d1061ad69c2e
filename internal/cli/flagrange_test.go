package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// rangePending lists duration and count flags whose range check is still
// to come; each is run and logged. It is empty: every flag is checked.
var rangePending = map[string]bool{}

// TestEveryNumberFlagIsRangeChecked runs every duration and count flag of
// every command with values past both ends of any sane range: each must be
// a usage error (exit 2) naming the flag, before anything is written.
func TestEveryNumberFlagIsRangeChecked(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	type probe struct{ path, flag string }
	var cases []struct {
		probe
		values   []string
		required []string
	}
	n := 0
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			if len(c.Subcommands) > 0 {
				walk(path, c.Subcommands)
				continue
			}
			var required []string
			for _, f := range c.Flags {
				if rf, ok := f.(cli.RequiredFlag); ok && rf.IsRequired() {
					required = append(required, "--"+f.Names()[0], "x")
				}
			}
			for _, f := range c.Flags {
				var values []string
				switch f := f.(type) {
				case *cli.IntFlag:
					values = []string{"-1", "1000000000"}
				case *cli.DurationFlag:
					values = []string{"-1s", "1000000h"}
				case *cli.StringFlag:
					if strings.Contains(f.Usage, "DURATION") {
						values = []string{"106752d", "-1d", "99999999999w"}
					}
				}
				if values == nil || f.Names()[0] == "poll-interval" { // hidden test hook
					continue
				}
				n++
				cases = append(cases, struct {
					probe
					values   []string
					required []string
				}{probe{path, f.Names()[0]}, values, required})
			}
		}
	}
	walk("", app.Commands)
	if n < 8 {
		t.Fatalf("found only %d duration and count flags: the walk is broken", n)
	}
	for _, tc := range cases {
		name := tc.path + " --" + tc.flag
		t.Run(name, func(t *testing.T) {
			for _, v := range tc.values {
				dir := filepath.Join(t.TempDir(), "pki")
				args := append([]string{"apimtls"}, strings.Fields(tc.path)...)
				args = append(args, "--dir", dir, "--"+tc.flag+"="+v)
				args = append(args, tc.required...)
				var stderr bytes.Buffer
				code := Run(context.Background(), args, io.Discard, &stderr)
				ok := code == exitUsage && strings.Contains(stderr.String(), "--"+tc.flag)
				if rangePending[name] {
					t.Logf("pending elsewhere: %s=%s: exit %d: %s", name, v, code, strings.TrimSpace(stderr.String()))
					continue
				}
				if !ok {
					t.Errorf("%s=%s: exit %d, want 2 naming the flag; stderr: %s", name, v, code, stderr.String())
				}
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("%s=%s: the PKI directory was created", name, v)
				}
			}
		})
	}
}
