//go:build unix

package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/apimtls/apimtls/x509cert"
)

// completionPKI makes a PKI directory with a root, an intermediate below
// it and two clients, and a profile with a second context.
func completionPKI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(envDir, dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, args := range [][]string{
		{"ca", "init", "--name", "root", "--key-type", "ecdsa-p256"},
		{"ca", "intermediate", "devices", "--parent", "root", "--key-type", "ecdsa-p256"},
		{"client", "issue", "alice", "--ca", "devices", "--key-type", "ecdsa-p256"},
		{"client", "issue", "albert", "--ca", "devices", "--key-type", "ecdsa-p256"},
		{"client", "renew", "albert"}, // a renewed client is offered once
		{"config", "set", "--context", "staging", "bucket", "staging-pki"},
	} {
		if code := Run(context.Background(), append([]string{"apimtls"}, args...), io.Discard, io.Discard); code != 0 {
			t.Fatalf("apimtls %s: exit %d", strings.Join(args, " "), code)
		}
	}
	return dir
}

func TestCompleteValues(t *testing.T) {
	completionPKI(t)
	for _, tc := range []struct {
		words string // split at "|", the last the word being typed
		want  []string
	}{
		{"client|show|", []string{"albert", "alice"}},
		{"client|show|ali", []string{"alice"}},
		{"client|show|alice|", nil}, // show takes one NAME
		{"client|export|alice|", []string{"albert", "alice"}},
		{"client|revoke|--reason|keyCompromise|al", []string{"albert", "alice"}},
		{"ca|show|", []string{"devices", "root"}},
		{"ca|revoke|d", []string{"devices"}},
		{"rotate|ca|", []string{"devices", "root"}},
		{"client|issue|", nil}, // a new name: nothing to offer
		{"client|issue|--ca|", []string{"devices", "root"}},
		{"client|issue|--ca=r", []string{"--ca=root"}},
		{"client|issue|--ca|=|r", []string{"--ca=root"}}, // as bash splits it
		{"client|list|--ca|d", []string{"devices"}},
		{"ca|intermediate|x|--parent|", []string{"devices", "root"}},
		{"probe|https://x|--client|al", []string{"albert", "alice"}},
		{"setup|--client|", nil}, // the clients setup issues are new
		{"client|issue|x|--key-type|ecdsa", []string{"ecdsa-p256", "ecdsa-p384"}},
		{"ca|init|--key-type|", []string{"rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384"}},
		{"client|list|--status|", []string{"active", "expired", "revoked", "superseded", "valid"}},
		{"client|export|--status=r", []string{"--status=revoked"}},
		{"client|revoke|alice|--reason|", []string{"affiliationChanged", "cessationOfOperation", "keyCompromise", "superseded", "unspecified"}},
		{"ca|revoke|devices|--reason|k", []string{"keyCompromise"}},
		{"-o|", []string{"text", "json"}},
		{"client|list|--output|j", []string{"json"}},
		{"client|export|--format|", []string{"pem", "p12", "tar"}},
		{"config|set|", []string{"bucket", "region", "endpoint-url", "domain", "api-id", "store", "ca", "dir"}},
		{"config|get|b", []string{"bucket"}},
		{"config|unset|d", []string{"domain", "dir"}},
		{"config|set|bucket|", nil},                            // the VALUE is the user's
		{"truststore|push|--bucket|", []string{"staging-pki"}}, // the profile's buckets
		{"crl|push|--bucket=s", []string{"--bucket=staging-pki"}},
		{"truststore|versions|--bucket|x", nil},
		{"--context|", []string{"staging"}},
		{"client|list|--context=s", []string{"--context=staging"}},
		{"completion|", []string{"bash", "zsh", "fish"}},
		{"client|", nil},       // commands are the script's, from the tree
		{"client|show|-", nil}, // and so are flags
		{"client|show|--|-", nil},
	} {
		t.Run(tc.words, func(t *testing.T) {
			got := completeWords(newApp(io.Discard, io.Discard), strings.Split(tc.words, "|"), os.Environ())
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Every word offered is one the command accepts (not a usage error).
func TestCompleteValuesAccepted(t *testing.T) {
	completionPKI(t)
	for _, words := range []string{
		"client|list|--status|",
		"client|revoke|nosuch|--reason|",
		"version|-o|",
	} {
		w := strings.Split(words, "|")
		values := completeWords(newApp(io.Discard, io.Discard), w, os.Environ())
		if len(values) == 0 {
			t.Fatalf("%s: nothing offered", words)
		}
		for _, v := range values {
			args := append(append([]string{"apimtls"}, w[:len(w)-1]...), v)
			if code := Run(context.Background(), args, io.Discard, io.Discard); code == exitUsage {
				t.Errorf("%s: refused as usage", strings.Join(args, " "))
			}
		}
	}
	for _, v := range completeWords(newApp(io.Discard, io.Discard), []string{"ca", "init", "--key-type", ""}, nil) {
		if _, err := x509cert.ParseKeyType(v); err != nil {
			t.Errorf("--key-type %s: %v", v, err)
		}
	}
}

// The PKI directory in effect is the one a command would use: --dir typed,
// else APIMTLS_DIR, else the profile's dir.
func TestCompleteDirInEffect(t *testing.T) {
	dir := completionPKI(t)
	other := t.TempDir()
	app := newApp(io.Discard, io.Discard)
	if got := completeWords(app, []string{"--dir", other, "client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("--dir %s (empty): got %q", other, got)
	}
	t.Setenv(envDir, other)
	if got := completeWords(app, []string{"--dir=" + dir, "client", "show", ""}, os.Environ()); len(got) != 2 {
		t.Errorf("--dir=%s: got %q", dir, got)
	}
	if got := completeWords(app, []string{"client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("APIMTLS_DIR (empty): got %q", got)
	}
	os.Unsetenv(envDir)
	if code := Run(context.Background(), []string{"apimtls", "config", "set", "dir", dir}, io.Discard, io.Discard); code != 0 {
		t.Fatal("config set dir")
	}
	if got := completeWords(app, []string{"client", "show", ""}, os.Environ()); len(got) != 2 {
		t.Errorf("the profile's dir: got %q", got)
	}
	// A shared store keeps its inventory in S3: no names, no network.
	if got := completeWords(app, []string{"--store", "s3://b/p", "client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("--store: got %q", got)
	}
}

// Completion never waits: a PKI directory another process writes to, or
// one with interrupted work that opening would recover, completes nothing,
// at once, and is left as it was.
func TestCompleteNeverWaits(t *testing.T) {
	dir := completionPKI(t)
	app := newApp(io.Discard, io.Discard)
	db, err := os.Open(filepath.Join(dir, "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := unix.Flock(int(db.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := completeWords(app, []string{"client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("locked: got %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("locked: took %s", d)
	}
	unix.Flock(int(db.Fd()), unix.LOCK_UN)

	staged := filepath.Join(dir, ".staging", "interrupted")
	if err := os.MkdirAll(staged, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := completeWords(app, []string{"client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("interrupted work: got %q", got)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Errorf("completion recovered the interrupted work: %v", err)
	}
	os.RemoveAll(staged)

	t.Setenv(envDir, filepath.Join(dir, "missing"))
	if got := completeWords(app, []string{"client", "show", ""}, os.Environ()); got != nil {
		t.Errorf("missing directory: got %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("completion created the PKI directory")
	}
}

// Which arguments and flags complete names is declared for commands and
// flags that exist: renaming one fails here, not silently in a shell.
func TestCompletionDeclarationsExist(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for path := range argValues {
		if _, leaf := leafOf(app, append([]string{"apimtls"}, strings.Fields(path)...)); leaf == nil {
			t.Errorf("argValues: no command %q", path)
		}
	}
	seen := map[string]bool{}
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				seen[f.Names()[0]] = true
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	for name := range flagValues {
		if !seen[name] {
			t.Errorf("flagValues: no flag --%s", name)
		}
	}
	for key := range flagValuesIn {
		path, name, _ := strings.Cut(key, " --")
		_, leaf := leafOf(app, append([]string{"apimtls"}, strings.Fields(path)...))
		if leaf == nil || !slices.ContainsFunc(leaf.Flags, func(f cli.Flag) bool { return f.Names()[0] == name }) {
			t.Errorf("flagValuesIn: no %q", key)
		}
	}
}
