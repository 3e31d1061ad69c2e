//go:build unix

package pki

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apimtls/apimtls/x509cert"
)

// TestReadCSRDirNamesWhatItSkips: a link, a pipe, a folder and a hidden
// file are not read, and each is returned with why (issue 21: they were
// skipped in silence and the run said "Signed 0").
func TestReadCSRDirNamesWhatItSkips(t *testing.T) {
	dir := t.TempDir()
	key, _ := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	outside := filepath.Join(t.TempDir(), "elsewhere.csr")
	writeCSR(t, outside, key, "elsewhere", nil)
	if err := os.Symlink(outside, filepath.Join(dir, "linked.csr")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.csr"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "sub.csr"), 0o700)
	writeCSR(t, filepath.Join(dir, ".hidden.csr"), key, "hidden", nil)
	items, fails, ignored, err := ReadCSRDir(dir)
	if err != nil || len(items) != 0 || len(fails) != 0 {
		t.Fatalf("items %+v, failures %+v, %v", items, fails, err)
	}
	want := map[string]string{"linked.csr": "symbolic link", "pipe.csr": "named pipe", "sub.csr": "directory", ".hidden.csr": "hidden"}
	if len(ignored) != len(want) {
		t.Fatalf("ignored %+v, want %v", ignored, want)
	}
	for _, f := range ignored {
		if !strings.Contains(f.Reason, want[f.Source]) || want[f.Source] == "" {
			t.Errorf("%s ignored because %q, want %q", f.Source, f.Reason, want[f.Source])
		}
	}
}
