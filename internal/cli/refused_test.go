package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run runs apimtls with args in dir's PKI directory and returns the exit
// code and stderr.
func run(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"apimtls", "--dir", dir}, args...), io.Discard, &stderr)
	return code, stderr.String()
}

// TestRefusedCommandsWriteNothing: a write command that refuses or fails
// leaves inventory.db as it was, bytes and modification time.
func TestRefusedCommandsWriteNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	for _, args := range [][]string{{"ca", "init"}, {"ca", "intermediate", "issuing", "--parent", "root"}, {"client", "issue", "alice"}} {
		if code, stderr := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	csr := filepath.Join(t.TempDir(), "garbage.csr")
	os.WriteFile(csr, []byte("not a CSR"), 0o600)
	inv := filepath.Join(dir, "inventory.db")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, args := range [][]string{
		{"ca", "init"}, // exists
		{"ca", "intermediate", "issuing", "--parent", "root"},         // exists
		{"ca", "intermediate", "x", "--parent", "nosuch"},             // no parent
		{"client", "issue", "alice"},                                  // exists
		{"client", "issue", "bob", "--ca", "nosuch"},                  // no CA
		{"client", "issue", "bob", "--ca", "root", "--days", "36500"}, // outlives the CA
		{"client", "issue", "bob", "--dns", "bad_name"},               // invalid SAN
		{"client", "sign", csr},                                       // not a CSR
	} {
		if err := os.Chtimes(inv, old, old); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(inv)
		code, stderr := run(t, dir, args...)
		if code == 0 {
			t.Errorf("%v: exit 0, want a refusal", args)
			continue
		}
		after, _ := os.ReadFile(inv)
		info, _ := os.Stat(inv)
		if !bytes.Equal(before, after) || !info.ModTime().Equal(old) {
			t.Errorf("%v refused (%s) but changed inventory.db", args, strings.TrimSpace(stderr))
		}
	}
}
