package gateway

import (
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
)

// TestServeRefusesRolledBackAndScopedCRLs drives serve's revocation check
// with the real curl (issue 21 items 4 and 5): a CRL file put back with a
// lower number is refused (crl_rollback) instead of un-revoking; an
// OpenSSL CA-only CRL signed with the issuing CA's key is no CRL for its
// clients (crl_missing); beside a complete CRL, a partition counts only
// for the certificates that name it.
func TestServeRefusesRolledBackAndScopedCRLs(t *testing.T) {
	curl := requireTool(t, "curl")
	revtest.OpenSSL(t)
	dir, crlDir := t.TempDir(), t.TempDir()
	root := revtest.NewCA(t, "Root", nil)
	issuing := revtest.NewCA(t, "Issuing", root)
	signer := &ca{issuing.Cert, issuing.Key}
	const partition = "http://crl.example.test/issuing/5.crl"
	inPartition := func(c *x509.Certificate) { c.CRLDistributionPoints = []string{partition} }
	type device struct {
		name, cert, key string
		x509            *x509.Certificate
	}
	mk := func(name string, edit func(*x509.Certificate)) device {
		certPath, keyPath := client(t, dir, name, signer, edit)
		return device{name, certPath, keyPath, readCert(t, certPath)}
	}
	good, revoked, victim := mk("good", nil), mk("revoked", nil), mk("victim", nil)
	inP, revokedInP := mk("in-partition", inPartition), mk("revoked-in-partition", inPartition)

	ts, err := revocation.NewTruststore([]*x509.Certificate{root.Cert, issuing.Cert})
	if err != nil {
		t.Fatal(err)
	}
	// Each call is two seconds after the last: the directory is looked at
	// again on every request, as a second's wait would.
	var clock atomic.Int64
	crls := &revocation.DirCRLs{Dir: crlDir, Truststore: ts, Now: func() time.Time { return time.Unix(clock.Add(2), 0) }}
	checker := &revocation.Checker{Truststore: ts, CRLs: crls, History: &revocation.CRLHistory{}}
	url, serverCA, logs := startCheckingGateway(t, dir, checker, root.Cert, issuing.Cert)

	put := func(files map[string][]byte) {
		t.Helper()
		entries, _ := os.ReadDir(crlDir)
		for _, e := range entries {
			os.Remove(filepath.Join(crlDir, e.Name()))
		}
		files["root.crl"] = root.CRL(t, revtest.CRLOptions{})
		for name, der := range files {
			if err := os.WriteFile(filepath.Join(crlDir, name), der, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(c device, status string, reason revocation.Reason) {
		t.Helper()
		cmd := exec.Command(curl, "-sS", "-o", os.DevNull, "-w", "%{http_code}", "--cacert", serverCA, "--cert", c.cert, "--key", c.key, url)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) || string(out) != status {
			t.Fatalf("curl as %s: status %s (%v), want %s\n%s\ngateway log:\n%s", c.name, out, err, status, stderr.String(), logs.String())
		}
		if reason != "" {
			waitFor(t, logs, "reject CN="+c.name+": "+string(reason))
		}
	}

	two := issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 2}, revoked.x509, victim.x509)
	put(map[string][]byte{"issuing-2.crl": two})
	expect(good, "200", "")
	expect(victim, "403", revocation.Revoked)

	// A stale copy of the PKI puts CRL 1 back.
	put(map[string][]byte{"issuing-1.crl": issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 1}, revoked.x509)})
	expect(victim, "403", revocation.CRLRollback)
	expect(good, "403", revocation.CRLRollback)
	put(map[string][]byte{"issuing-2.crl": two})
	expect(good, "200", "")

	// What the issue reproduced: a CA-only CRL for the clients.
	put(map[string][]byte{"issuing-ca-only.crl": issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 3, IDP: "onlyCA = TRUE"})})
	expect(revoked, "403", revocation.CRLMissing)
	expect(good, "403", revocation.CRLMissing)

	// The complete CRL and a partition of higher number, side by side.
	put(map[string][]byte{
		"issuing-4.crl":         issuing.CRL(t, revtest.CRLOptions{Number: 4}, revoked.x509, victim.x509),
		"issuing-partition.crl": issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 5, IDP: "fullname = URI:" + partition}, revokedInP.x509),
	})
	expect(good, "200", "")
	expect(revoked, "403", revocation.Revoked)
	expect(inP, "200", "")
	expect(revokedInP, "403", revocation.Revoked)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := x509cert.DecodeCertificates(data)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s: %v", path, err)
	}
	return certs[0]
}
