package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/pki"
)

// TestOutputsNeverHitKeys runs every command that writes a file the user
// names against a private key (in the PKI directory and outside it), a
// symlink to a key, and the CA and client folders. Each must fail and
// leave every file as it was.
func TestOutputsNeverHitKeys(t *testing.T) {
	work := t.TempDir()
	dir := filepath.Join(work, "pki")
	run := func(ctx context.Context, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Run(ctx, append([]string{"apimtls", "--dir", dir}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	for _, args := range [][]string{{"ca", "init"}, {"ca", "intermediate", "issuing", "--parent", "root"}, {"client", "issue", "alice"}, {"truststore", "build"}} {
		if code, out := run(context.Background(), args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	l := pki.Layout{Dir: dir}
	outsideKey := filepath.Join(work, "device.key")
	data, err := os.ReadFile(l.ClientKey("alice"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(outsideKey, data, 0o600)
	os.Symlink(l.CAKey("root"), filepath.Join(work, "innocent.pem"))
	os.Symlink(l.Clients(), filepath.Join(work, "clients-link"))
	targets := map[string]string{
		"root key":                  l.CAKey("root"),
		"client key":                l.ClientKey("alice"),
		"a key outside the PKI":     outsideKey,
		"a symlink to the root key": filepath.Join(work, "innocent.pem"),
		"a certificate in ca/":      l.CACert("issuing"),
		"a new file in ca/":         filepath.Join(l.CADir("root"), "new.pem"),
		"a chain in clients/":       l.ClientChain("alice"),
		"clients/ through a link":   filepath.Join(work, "clients-link", "alice", "new.pem"),
		"the inventory":             l.Inventory(),
	}

	// A cancelled context: a serve that wrongly starts stops at once and
	// exits 0, which fails the test instead of hanging it.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	commands := map[string]func(out string) []string{
		"truststore build --out": func(out string) []string { return []string{"truststore", "build", "--out", out} },
		"serve --server-ca-out":  func(out string) []string { return []string{"serve", "--listen", "127.0.0.1:0", "--server-ca-out", out} },
		"serve --url-file":       func(out string) []string { return []string{"serve", "--listen", "127.0.0.1:0", "--url-file", out} },
		"authorizer package": func(out string) []string {
			return []string{"authorizer", "package", "--arch", runtime.GOARCH, "--out", out}
		},
	}
	if _, err := miniotest.Binary(); err == nil || os.Getenv("CI") == "true" {
		minio := miniotest.Shared(t)
		for _, kv := range minio.Env() {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		bucket := fmt.Sprintf("apimtls-outfiles-%d", os.Getpid())
		if code, out := run(context.Background(), "truststore", "push", "--bucket", bucket, "--create-bucket"); code != 0 {
			t.Fatalf("push: exit %d\n%s", code, out)
		}
		commands["truststore pull --out"] = func(out string) []string {
			return []string{"truststore", "pull", "--bucket", bucket, "--out", out}
		}
	} else {
		t.Log("no MinIO: truststore pull --out not covered here")
	}

	for cmd, args := range commands {
		for what, target := range targets {
			before := tree(t, work)
			code, out := run(cancelled, args(target)...)
			if code == 0 {
				t.Errorf("%s %s: exit 0\n%s", cmd, what, out)
			}
			if !strings.Contains(out, "refusing to write") {
				t.Errorf("%s %s: no refusal in\n%s", cmd, what, out)
			}
			if after := tree(t, work); after != before {
				t.Errorf("%s %s: files changed", cmd, what)
			}
		}
	}
}

// tree lists every file under dir with its mode and a digest of content.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s %s %x\n", p, info.Mode(), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
