package revocation_test

import (
	"crypto/x509"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// FuzzParseCRL: any input either parses into a list whose every entry can
// be looked up, or is an error; never a panic.
func FuzzParseCRL(f *testing.F) {
	ca := revtest.NewCA(f, "root", nil)
	c := ca.Client(f, "c", revtest.ClientOptions{})
	f.Add(ca.CRL(f, revtest.CRLOptions{}))
	f.Add(ca.CRL(f, revtest.CRLOptions{}, c))
	f.Add(ca.BigCRL(f, 3))
	// Scoped CRLs: the issuing distribution point is outside input too.
	inPartition := ca.Client(f, "p", revtest.ClientOptions{CRLURLs: []string{"http://crl.example.test/1.crl"}})
	f.Add(ca.CRL(f, revtest.CRLOptions{IDP: &revtest.IDP{URIs: []string{"http://crl.example.test/1.crl"}, OnlyUser: true, Critical: true}}, c))
	f.Add(ca.CRL(f, revtest.CRLOptions{IDP: &revtest.IDP{OnlyCA: true, OnlySomeReasons: true}}))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		crl, err := revocation.ParseCRL(data)
		if err != nil {
			return
		}
		crl.Contains(c.SerialNumber)
		crl.CheckSignatureFrom(ca.Cert)
		crl.Covers(inPartition)
		_ = crl.Scope().String()
		// What we index, crypto/x509 must be able to read as a CRL too.
		if rl, err := x509.ParseRevocationList(crl.List.Raw); err == nil {
			for _, e := range rl.RevokedCertificateEntries {
				if _, ok := crl.Lookup(e.SerialNumber); !ok {
					t.Fatalf("serial %x parsed by crypto/x509 is not in the index", e.SerialNumber)
				}
			}
		}
	})
}
