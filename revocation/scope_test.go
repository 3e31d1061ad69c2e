package revocation_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// scopeWorld is a root, an issuing CA and clients inside and outside a
// partition of the issuing CA's CRLs.
type scopeWorld struct {
	root, issuing                   *revtest.CA
	ts                              *revocation.Truststore
	rootID, issuingID               string
	good, revoked                   *x509.Certificate
	inP1, revokedInP1, inP2, inBoth *x509.Certificate
	rootCRL                         *revocation.CRL
	revokedList                     []*x509.Certificate
}

const (
	partitionOne = "http://crl.example.test/issuing/1.crl"
	partitionTwo = "http://crl.example.test/issuing/2.crl"
)

func newScopeWorld(t *testing.T) *scopeWorld {
	w := &scopeWorld{root: revtest.NewCA(t, "root", nil)}
	w.issuing = revtest.NewCA(t, "issuing", w.root)
	var err error
	if w.ts, err = revocation.NewTruststore([]*x509.Certificate{w.root.Cert, w.issuing.Cert}); err != nil {
		t.Fatal(err)
	}
	w.rootID, w.issuingID = w.ts.CAs[0].KeyID, w.ts.CAs[1].KeyID
	w.good = w.issuing.Client(t, "good", revtest.ClientOptions{})
	w.revoked = w.issuing.Client(t, "revoked", revtest.ClientOptions{})
	w.inP1 = w.issuing.Client(t, "in partition 1", revtest.ClientOptions{CRLURLs: []string{partitionOne}})
	w.revokedInP1 = w.issuing.Client(t, "revoked in partition 1", revtest.ClientOptions{CRLURLs: []string{partitionOne}})
	w.inP2 = w.issuing.Client(t, "in partition 2", revtest.ClientOptions{CRLURLs: []string{partitionTwo}})
	w.inBoth = w.issuing.Client(t, "named by both", revtest.ClientOptions{CRLURLs: []string{partitionTwo, partitionOne}})
	w.rootCRL = mustParse(t, w.root.CRL(t, revtest.CRLOptions{}))
	w.revokedList = []*x509.Certificate{w.revoked, w.revokedInP1}
	return w
}

func (w *scopeWorld) decide(t *testing.T, crls revocation.CRLSource, cert *x509.Certificate) revocation.Decision {
	t.Helper()
	chk := &revocation.Checker{Truststore: w.ts, CRLs: crls, History: &revocation.CRLHistory{}}
	return chk.Decide(context.Background(), cert, revtest.Now)
}

// A scoped CRL counts only for the certificates its issuing distribution
// point covers (RFC 5280 §5.2.5, §6.3.3); for any other it is as if the CA
// had no CRL: crl_missing, never an allow. Each scope is made twice, by
// crypto/x509 with our own encoding of the extension and by the real
// `openssl ca -gencrl`.
func TestScopedCRLs(t *testing.T) {
	w := newScopeWorld(t)
	type want map[*x509.Certificate]revocation.Reason
	ok, missing, revoked := revocation.OK, revocation.CRLMissing, revocation.Revoked
	complete := want{w.good: ok, w.revoked: revoked, w.inP1: ok, w.revokedInP1: revoked, w.inP2: ok}
	noneCovered := want{w.good: missing, w.revoked: missing, w.inP1: missing, w.revokedInP1: missing, w.inP2: missing}
	partition := want{w.good: missing, w.revoked: missing, w.inP1: ok, w.revokedInP1: revoked, w.inP2: missing, w.inBoth: ok}
	for _, tc := range []struct {
		name    string
		idp     *revtest.IDP
		openssl string
		want    want
	}{
		{"complete", nil, "", complete},
		{"CA certificates only, for a client", &revtest.IDP{OnlyCA: true, Critical: true}, "onlyCA = TRUE", noneCovered},
		{"user certificates only, for a client", &revtest.IDP{OnlyUser: true, Critical: true}, "onlyuser = TRUE", complete},
		{"some reasons only", &revtest.IDP{OnlySomeReasons: true, Critical: true}, "onlysomereasons = keyCompromise", noneCovered},
		{"attribute certificates only", &revtest.IDP{OnlyAttribute: true, Critical: true}, "onlyAA = TRUE", noneCovered},
		{"partition 1", &revtest.IDP{URIs: []string{partitionOne}, Critical: true}, "fullname = URI:" + partitionOne, partition},
		{"partition 1 of user certificates", &revtest.IDP{URIs: []string{partitionOne}, OnlyUser: true, Critical: true}, "fullname = URI:" + partitionOne + "\nonlyuser = TRUE", partition},
		{"partition 1, not marked critical", &revtest.IDP{URIs: []string{partitionOne}}, "", partition},
	} {
		makers := map[string][]byte{"x509": w.issuing.CRL(t, revtest.CRLOptions{IDP: tc.idp}, w.revokedList...)}
		if tc.openssl != "" || tc.idp == nil {
			makers["openssl"] = w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{IDP: tc.openssl}, w.revokedList...)
		}
		for maker, der := range makers {
			t.Run(tc.name+"/"+maker, func(t *testing.T) {
				crl := mustParse(t, der)
				if (crl.Scope() == nil) != (tc.idp == nil) {
					t.Fatalf("Scope() = %v", crl.Scope())
				}
				crls := revocation.StaticCRLs{w.rootID: w.rootCRL, w.issuingID: crl}
				for cert, reason := range tc.want {
					d := w.decide(t, crls, cert)
					if d.Reason != reason || d.Allow != (reason == ok) {
						t.Errorf("%s: %v %s (%s), want %s", cert.Subject.CommonName, d.Allow, d.Reason, d.Detail, reason)
					}
					if reason == missing && !strings.Contains(d.Detail, "covers") {
						t.Errorf("%s: detail %q does not say what the CRL covers", cert.Subject.CommonName, d.Detail)
					}
				}
			})
		}
	}
}

// The link from the issuing CA to the root is checked against the root's
// CRL: one for user certificates only does not cover a CA.
func TestScopedCRLForTheIntermediate(t *testing.T) {
	w := newScopeWorld(t)
	issuingCRL := mustParse(t, w.issuing.CRL(t, revtest.CRLOptions{}))
	for _, tc := range []struct {
		name string
		der  []byte
		want revocation.Reason
	}{
		{"user certificates only (x509)", w.root.CRL(t, revtest.CRLOptions{IDP: &revtest.IDP{OnlyUser: true, Critical: true}}), revocation.CRLMissing},
		{"user certificates only (openssl)", w.root.OpenSSLCRL(t, revtest.OpenSSLCRL{IDP: "onlyuser = TRUE"}), revocation.CRLMissing},
		{"CA certificates only (openssl)", w.root.OpenSSLCRL(t, revtest.OpenSSLCRL{IDP: "onlyCA = TRUE"}), revocation.OK},
		{"CA certificates only, revoking it (openssl)", w.root.OpenSSLCRL(t, revtest.OpenSSLCRL{IDP: "onlyCA = TRUE"}, w.issuing.Cert), revocation.Revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crls := revocation.StaticCRLs{w.rootID: mustParse(t, tc.der), w.issuingID: issuingCRL}
			if d := w.decide(t, crls, w.good); d.Reason != tc.want {
				t.Fatalf("%s (%s), want %s", d.Reason, d.Detail, tc.want)
			}
		})
	}
}

func TestParseScopeRefuses(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	for name, idp := range map[string]revtest.IDP{
		"indirect":         {Indirect: true, Critical: true},
		"user and CA":      {OnlyUser: true, OnlyCA: true, Critical: true},
		"CA and attribute": {OnlyCA: true, OnlyAttribute: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := revocation.ParseCRL(ca.CRL(t, revtest.CRLOptions{IDP: &idp}))
			if err == nil || !strings.Contains(err.Error(), "issuing distribution point") && !strings.Contains(err.Error(), "indirect") {
				t.Fatalf("ParseCRL = %v, want a refusal naming the extension", err)
			}
		})
	}
	if _, err := revocation.ParseCRL(ca.OpenSSLCRL(t, revtest.OpenSSLCRL{IDP: "indirectCRL = TRUE"})); err == nil || !strings.Contains(err.Error(), "indirect") {
		t.Fatalf("openssl indirect CRL: %v", err)
	}
}

// A directory holding a CA's complete CRL, partitions and a CA-only CRL
// gives each certificate the one that covers it, the highest-numbered.
func TestCRLDirPicksTheCoveringCRL(t *testing.T) {
	w := newScopeWorld(t)
	dir := t.TempDir()
	files := map[string][]byte{
		"root.crl":        w.root.CRL(t, revtest.CRLOptions{}),
		"complete-3.crl":  w.issuing.CRL(t, revtest.CRLOptions{Number: 3}, w.revoked),
		"complete-2.crl":  w.issuing.CRL(t, revtest.CRLOptions{Number: 2}),
		"p1-9.crl":        w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 9, IDP: "fullname = URI:" + partitionOne}, w.revokedInP1),
		"p1-8.crl":        w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 8, IDP: "fullname = URI:" + partitionOne}),
		"p2-1.crl":        w.issuing.CRL(t, revtest.CRLOptions{Number: 1, IDP: &revtest.IDP{URIs: []string{partitionTwo}, Critical: true}}, w.inP2),
		"ca-only-100.crl": w.issuing.CRL(t, revtest.CRLOptions{Number: 100, IDP: &revtest.IDP{OnlyCA: true, Critical: true}}),
	}
	for name, der := range files {
		if err := os.WriteFile(filepath.Join(dir, name), der, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := revocation.LoadCRLDir(dir, w.ts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(set[w.issuingID]); n != 4 {
		t.Fatalf("the issuing CA has %d CRLs in the set, want 4 (one per scope)", n)
	}
	for cert, want := range map[*x509.Certificate]struct {
		reason revocation.Reason
		number int64
	}{
		w.good:        {revocation.OK, 3},
		w.revoked:     {revocation.Revoked, 3},
		w.revokedInP1: {revocation.Revoked, 9}, // the partition, numbered above the complete CRL
		// Partition 2 (number 1) lists it, complete CRL 3 does not:
		// numbers of different scopes are unrelated (RFC 5280 §5.2.3), and
		// a revocation is never lifted, so the CRL that lists it decides.
		w.inP2: {revocation.Revoked, 1},
	} {
		crl, err := set.CRL(context.Background(), w.ts.CAs[1], cert)
		if err != nil || crl.List.Number.Int64() != want.number {
			t.Errorf("%s: CRL %v, %v; want number %d", cert.Subject.CommonName, crl.List.Number, err, want.number)
		}
		if d := w.decide(t, set, cert); d.Reason != want.reason {
			t.Errorf("%s: %s (%s), want %s", cert.Subject.CommonName, d.Reason, d.Detail, want.reason)
		}
	}
}

// TestCRLOfAnotherScopeNeverHidesARevocation: a complete CRL listing the
// client beside a user-certificates-only CRL of a higher number that does
// not (apimtls's CRL beside an OpenSSL or AWS Private CA one), and an
// unsigned file with a high number beside the CA's own CRL: the client is
// revoked either way.
func TestCRLOfAnotherScopeNeverHidesARevocation(t *testing.T) {
	w := newScopeWorld(t)
	impostor := revtest.NewCA(t, "issuing", nil) // same name, another key
	for name, files := range map[string]map[string][]byte{
		"users-only CRL numbered higher": {
			"complete-3.crl":    w.issuing.CRL(t, revtest.CRLOptions{Number: 3}, w.revoked),
			"users-only-50.crl": w.issuing.CRL(t, revtest.CRLOptions{Number: 50, IDP: &revtest.IDP{OnlyUser: true, Critical: true}}),
		},
		"unsigned CRL numbered higher": {
			"complete-3.crl": w.issuing.CRL(t, revtest.CRLOptions{Number: 3}, w.revoked),
			"planted-99.crl": forgedCRL(t, w.issuing, impostor, 99),
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			files["root.crl"] = w.root.CRL(t, revtest.CRLOptions{})
			for f, der := range files {
				if err := os.WriteFile(filepath.Join(dir, f), der, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			set, err := revocation.LoadCRLDir(dir, w.ts)
			if err != nil {
				t.Fatal(err)
			}
			if d := w.decide(t, set, w.revoked); d.Allow || d.Reason != revocation.Revoked {
				t.Errorf("revoked client: %v %s (%s), want revoked", d.Allow, d.Reason, d.Detail)
			}
			if d := w.decide(t, set, w.good); !d.Allow {
				t.Errorf("good client: %s (%s), want allowed", d.Reason, d.Detail)
			}
		})
	}
}

// forgedCRL is a CRL that names ca as its issuer, name and key identifier,
// but is signed with another key.
func forgedCRL(t *testing.T, ca, other *revtest.CA, number int64) []byte {
	t.Helper()
	as := *ca.Cert
	as.PublicKey = other.Key.Public()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: revtest.Now.Add(-time.Minute), NextUpdate: revtest.Now.Add(time.Hour)}, &as, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := revocation.ParseCRL(der)
	if err != nil || crl.CheckSignatureFrom(ca.Cert) == nil {
		t.Fatalf("the forged CRL: %v, or it verifies", err)
	}
	return der
}
