package x509cert

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os/exec"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
)

func clientOf(t *testing.T, issuer Issuer, edit func(*ClientRequest)) *x509.Certificate {
	t.Helper()
	req := ClientRequest{Subject: pkix.Name{CommonName: "client"}, PublicKey: mustKey(t, ECDSAP256).Key.Public(), NotAfter: testNow.AddDate(1, 0, 0)}
	if edit != nil {
		edit(&req)
	}
	c, err := CreateClient(rand.Reader, testNow, issuer, req)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerifyClient decides each case as API Gateway would, and checks that
// openssl verify, given the truststore as its only trust, agrees.
func TestVerifyClient(t *testing.T) {
	root := mustRoot(t, ECDSAP256, -1)
	issuing := mustIntermediate(t, root, ECDSAP256, -1)
	l3 := mustIntermediate(t, issuing, ECDSAP256, -1)
	l4 := mustIntermediate(t, l3, ECDSAP256, -1)
	other := mustRoot(t, ECDSAP256, -1)
	good := clientOf(t, issuing, nil)
	deep := clientOf(t, l4, nil)

	// A self-signed client, and one signed with SHA-1 by a hand-made template.
	selfKey := mustKey(t, ECDSAP256).Key
	selfTmpl := &x509.Certificate{SerialNumber: newSerialT(t), Subject: pkix.Name{CommonName: "self"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(1, 0, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	selfDER, err := x509.CreateCertificate(rand.Reader, selfTmpl, selfTmpl, selfKey.Public(), selfKey)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := x509.ParseCertificate(selfDER)
	rsaRoot := mustRoot(t, RSA2048, -1)
	sha1Tmpl := &x509.Certificate{SerialNumber: newSerialT(t), Subject: pkix.Name{CommonName: "sha1"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(1, 0, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature, SignatureAlgorithm: x509.SHA1WithRSA}
	sha1DER, err := x509.CreateCertificate(rand.Reader, sha1Tmpl, rsaRoot.Cert, selfKey.Public(), rsaRoot.Key)
	if err != nil {
		t.Fatal(err)
	}
	sha1Client, _ := x509.ParseCertificate(sha1DER)

	// A five-level chain without pathLen, and a CA under a pathLen-0 root,
	// which apimtls itself refuses to create.
	u1 := rawCA(t, Issuer{}, "U1", -1)
	u2 := rawCA(t, u1, "U2", -1)
	u3 := rawCA(t, u2, "U3", -1)
	u4 := rawCA(t, u3, "U4", -1)
	u5 := rawCA(t, u4, "U5", -1)
	tight := rawCA(t, Issuer{}, "Tight", 0)
	underTight := rawCA(t, tight, "Under tight", -1)

	for _, tc := range []struct {
		name       string
		truststore []*x509.Certificate
		client     *x509.Certificate
		at         time.Time
		reason     string // "" means accept
	}{
		{"accepted", []*x509.Certificate{issuing.Cert, root.Cert}, good, testNow, ""},
		{"four levels accepted", []*x509.Certificate{l4.Cert, l3.Cert, issuing.Cert, root.Cert}, deep, testNow, ""},
		{"only the root uploaded", []*x509.Certificate{root.Cert}, good, testNow, RefusalNoIssuer},
		{"intermediate without its root", []*x509.Certificate{issuing.Cert}, good, testNow, RefusalNoIssuer},
		{"another CA", []*x509.Certificate{other.Cert}, good, testNow, RefusalNoIssuer},
		{"expired client", []*x509.Certificate{issuing.Cert, root.Cert}, good, testNow.AddDate(2, 0, 0), RefusalExpired},
		{"expired CA", []*x509.Certificate{issuing.Cert, root.Cert}, clientOf(t, issuing, func(r *ClientRequest) { r.NotAfter, r.ClampNotAfter = testNow.AddDate(9, 0, 0), true }), testNow.AddDate(5, 0, 1), RefusalExpired},
		{"not yet valid", []*x509.Certificate{issuing.Cert, root.Cert}, good, testNow.AddDate(0, 0, -1), RefusalNotYetValid},
		{"self-signed client", []*x509.Certificate{root.Cert}, self, testNow, RefusalSelfSigned},
		{"pinned self-signed client", []*x509.Certificate{self}, self, testNow, ""},
		{"SHA-1 client", []*x509.Certificate{rsaRoot.Cert}, sha1Client, testNow, RefusalInsecureSig},
		{"five CA levels", []*x509.Certificate{u5.Cert, u4.Cert, u3.Cert, u2.Cert, u1.Cert}, clientOf(t, u5, nil), testNow, RefusalChainTooLong},
		{"pathLen exceeded", []*x509.Certificate{underTight.Cert, tight.Cert}, clientOf(t, underTight, nil), testNow, RefusalPathLenExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := EncodeCertificates(tc.truststore...)
			d := VerifyClient(ValidateTruststore(data, ValidateOptions{Now: tc.at}), tc.client, tc.at)
			if d.Accept != (tc.reason == "") || d.Reason != tc.reason {
				t.Fatalf("accept=%v reason=%q (%s), want reason %q", d.Accept, d.Reason, d.Detail, tc.reason)
			}
			if !d.Accept && d.Fix == "" {
				t.Error("a refusal without a fix")
			}
			if tc.at.Equal(testNow) && tc.name != "SHA-1 client" {
				opensslAgrees(t, tc.truststore, tc.client, d.Accept)
			}
		})
	}
}

func newSerialT(t *testing.T) *big.Int {
	n, err := NewSerial(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// opensslAgrees runs openssl verify with the truststore as the only trust,
// at the pinned time and with API Gateway's four CA levels (three
// intermediates below the trust anchor), and checks it reaches the same
// verdict.
func opensslAgrees(t *testing.T, truststore []*x509.Certificate, client *x509.Certificate, accept bool) {
	t.Helper()
	bin := revtest.Tool(t, "openssl")
	dir := t.TempDir()
	ts := revtest.WritePEM(t, dir, "truststore.pem", truststore...)
	leaf := revtest.WritePEM(t, dir, "client.pem", client)
	out, err := exec.Command(bin, "verify", "-attime", "1795435200", "-purpose", "sslclient", "-verify_depth", "3", "-CAfile", ts, leaf).CombinedOutput()
	if (err == nil) != accept {
		t.Fatalf("openssl verify says ok=%v, apimtls says accept=%v:\n%s", err == nil, accept, out)
	}
}

// rawCA makes a CA with x509 directly, without apimtls's depth checks.
func rawCA(t *testing.T, parent Issuer, cn string, pathLen int) Issuer {
	t.Helper()
	key := mustKey(t, ECDSAP256).Key
	ski, _ := subjectKeyID(key.Public())
	tmpl := &x509.Certificate{SerialNumber: newSerialT(t), Subject: pkix.Name{CommonName: cn}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0, KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: ski}
	p, signer := tmpl, key
	if parent.Cert != nil {
		p, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return Issuer{Cert: c, Key: key, Level: parent.Level + 1}
}
