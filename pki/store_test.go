package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/x509cert"
)

func createRootCA(t testing.TB, s *Store, name string, pass []byte) *Issued {
	t.Helper()
	issued, err := s.CreateCA(CAParams{Name: name, CommonName: name + " Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	return issued
}

func fixedPass(p string) x509cert.PassphraseFunc {
	return func() ([]byte, error) { return []byte(p), nil }
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestStoreHierarchyFilesAndTools(t *testing.T) {
	s := newTestStore(t)
	const pass = "correct horse battery"
	root := createRootCA(t, s, "root", []byte(pass))
	inter, err := s.CreateCA(CAParams{Name: "issuing", Parent: "root", CommonName: "Issuing", KeyType: x509cert.ECDSAP384, MaxPathLen: 0, ParentPassphrase: fixedPass(pass)})
	if err != nil {
		t.Fatal(err)
	}
	if inter.Record.Level != 2 || *inter.Record.PathLen != 0 || inter.Record.Issuer != "root" {
		t.Fatalf("intermediate record %+v", inter.Record)
	}
	client, err := s.IssueClient(ClientParams{Name: "partner", KeyType: x509cert.RSA2048, P12: &P12Options{Password: []byte("p12-secret")}})
	if err != nil {
		t.Fatalf("issue with the only issuing CA chosen by default: %v", err)
	}
	if client.Record.Issuer != "issuing" {
		t.Fatalf("default issuer = %q, want issuing", client.Record.Issuer)
	}
	legacy, err := s.IssueClient(ClientParams{Name: "old-java", CA: "issuing", KeyType: x509cert.ECDSAP256, P12: &P12Options{Password: []byte("p12-secret"), Legacy: true}})
	if err != nil {
		t.Fatal(err)
	}

	if m := mode(t, s.Dir); m != 0o700 {
		t.Errorf("PKI directory mode %04o, want 0700", m)
	}
	for _, p := range []string{"ca/root/key.pem", "ca/issuing/key.pem", "clients/partner/key.pem", "clients/partner/partner.p12", "clients/old-java/old-java.p12"} {
		if m := mode(t, filepath.Join(s.Dir, p)); m != 0o600 {
			t.Errorf("%s mode %04o, want 0600", p, m)
		}
	}
	for _, p := range []string{"ca/root", "clients/partner"} {
		if m := mode(t, filepath.Join(s.Dir, p)); m != 0o700 {
			t.Errorf("%s mode %04o, want 0700", p, m)
		}
	}

	// chain.pem: the client, then the issuing CA; never the root.
	chainPEM, err := os.ReadFile(filepath.Join(s.Dir, "clients/partner/chain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := x509cert.DecodeCertificates(chainPEM)
	if err != nil || len(chain) != 2 || x509cert.SerialHex(chain[0]) != client.Record.Serial || x509cert.SerialHex(chain[1]) != inter.Record.Serial {
		t.Fatalf("chain.pem holds %d certificates (err %v), want client then issuing CA", len(chain), err)
	}
	revtest.VerifyChain(t, root.Cert, []*x509.Certificate{inter.Cert}, client.Cert)

	// The tools users will point at these files.
	rootKey := filepath.Join(s.Dir, "ca/root/key.pem")
	revtest.RunTool(t, "openssl", "pkey", "-in", rootKey, "-passin", "pass:"+pass, "-noout")
	if out, err := runOpenSSL("pkey", "-in", rootKey, "-passin", "pass:wrong-passphrase", "-noout"); err == nil {
		t.Fatalf("openssl opened the encrypted key with a wrong passphrase: %s", out)
	}
	if out := revtest.RunTool(t, "openssl", "pkey", "-in", rootKey, "-passin", "pass:"+pass, "-text", "-noout"); !strings.Contains(out, "P-256") {
		t.Fatalf("openssl pkey -text: %s", out)
	}
	revtest.RunTool(t, "openssl", "verify", "-CAfile", filepath.Join(s.Dir, "ca/root/cert.pem"), "-untrusted", filepath.Join(s.Dir, "ca/issuing/cert.pem"), filepath.Join(s.Dir, "clients/partner/cert.pem"))
	for _, p12 := range []string{"clients/partner/partner.p12", "clients/old-java/old-java.p12"} {
		out := revtest.RunTool(t, "openssl", "pkcs12", "-info", "-in", filepath.Join(s.Dir, p12), "-passin", "pass:p12-secret", "-nokeys")
		if !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Fatalf("openssl pkcs12 -info %s: %s", p12, out)
		}
		if p12 == "clients/old-java/old-java.p12" && !strings.Contains(out, "TripleDES") {
			t.Errorf("legacy PKCS #12 is not 3DES: %s", out)
		}
		if p12 == "clients/partner/partner.p12" && !strings.Contains(out, "AES-256-CBC") {
			t.Errorf("modern PKCS #12 is not AES-256: %s", out)
		}
	}
	_ = legacy

	recs, err := s.List(nil)
	if err != nil || len(recs) != 4 {
		t.Fatalf("inventory has %d records (err %v), want 4", len(recs), err)
	}
	s.Close()
	checkConsistent(t, s.Dir)
}

func runOpenSSL(args ...string) (string, error) {
	out, err := execCommand("openssl", args...)
	return string(out), err
}

func TestStoreRefusesWithoutWriting(t *testing.T) {
	s := newTestStore(t)
	const pass = "correct horse battery"
	root := createRootCA(t, s, "root", []byte(pass))
	keyBefore := fileHash(t, filepath.Join(s.Dir, "ca/root/key.pem"))

	cases := []struct {
		name  string
		issue func() error
		check func(error) bool
	}{
		{"existing root", func() error {
			_, err := s.CreateCA(CAParams{Name: "root", CommonName: "again", KeyType: x509cert.ECDSAP256, MaxPathLen: -1})
			return err
		}, func(err error) bool { var e *ExistsError; return errors.As(err, &e) }},
		{"wrong passphrase", func() error {
			_, err := s.IssueClient(ClientParams{Name: "c1", CA: "root", KeyType: x509cert.ECDSAP256, CAPassphrase: fixedPass("not the passphrase")})
			return err
		}, func(err error) bool { return errors.Is(err, x509cert.ErrWrongPassphrase) }},
		{"no passphrase source", func() error {
			_, err := s.IssueClient(ClientParams{Name: "c1", CA: "root", KeyType: x509cert.ECDSAP256})
			return err
		}, func(err error) bool { return errors.Is(err, x509cert.ErrPassphraseRequired) }},
		{"unknown CA", func() error {
			_, err := s.IssueClient(ClientParams{Name: "c1", CA: "nope", KeyType: x509cert.ECDSAP256})
			return err
		}, func(err error) bool {
			var e *NotFoundError
			return errors.As(err, &e) && len(e.Known) == 1 && e.Known[0] == "root"
		}},
		{"unknown parent", func() error {
			_, err := s.CreateCA(CAParams{Name: "i", Parent: "nope", CommonName: "i", KeyType: x509cert.ECDSAP256, MaxPathLen: -1})
			return err
		}, func(err error) bool { var e *NotFoundError; return errors.As(err, &e) }},
		{"bad name", func() error {
			_, err := s.IssueClient(ClientParams{Name: "../etc", CA: "root", KeyType: x509cert.ECDSAP256})
			return err
		}, func(err error) bool { return errors.Is(err, ErrInvalidName) }},
		{"validity past the CA", func() error {
			_, err := s.IssueClient(ClientParams{Name: "c1", CA: "root", KeyType: x509cert.ECDSAP256, Days: 20 * 365, CAPassphrase: fixedPass(pass)})
			return err
		}, func(err error) bool { return errors.Is(err, x509cert.ErrOutlivesIssuer) }},
		{"short passphrase", func() error {
			_, err := s.CreateCA(CAParams{Name: "r2", CommonName: "r2", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Passphrase: []byte("short")})
			return err
		}, func(err error) bool { return errors.Is(err, ErrShortPassphrase) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, s.Dir)
			err := tc.issue()
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if after := snapshot(t, s.Dir); after != before {
				t.Fatalf("files changed on failure:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	if fileHash(t, filepath.Join(s.Dir, "ca/root/key.pem")) != keyBefore {
		t.Fatal("the root key changed")
	}
	_ = root
	s.Close()
	checkConsistent(t, s.Dir)
}

// snapshot lists the files of the PKI directory other than the inventory,
// whose pages bbolt may rewrite on a read.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == inventoryFile {
			return nil
		}
		b.WriteString(rel)
		if !d.IsDir() {
			b.WriteString("=" + fileHash(t, path)[:8])
		}
		b.WriteString(" ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func fileHash(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestDefaultIssuer(t *testing.T) {
	s := newTestStore(t)
	var amb *AmbiguousIssuerError
	if _, err := s.DefaultIssuer(); !errors.As(err, &amb) || len(amb.Candidates) != 0 {
		t.Fatalf("empty store: err = %v", err)
	}
	createRootCA(t, s, "root", nil)
	if name, err := s.DefaultIssuer(); err != nil || name != "root" {
		t.Fatalf("root only: %q, %v", name, err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := s.CreateCA(CAParams{Name: n, Parent: "root", CommonName: n, KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DefaultIssuer(); !errors.As(err, &amb) || strings.Join(amb.Candidates, ",") != "a,b" {
		t.Fatalf("two issuing CAs: err = %v", err)
	}
}

func TestStoreDepthLimit(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "l1", nil)
	for i, name := range []string{"l2", "l3", "l4"} {
		parent := []string{"l1", "l2", "l3"}[i]
		if _, err := s.CreateCA(CAParams{Name: name, Parent: parent, CommonName: name, KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, s.Dir)
	_, err := s.CreateCA(CAParams{Name: "l5", Parent: "l4", CommonName: "l5", KeyType: x509cert.ECDSAP256, MaxPathLen: -1})
	if !errors.Is(err, x509cert.ErrTooDeep) {
		t.Fatalf("fifth level: err = %v, want ErrTooDeep", err)
	}
	if snapshot(t, s.Dir) != before {
		t.Fatal("a refused CA left files behind")
	}
}

func TestSignCSR(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	devKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The device asks to be a CA with serverAuth and keyCertSign.
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}})
	ku, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x06}, BitLength: 7})
	data := revtest.CSR(t, devKey, "device-0042",
		pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
		pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},
		pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: ku},
	)
	csr, err := x509cert.DecodeCSR(data)
	if err != nil {
		t.Fatal(err)
	}
	checked, err := x509cert.CheckCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := s.IssueClient(ClientParams{Name: "device-0042", CSR: checked})
	if err != nil {
		t.Fatal(err)
	}
	c := issued.Cert
	if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("the CSR widened the profile: IsCA %v usage %v eku %v", c.IsCA, c.KeyUsage, c.ExtKeyUsage)
	}
	if !devKey.PublicKey.Equal(c.PublicKey) || c.Subject.CommonName != "device-0042" || len(c.DNSNames) != 1 {
		t.Fatalf("certificate does not carry the CSR's key, subject and SAN: %v %v", c.Subject, c.DNSNames)
	}
	if len(issued.Notes) != 3 {
		t.Errorf("notes %q, want the three ignored extensions", issued.Notes)
	}
	if exists(filepath.Join(s.Dir, "clients/device-0042/key.pem")) {
		t.Fatal("a CSR-signed client got a key.pem")
	}
	if !issued.Record.FromCSR {
		t.Error("record does not say FromCSR")
	}
	s.Close()
	checkConsistent(t, s.Dir)
}

func TestRecoverStaged(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	// A staged directory without a record: a crash before the commit.
	orphan := filepath.Join(s.Dir, stagingDir, "00000000000000000000000000000001")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, keyFile), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A committed record whose directory is still staged: a crash after it.
	issued, err := s.IssueClient(ClientParams{Name: "c1", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(s.Dir, issued.Record.Dir)
	if err := os.Rename(final, filepath.Join(s.Dir, stagingDir, issued.Record.Serial)); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir
	s.Close()
	// A reader notices the staged work and recovers it first.
	r, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if exists(orphan) {
		t.Error("uncommitted staged directory was not removed")
	}
	if !exists(filepath.Join(final, certFile)) {
		t.Error("committed staged directory was not moved into place")
	}
	checkConsistent(t, dir)
}
