package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/x509cert"
)

func revocationStore(t *testing.T) *Store {
	t.Helper()
	s := newTestStore(t)
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "Test Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(CAParams{Name: "issuing", Parent: "root", CommonName: "Test Issuing", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.IssueClient(ClientParams{Name: n, CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRevokeAndCRL(t *testing.T) {
	s := revocationStore(t)
	// An empty CRL first: "no CRL" must never mean "nothing revoked".
	empty, err := s.SignCRL("issuing", nil, 0)
	if err != nil || empty.Revoked != 0 || empty.Number != 1 {
		t.Fatalf("empty CRL %+v, %v", empty, err)
	}
	rev, err := s.Revoke(KindClient, "alice", ReasonKeyCompromise)
	if err != nil || rev.Already || rev.Record.Status != StatusRevoked || rev.Record.RevokedAt == nil {
		t.Fatalf("revoke: %+v %v", rev, err)
	}
	// By serial, twice: a no-op that says so.
	again, err := s.Revoke(KindClient, rev.Record.Serial, ReasonSuperseded)
	if err != nil || !again.Already || again.Record.RevocationReason != ReasonKeyCompromise {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	var nf *NotFoundError
	if _, err := s.Revoke(KindClient, "nosuch", ReasonUnspecified); !errors.As(err, &nf) {
		t.Fatalf("unknown client: %v", err)
	}
	if _, err := s.Revoke(KindClient, "bob", Reason("stolen")); err == nil || !strings.Contains(err.Error(), "keyCompromise") {
		t.Fatalf("unknown reason: %v", err)
	}
	crl, err := s.SignCRL("issuing", nil, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number != 2 || crl.Revoked != 1 || !crl.NextUpdate.Equal(testNow.Add(48*time.Hour)) {
		t.Fatalf("CRL %+v: want number 2, one entry, nextUpdate in 48h", crl)
	}
	issuer, _ := s.Lookup(KindIntermediate, "issuing")
	cert, _ := s.Certificate(issuer)
	list, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("signature: %v", err)
	}
	e := list.RevokedCertificateEntries
	if len(e) != 1 || x509cert.SerialHexInt(e[0].SerialNumber) != rev.Record.Serial || e[0].ReasonCode != 1 || string(list.AuthorityKeyId) != string(cert.SubjectKeyId) {
		t.Fatalf("entries %+v, AKI %x", e, list.AuthorityKeyId)
	}
	// OpenSSL reads and verifies it, DER and PEM.
	ca := revtest.WritePEM(t, t.TempDir(), "issuing.pem", cert)
	out := revtest.RunTool(t, "openssl", "crl", "-inform", "DER", "-in", crl.DERPath, "-CAfile", ca, "-noout", "-text", "-verify")
	if !strings.Contains(out, "Key Compromise") || !strings.Contains(out, "X509v3 CRL Number") {
		t.Fatalf("openssl crl:\n%s", out)
	}
	revtest.RunTool(t, "openssl", "crl", "-in", crl.PEMPath, "-CAfile", ca, "-noout", "-verify")
}

func TestRevokeCA(t *testing.T) {
	s := revocationStore(t)
	if _, err := s.Revoke(KindRoot, "root", ReasonKeyCompromise); !errors.Is(err, ErrRootRevoke) {
		t.Fatalf("revoking the root: %v", err)
	}
	if _, err := s.CreateCA(CAParams{Name: "sub", Parent: "issuing", CommonName: "Test Sub", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(KindIntermediate, "issuing", ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	// Nothing more is issued from it, nor from any CA under it; its
	// clients' CRL is still signed.
	var re *RevokedError
	if _, err := s.IssueClient(ClientParams{Name: "carol", CA: "issuing", KeyType: x509cert.ECDSAP256}); !errors.As(err, &re) {
		t.Fatalf("issued from a revoked CA: %v", err)
	}
	if _, err := s.IssueClient(ClientParams{Name: "carol", CA: "sub", KeyType: x509cert.ECDSAP256}); !errors.As(err, &re) || re.Via != "issuing" {
		t.Fatalf("issued under a revoked CA: %v", err)
	}
	if _, err := s.CreateCA(CAParams{Name: "subsub", Parent: "sub", CommonName: "Test Sub Sub", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); !errors.As(err, &re) || re.Via != "issuing" {
		t.Fatalf("created a CA under a revoked CA: %v", err)
	}
	if _, err := s.SignCRL("issuing", nil, 0); err != nil {
		t.Fatalf("a revoked CA must still sign its CRL: %v", err)
	}
	// It is in its parent's CRL.
	crl, err := s.SignCRL("root", nil, 0)
	if err != nil || crl.Revoked != 1 {
		t.Fatalf("root CRL %+v %v", crl, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "crl", "root.crl")); err != nil {
		t.Fatal(err)
	}
}

func TestCRLOutlivingTheCA(t *testing.T) {
	s := revocationStore(t)
	if _, err := s.SignCRL("issuing", nil, 100*365*24*time.Hour); err == nil || !strings.Contains(err.Error(), "outlive the CA") {
		t.Fatalf("err %v", err)
	}
	// The refused CRL consumed nothing visible: the next one is number 1.
	crl, err := s.SignCRL("issuing", nil, 0)
	if err != nil || crl.Number != 1 {
		t.Fatalf("%+v %v", crl, err)
	}
}

// store rebuild reads the folders: a revocation and the CRL numbers must
// survive it, or a rebuilt inventory would quietly un-revoke a device.
func TestRevocationSurvivesRebuild(t *testing.T) {
	s := revocationStore(t)
	if _, err := s.Revoke(KindClient, "alice", ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignCRL("issuing", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignCRL("issuing", nil, 0); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "inventory.db"), []byte("garbage, not bbolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RebuildInventory(dir, testNow); err != nil {
		t.Fatal(err)
	}
	r, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	alice, err := r.Lookup(KindClient, "alice")
	if err != nil || alice.Status != StatusRevoked || alice.RevocationReason != ReasonKeyCompromise || alice.RevokedAt == nil {
		t.Fatalf("after rebuild alice is %+v (%v)", alice, err)
	}
	crl, err := r.SignCRL("issuing", nil, 0)
	if err != nil || crl.Number != 3 || crl.Revoked != 1 {
		t.Fatalf("after rebuild: CRL %+v %v; want number 3 with alice", crl, err)
	}
}
