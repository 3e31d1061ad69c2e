package revocation_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// The fast parser agrees with crypto/x509 on every entry.
func TestParseCRLAgreesWithX509(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	extra := []*big.Int{big.NewInt(0), big.NewInt(127), big.NewInt(128), big.NewInt(255), new(big.Int).Lsh(big.NewInt(1), 159)}
	der := ca.BigCRL(t, 200, extra...)
	want, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("the test CRL is badly signed: %v", err)
	}
	got := mustParse(t, der)
	if got.Len() != len(want.RevokedCertificateEntries) {
		t.Fatalf("Len = %d, want %d", got.Len(), len(want.RevokedCertificateEntries))
	}
	for _, e := range want.RevokedCertificateEntries {
		entry, ok := got.Lookup(e.SerialNumber)
		if !ok || entry.Serial.Cmp(e.SerialNumber) != 0 || entry.Reason != e.ReasonCode || !entry.Time.Equal(e.RevocationTime) {
			t.Fatalf("serial %x: %+v, %v; want %+v", e.SerialNumber, entry, ok, e)
		}
	}
	for _, sn := range []*big.Int{big.NewInt(1), big.NewInt(256), new(big.Int).Lsh(big.NewInt(1), 158)} {
		if got.Contains(sn) {
			t.Errorf("serial %x reported revoked", sn)
		}
	}
	if err := got.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("signature over the real TBS: %v", err)
	}
	other := revtest.NewCA(t, "root", nil)
	if err := got.CheckSignatureFrom(other.Cert); err == nil {
		t.Fatal("foreign CA accepted")
	}
	// PEM too.
	p := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if c, err := revocation.ParseCRL(p); err != nil || c.Len() != got.Len() {
		t.Fatalf("PEM: %v", err)
	}
}

// openssl agrees that the CRLs BigCRL splices together are well formed and
// signed, so the benchmarks measure a real CRL.
func TestBigCRLVerifiesWithOpenSSL(t *testing.T) {
	openssl := revtest.Tool(t, "openssl")
	ca := revtest.NewCA(t, "root", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), revtest.PEM(ca.Cert), 0o600)
	os.WriteFile(filepath.Join(dir, "crl.der"), ca.BigCRL(t, 50), 0o600)
	out, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", filepath.Join(dir, "crl.der"), "-CAfile", filepath.Join(dir, "ca.pem"), "-noout", "-verify").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, out)
	}
}

func TestParseCRLRefuses(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	good := ca.CRL(t, revtest.CRLOptions{}, ca.Client(t, "c", revtest.ClientOptions{}))
	cases := map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("not a CRL at all"),
		"truncated":      good[:len(good)-10],
		"trailing bytes": append(bytes.Clone(good), 0),
		"certificate":    ca.Cert.Raw,
		"PEM of a cert":  revtest.PEM(ca.Cert),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := revocation.ParseCRL(data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// A flipped byte in an entry parses but no longer verifies.
	flipped := bytes.Clone(good)
	flipped[len(flipped)-120] ^= 0x01
	if c, err := revocation.ParseCRL(flipped); err == nil && c.CheckSignatureFrom(ca.Cert) == nil {
		t.Fatal("a changed CRL still verifies")
	}
}
