package x509cert

import (
	"crypto/rand"
	"testing"
	"time"
)

// testNow pins the clock so validity periods are deterministic.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func mustKey(t testing.TB, kt KeyType) Issuer {
	t.Helper()
	key, err := GenerateKey(rand.Reader, kt)
	if err != nil {
		t.Fatal(err)
	}
	return Issuer{Key: key}
}

func mustRoot(t testing.TB, kt KeyType, pathLen int) Issuer {
	t.Helper()
	iss := mustKey(t, kt)
	cert, err := CreateRoot(rand.Reader, testNow, CARequest{CommonName: "Test Root", Key: iss.Key, NotAfter: testNow.AddDate(10, 0, 0), MaxPathLen: pathLen})
	if err != nil {
		t.Fatal(err)
	}
	iss.Cert, iss.Level = cert, 1
	return iss
}

func mustIntermediate(t testing.TB, parent Issuer, kt KeyType, pathLen int) Issuer {
	t.Helper()
	iss := mustKey(t, kt)
	cert, err := CreateIntermediate(rand.Reader, testNow, parent, CARequest{CommonName: "Test Intermediate", Key: iss.Key, NotAfter: testNow.AddDate(5, 0, 0), MaxPathLen: pathLen, ClampNotAfter: true})
	if err != nil {
		t.Fatal(err)
	}
	iss.Cert, iss.Level = cert, parent.Level+1
	return iss
}

func fixedPass(p string) PassphraseFunc {
	return func() ([]byte, error) { return []byte(p), nil }
}
