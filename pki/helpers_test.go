package pki

import (
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/x509cert"
)

// testNow pins the clock so validity periods are deterministic.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// requireTool and runTool are revtest's: a missing tool skips the test,
// or fails it under CI=true.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	return revtest.Tool(t, name)
}

func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	return revtest.RunTool(t, name, args...)
}

// writePEM writes certificates to a file in dir.
func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, x509cert.EncodeCertificates(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyChain checks a chain with Go's verifier for client authentication,
// and with openssl verify on the same files.
func verifyChain(t *testing.T, root *x509.Certificate, inters []*x509.Certificate, leaf *x509.Certificate) {
	t.Helper()
	roots, pool := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range inters {
		pool.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: time.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("Go verifier: %v", err)
	}
	dir := t.TempDir()
	args := []string{"verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", writePEM(t, dir, "root.pem", root)}
	if len(inters) > 0 {
		args = append(args, "-untrusted", writePEM(t, dir, "inter.pem", inters...))
	}
	args = append(args, writePEM(t, dir, "leaf.pem", leaf))
	if out := runTool(t, "openssl", args...); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
}

// newTestStore opens a store in a temporary directory with a pinned clock.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "pki"), true)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return testNow }
	s.Rand = rand.Reader
	t.Cleanup(func() { s.Close() })
	return s
}

func mustKey(t testing.TB, kt x509cert.KeyType) x509cert.Issuer {
	t.Helper()
	key, err := x509cert.GenerateKey(rand.Reader, kt)
	if err != nil {
		t.Fatal(err)
	}
	return x509cert.Issuer{Key: key}
}

func mustRoot(t testing.TB, kt x509cert.KeyType, pathLen int) x509cert.Issuer {
	t.Helper()
	iss := mustKey(t, kt)
	cert, err := x509cert.CreateRoot(rand.Reader, testNow, x509cert.CARequest{CommonName: "Test Root", Key: iss.Key, NotAfter: testNow.AddDate(10, 0, 0), MaxPathLen: pathLen})
	if err != nil {
		t.Fatal(err)
	}
	iss.Cert, iss.Level = cert, 1
	return iss
}

// inventoryOf is the local inventory behind s, for tests that write or
// read inventory.db directly.
func inventoryOf(s *Store) *boltBackend { return s.back.(*boltBackend) }
