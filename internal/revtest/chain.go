package revtest

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WritePEM writes certificates as PEM to dir/name and returns the path.
func WritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, PEM(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// VerifyChain checks a client chain with Go's verifier for client
// authentication, and with openssl verify -x509_strict on the same files.
func VerifyChain(t testing.TB, root *x509.Certificate, inters []*x509.Certificate, leaf *x509.Certificate) {
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
	args := []string{"verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", WritePEM(t, dir, "root.pem", root)}
	if len(inters) > 0 {
		args = append(args, "-untrusted", WritePEM(t, dir, "inter.pem", inters...))
	}
	args = append(args, WritePEM(t, dir, "leaf.pem", leaf))
	if out := RunTool(t, "openssl", args...); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
}

// CSR builds a PEM CSR for cn (with a DNS SAN under devices.example.com)
// whose requested extensions are extra: what a device, or an attacker
// trying to widen the profile, sends.
func CSR(t testing.TB, key any, cn string, extra ...pkix.Extension) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: cn},
		DNSNames:        []string{cn + ".devices.example.com"},
		ExtraExtensions: extra,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
