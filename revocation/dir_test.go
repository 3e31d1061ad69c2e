package revocation_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// TestDirCRLsAppearLater: a serve started before the first ca crl watches
// a crl/ that does not exist yet. Until it appears every client is denied
// crl_missing (never allowed, never crl_invalid); once it appears, the
// next look (a second later) reads it, and a revoked client is refused.
func TestDirCRLsAppearLater(t *testing.T) {
	root := revtest.NewCA(t, "root", nil)
	good := root.Client(t, "good", revtest.ClientOptions{})
	revoked := root.Client(t, "revoked", revtest.ClientOptions{})
	ts, err := revocation.NewTruststore([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "crl")
	clock := revtest.Now
	loads := 0
	crls := &revocation.DirCRLs{Dir: dir, Truststore: ts, Now: func() time.Time { return clock },
		OnLoad: func(set revocation.CRLSet, err error) { loads++ }}
	c := &revocation.Checker{Truststore: ts, CRLs: crls}
	decide := func(cert *x509.Certificate) revocation.Reason {
		return c.Decide(context.Background(), cert, revtest.Now).Reason
	}

	if r := decide(good); r != revocation.CRLMissing {
		t.Fatalf("no crl/ yet: %s, want crl_missing", r)
	}
	if set, err := crls.Current(); err != nil || len(set) != 0 {
		t.Fatalf("no crl/ yet: Current() = %v, %v; want an empty set", set, err)
	}

	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.crl"), root.CRL(t, revtest.CRLOptions{}, revoked), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := decide(revoked); r != revocation.CRLMissing {
		t.Errorf("within the second: %s, want the last reading (crl_missing)", r)
	}
	clock = clock.Add(time.Second)
	if r := decide(revoked); r != revocation.Revoked {
		t.Errorf("after crl/ appeared: revoked client %s, want revoked", r)
	}
	if r := decide(good); r != revocation.OK {
		t.Errorf("after crl/ appeared: good client %s, want ok", r)
	}
	if loads != 2 {
		t.Errorf("OnLoad told %d times, want 2 (the empty reading, then the CRL)", loads)
	}

	// The directory removed again: back to no CRL, never an allow.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	if r := decide(revoked); r != revocation.CRLMissing {
		t.Errorf("crl/ removed: %s, want crl_missing", r)
	}
}

// TestCRLDirReadsPEMBundles: a .pem file holding CA certificates and the
// CRLs of several CAs (what openssl verify -CAfile reads) gives every CRL
// in it, not the first one or an error.
func TestCRLDirReadsPEMBundles(t *testing.T) {
	root := revtest.NewCA(t, "root", nil)
	issuing := revtest.NewCA(t, "issuing", root)
	revoked := issuing.Client(t, "revoked", revtest.ClientOptions{})
	good := issuing.Client(t, "good", revtest.ClientOptions{})
	ts, err := revocation.NewTruststore([]*x509.Certificate{root.Cert, issuing.Cert})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var bundle []byte
	bundle = append(bundle, revtest.PEM(root.Cert, issuing.Cert)...)
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: root.CRL(t, revtest.CRLOptions{})})...)
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: issuing.CRL(t, revtest.CRLOptions{}, revoked)})...)
	if err := os.WriteFile(filepath.Join(dir, "bundle-crls.pem"), bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := revocation.LoadCRLDir(dir, ts)
	if err != nil {
		t.Fatal(err)
	}
	chk := &revocation.Checker{Truststore: ts, CRLs: set}
	if d := chk.Decide(context.Background(), good, revtest.Now); !d.Allow {
		t.Errorf("good: %s (%s)", d.Reason, d.Detail)
	}
	if d := chk.Decide(context.Background(), revoked, revtest.Now); d.Reason != revocation.Revoked {
		t.Errorf("revoked: %s (%s)", d.Reason, d.Detail)
	}
}
