package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/fakekms"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/x509cert"
)

// kmsStore is a test store connected to a fresh fake KMS through the real
// SDK client; paced counts the waits the signer reports.
func kmsStore(t testing.TB) (*Store, *fakekms.Fake, *int) {
	t.Helper()
	f := fakekms.New().Start()
	t.Cleanup(f.Close)
	s := newTestStore(t)
	paced := new(int)
	s.KMS = KMSConfig{
		Client:  func() (KMSAPI, error) { return f.Client(), nil },
		Context: context.Background(),
		Paced:   func(time.Duration, int) { *paced++ },
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	return s, f, paced
}

func verifyKMSChain(t *testing.T, leaf *x509.Certificate, root *x509.Certificate, inter ...*x509.Certificate) {
	t.Helper()
	roots, mids := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range inter {
		mids.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: mids, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("Go does not verify %s: %v", leaf.Subject, err)
	}
	dir := t.TempDir()
	args := []string{"verify", "-attime", fmt.Sprint(testNow.Unix()), "-CAfile", revtest.WritePEM(t, dir, "root.pem", root)}
	if len(inter) > 0 {
		args = append(args, "-untrusted", revtest.WritePEM(t, dir, "inter.pem", inter...))
	}
	revtest.RunTool(t, "openssl", append(args, revtest.WritePEM(t, dir, "leaf.pem", leaf))...)
}

// TestKMSHeldCAs: for every KMS key spec, a KMS-held root signs a KMS-held
// intermediate, which issues a client and signs a CRL; Go and openssl
// verify each. Certificates go to KMS as RAW messages.
func TestKMSHeldCAs(t *testing.T) {
	for _, spec := range KMSKeySpecs {
		if spec == "RSA_4096" && testing.Short() {
			continue
		}
		t.Run(spec, func(t *testing.T) {
			s, f, _ := kmsStore(t)
			root, err := s.CreateCA(CAParams{Name: "root", CommonName: "KMS Root", MaxPathLen: -1, KMS: &KMSKey{Spec: spec}})
			if err != nil {
				t.Fatal(err)
			}
			if loc := root.Record.KeyLocation(); loc.Kind != KeyInKMS || loc.KMSKeyARN == "" {
				t.Fatalf("key location %+v", loc)
			}
			if _, err := os.Stat(s.Layout().CAKey("root")); !os.IsNotExist(err) {
				t.Fatalf("a KMS-held CA has a key.pem: %v", err)
			}
			inter, err := s.CreateCA(CAParams{Name: "issuing", Parent: "root", CommonName: "KMS Issuing", MaxPathLen: -1, KMS: &KMSKey{Spec: spec}})
			if err != nil {
				t.Fatal(err)
			}
			client, err := s.IssueClient(ClientParams{Name: "alice", CA: "issuing", KeyType: x509cert.ECDSAP256})
			if err != nil {
				t.Fatal(err)
			}
			verifyKMSChain(t, client.Cert, root.Cert, inter.Cert)
			verifyKMSChain(t, inter.Cert, root.Cert)
			if raw := f.Calls("Sign/RAW"); raw != 3 || f.Calls("Sign/DIGEST") != 0 {
				t.Fatalf("%d RAW and %d DIGEST signatures, want 3 RAW", raw, f.Calls("Sign/DIGEST"))
			}
			if _, err := s.Revoke(KindClient, "alice", ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			crl, err := s.SignCRL("issuing", nil, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			verifyCRL(t, crl, inter.Cert)
		})
	}
}

func verifyCRL(t *testing.T, crl *CRL, issuer *x509.Certificate) {
	t.Helper()
	list, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("Go does not verify the CRL: %v", err)
	}
	out := revtest.RunTool(t, "openssl", "crl", "-inform", "DER", "-in", crl.DERPath, "-CAfile", revtest.WritePEM(t, t.TempDir(), "ca.pem", issuer), "-noout", "-verify")
	if want := "verify OK"; !hasText(out, want) {
		t.Fatalf("openssl crl -verify: %s", out)
	}
}

func hasText(s, sub string) bool { return strings.Contains(s, sub) }

// TestOfflineRootKMSIntermediate: the classic layout. A root whose key is
// an encrypted file signs an issuing CA in an existing KMS key (by alias);
// the issuing CA issues with no passphrase; a CRL too large for RAW goes to
// KMS as DIGEST and verifies; store rebuild keeps the KMS reference.
func TestOfflineRootKMSIntermediate(t *testing.T) {
	s, f, paced := kmsStore(t)
	pass := []byte("offline root passphrase")
	root, err := s.CreateCA(CAParams{Name: "root", CommonName: "Offline Root", KeyType: x509cert.ECDSAP384, MaxPathLen: -1, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(CAParams{Name: "other", CommonName: "Other", KMS: &KMSKey{Spec: "ECC_NIST_P256"}}); err != nil {
		t.Fatal(err)
	}
	// an existing key, named by the alias apimtls gave it
	inter, err := s.CreateCA(CAParams{Name: "issuing", CommonName: "Issuing", Parent: "root", MaxPathLen: -1, KMS: &KMSKey{KeyID: KMSAliasFor("other")},
		ParentPassphrase: func() ([]byte, error) { return pass, nil }})
	if err != nil {
		t.Fatal(err)
	}
	verifyKMSChain(t, inter.Cert, root.Cert)
	f.ThrottleNext(3)
	var last *Issued
	for i := range 100 {
		if last, err = s.IssueClient(ClientParams{Name: fmt.Sprintf("c%03d", i), CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Revoke(KindClient, fmt.Sprintf("c%03d", i), ReasonSuperseded); err != nil {
			t.Fatal(err)
		}
	}
	if *paced != 3 {
		t.Fatalf("the signer reported %d waits for 3 throttled requests", *paced)
	}
	verifyKMSChain(t, last.Cert, root.Cert, inter.Cert)
	crl, err := s.SignCRL("issuing", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.DER) <= maxRawMessage || f.Calls("Sign/DIGEST") != 1 {
		t.Fatalf("CRL of %d bytes, %d DIGEST signatures: want one DIGEST for a CRL over 4 KB", len(crl.DER), f.Calls("Sign/DIGEST"))
	}
	verifyCRL(t, crl, inter.Cert)

	// rebuild: the KMS key is found again from ca/issuing/kms.json
	s.Close()
	if err := os.Remove(filepath.Join(s.Dir, inventoryFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := RebuildInventory(s.Dir, testNow); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(s.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.Now, s2.KMS = s.Now, s.KMS
	rec, err := s2.Lookup(KindRoot, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	if rec.KMSKeyARN != inter.Record.KMSKeyARN || rec.KeyLocation().Kind != KeyInKMS {
		t.Fatalf("rebuilt record: %+v", rec.KeyLocation())
	}
	if r, _ := s2.Lookup(KindRoot, "root"); r.KeyLocation().Kind != KeyInEncryptedFile {
		t.Fatalf("root key location after rebuild: %+v", r.KeyLocation())
	}
	if _, err := s2.IssueClient(ClientParams{Name: "after", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
}

// TestKMSRefusals: what KMS refuses leaves nothing behind.
func TestKMSRefusals(t *testing.T) {
	s, f, _ := kmsStore(t)
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "Root", KMS: &KMSKey{Spec: "ECC_NIST_P256"}, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	f.Deny("kms:Sign", true)
	if _, err := s.IssueClient(ClientParams{Name: "denied", CA: "root", KeyType: x509cert.ECDSAP256}); err == nil || !hasText(err.Error(), "AccessDeniedException") {
		t.Fatalf("denied Sign: %v", err)
	}
	if _, err := os.Stat(s.Layout().ClientDir("denied")); !os.IsNotExist(err) {
		t.Fatalf("a refused issuance left %s", s.Layout().ClientDir("denied"))
	}
	f.Deny("kms:Sign", false)
	if err := f.SetEnabled(KMSAliasFor("root"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueClient(ClientParams{Name: "disabled", CA: "root", KeyType: x509cert.ECDSAP256}); err == nil || !hasText(err.Error(), "Disabled") {
		t.Fatalf("disabled key: %v", err)
	}
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "Root", KMS: &KMSKey{Spec: "ECC_NIST_P256"}}); err == nil {
		t.Fatal("a second CA named root")
	}
	if _, err := s.CreateCA(CAParams{Name: "again", CommonName: "Again", KMS: &KMSKey{Spec: "ECC_NIST_P521"}}); err == nil {
		t.Fatal("P-521 accepted")
	}
}

// BenchmarkIssueClientKMS is one issuance from a KMS-held CA against the
// fake: BenchmarkIssueClient plus one KMS Sign round trip over local HTTP
// (SigV4 signing, JSON, the fake's own ECDSA signature).
func BenchmarkIssueClientKMS(b *testing.B) {
	s, _, _ := kmsStore(b)
	s.Now = time.Now
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "Root", KMS: &KMSKey{Spec: "ECC_NIST_P256"}, MaxPathLen: -1}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.IssueClient(ClientParams{Name: fmt.Sprintf("c%d", i), CA: "root", KeyType: x509cert.ECDSAP256}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignCertificate is the signature alone, a 1 KB TBS: a local
// P-256 key against a KMS-held P-256 key through the SDK and the fake,
// which is the cost apimtls adds per signature before network latency.
func BenchmarkSignCertificate(b *testing.B) {
	msg := make([]byte, 1024)
	s, _, _ := kmsStore(b)
	remote, err := createKMSKey(s.KMS, "bench", "ECC_NIST_P256")
	if err != nil {
		b.Fatal(err)
	}
	local := mustKey(b, x509cert.ECDSAP256).Key
	for _, c := range []struct {
		name string
		key  crypto.Signer
	}{{"local", local}, {"kms-fake", remote}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := crypto.SignMessage(c.key, rand.Reader, msg, crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKMSSignerDigest: Sign (a digest computed by the caller, DIGEST) with
// every padding and hash KMS offers for the key, verified with the key from
// GetPublicKey; what the key cannot do is refused before any request.
func TestKMSSignerDigest(t *testing.T) {
	s, f, _ := kmsStore(t)
	for _, c := range []struct {
		spec string
		opts []crypto.SignerOpts
		bad  []crypto.SignerOpts
	}{
		{"ECC_NIST_P256", []crypto.SignerOpts{crypto.SHA256}, []crypto.SignerOpts{crypto.SHA384, crypto.SHA512, crypto.SHA1}},
		{"ECC_NIST_P384", []crypto.SignerOpts{crypto.SHA384}, []crypto.SignerOpts{crypto.SHA256}},
		{"RSA_2048", []crypto.SignerOpts{crypto.SHA256, crypto.SHA384, crypto.SHA512,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
			&rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512}},
			[]crypto.SignerOpts{&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}, crypto.SHA1}},
	} {
		k, err := createKMSKey(s.KMS, "d-"+strings.ToLower(c.spec), c.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range c.opts {
			h := o.HashFunc().New()
			h.Write([]byte("message"))
			digest := h.Sum(nil)
			sig, err := k.Sign(rand.Reader, digest, o)
			if err != nil {
				t.Fatalf("%s %v: %v", c.spec, o, err)
			}
			var verr error
			switch pub := k.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest, sig) {
					verr = fmt.Errorf("bad ECDSA signature")
				}
			case *rsa.PublicKey:
				if pss, ok := o.(*rsa.PSSOptions); ok {
					verr = rsa.VerifyPSS(pub, o.HashFunc(), digest, sig, &rsa.PSSOptions{SaltLength: pss.HashFunc().Size()})
				} else {
					verr = rsa.VerifyPKCS1v15(pub, o.HashFunc(), digest, sig)
				}
			}
			if verr != nil {
				t.Fatalf("%s %v: %v", c.spec, o, verr)
			}
		}
		before := f.Calls("Sign")
		for _, o := range c.bad {
			if _, err := k.Sign(rand.Reader, make([]byte, max(o.HashFunc().Size(), 20)), o); err == nil {
				t.Fatalf("%s signed with %v", c.spec, o)
			}
		}
		if f.Calls("Sign") != before {
			t.Fatalf("%s: a refused algorithm reached KMS", c.spec)
		}
	}
}
