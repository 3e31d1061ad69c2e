package pki

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// testNow pins the clock so validity periods are deterministic.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

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
