package x509cert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
)

func TestParseKeyType(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    KeyType
		wantErr string
	}{
		{"rsa-2048", RSA2048, ""},
		{"RSA-4096", RSA4096, ""},
		{"ecdsa-p256", ECDSAP256, ""},
		{" ecdsa-p384 ", ECDSAP384, ""},
		{"ecdsa-p521", "", "reported to refuse P-521"},
		{"ed25519", "", "does not list Ed25519"},
		{"rsa-1024", "", "at least 2048 bits"},
		{"dsa", "", "supported: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKeyType(tc.in)
			if tc.wantErr != "" {
				var ue *UnsupportedKeyTypeError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKeyType(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseKeyType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNewSerialIs128BitPositiveAndRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n, err := NewSerial(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if n.Sign() <= 0 || n.BitLen() > 128 {
			t.Fatalf("serial %x: want positive and at most 128 bits", n)
		}
		if seen[n.String()] {
			t.Fatalf("serial %x repeated", n)
		}
		seen[n.String()] = true
	}
	// A random source of zeros first, then ones: zero is never a serial.
	src := bytes.NewReader(append(make([]byte, 16), bytes.Repeat([]byte{1}, 16)...))
	n, err := NewSerial(src)
	if err != nil || n.Cmp(new(big.Int).SetBytes(bytes.Repeat([]byte{1}, 16))) != 0 {
		t.Fatalf("NewSerial skipping zero = %x, %v", n, err)
	}
}

// TestProfiles issues a root, an intermediate and a client for every key
// type and checks each field docs/pki.md's certificate profiles name.
func TestProfiles(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			root := mustRoot(t, kt, -1)
			inter := mustIntermediate(t, root, kt, -1)
			clientKey := mustKey(t, kt).Key
			client, err := CreateClient(rand.Reader, testNow, inter, ClientRequest{
				Subject: pkix.Name{CommonName: "device-1"}, PublicKey: clientKey.Public(),
				DNSNames: []string{"device-1.example.com"}, NotAfter: testNow.AddDate(1, 0, 0),
			})
			if err != nil {
				t.Fatal(err)
			}
			wantSig := map[KeyType]x509.SignatureAlgorithm{
				RSA2048: x509.SHA256WithRSA, RSA3072: x509.SHA256WithRSA, RSA4096: x509.SHA256WithRSA,
				ECDSAP256: x509.ECDSAWithSHA256, ECDSAP384: x509.ECDSAWithSHA384,
			}[kt]
			for _, c := range []*x509.Certificate{root.Cert, inter.Cert, client} {
				if c.SignatureAlgorithm != wantSig {
					t.Errorf("%s: signature %s, want %s", c.Subject.CommonName, c.SignatureAlgorithm, wantSig)
				}
				if len(c.SubjectKeyId) != 20 || len(c.AuthorityKeyId) != 20 {
					t.Errorf("%s: SKI %x AKI %x, want 20 bytes each", c.Subject.CommonName, c.SubjectKeyId, c.AuthorityKeyId)
				}
				if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
					t.Errorf("%s: serial %x is not a 128-bit random number", c.Subject.CommonName, c.SerialNumber)
				}
				if !c.NotBefore.Equal(testNow.Add(-backdate)) {
					t.Errorf("%s: NotBefore %s, want %s", c.Subject.CommonName, c.NotBefore, testNow.Add(-backdate))
				}
			}
			if !bytes.Equal(root.Cert.AuthorityKeyId, root.Cert.SubjectKeyId) {
				t.Error("root AKI differs from its SKI")
			}
			if !bytes.Equal(inter.Cert.AuthorityKeyId, root.Cert.SubjectKeyId) || !bytes.Equal(client.AuthorityKeyId, inter.Cert.SubjectKeyId) {
				t.Error("AKI does not name the issuer's SKI")
			}
			for _, ca := range []*x509.Certificate{root.Cert, inter.Cert} {
				if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(ca.ExtKeyUsage) != 0 {
					t.Errorf("%s: CA profile wrong: IsCA %v usage %v eku %v", ca.Subject.CommonName, ca.IsCA, ca.KeyUsage, ca.ExtKeyUsage)
				}
			}
			if PathLen(root.Cert) != 3 || PathLen(inter.Cert) != 2 {
				t.Errorf("pathLen root %d intermediate %d, want 3 and 2", PathLen(root.Cert), PathLen(inter.Cert))
			}
			wantUsage := x509.KeyUsageDigitalSignature
			if _, ok := clientKey.(*rsa.PrivateKey); ok {
				wantUsage |= x509.KeyUsageKeyEncipherment
			}
			if client.IsCA || !client.BasicConstraintsValid || client.KeyUsage != wantUsage ||
				len(client.ExtKeyUsage) != 1 || client.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(client.UnknownExtKeyUsage) != 0 {
				t.Errorf("client profile wrong: IsCA %v usage %v eku %v", client.IsCA, client.KeyUsage, client.ExtKeyUsage)
			}
			revtest.VerifyChain(t, root.Cert, []*x509.Certificate{inter.Cert}, client)
		})
	}
}

func TestCADepthAndPathLen(t *testing.T) {
	root := mustRoot(t, ECDSAP256, -1)
	l2 := mustIntermediate(t, root, ECDSAP256, -1)
	l3 := mustIntermediate(t, l2, ECDSAP256, -1)
	l4 := mustIntermediate(t, l3, ECDSAP256, -1)
	if PathLen(l4.Cert) != 0 {
		t.Fatalf("level-4 CA pathLen = %d, want 0", PathLen(l4.Cert))
	}
	key := mustKey(t, ECDSAP256).Key
	_, err := CreateIntermediate(rand.Reader, testNow, l4, CARequest{CommonName: "L5", Key: key, NotAfter: testNow.AddDate(1, 0, 0), MaxPathLen: -1})
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("level 5: err = %v, want ErrTooDeep", err)
	}
	client, err := CreateClient(rand.Reader, testNow, l4, ClientRequest{Subject: pkix.Name{CommonName: "deep"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	revtest.VerifyChain(t, root.Cert, []*x509.Certificate{l2.Cert, l3.Cert, l4.Cert}, client)

	for _, tc := range []struct {
		name    string
		parent  Issuer
		pathLen int
	}{
		{"root pathLen above three levels", Issuer{}, 4},
		{"intermediate pathLen above parent's", root, 3},
		{"below a pathLen-0 CA", mustIntermediate(t, root, ECDSAP256, 0), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := CARequest{CommonName: "x", Key: key, NotAfter: testNow.AddDate(1, 0, 0), MaxPathLen: tc.pathLen}
			var err error
			if tc.parent.Cert == nil {
				_, err = CreateRoot(rand.Reader, testNow, req)
			} else {
				_, err = CreateIntermediate(rand.Reader, testNow, tc.parent, req)
			}
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("err = %v, want ErrTooDeep", err)
			}
		})
	}
}

func TestNothingOutlivesItsIssuer(t *testing.T) {
	root := mustRoot(t, ECDSAP256, -1) // ends testNow + 10 years
	key := mustKey(t, ECDSAP256).Key
	long := testNow.AddDate(20, 0, 0)
	_, err := CreateIntermediate(rand.Reader, testNow, root, CARequest{CommonName: "x", Key: key, NotAfter: long, MaxPathLen: -1})
	if !errors.Is(err, ErrOutlivesIssuer) {
		t.Fatalf("explicit validity past the issuer: err = %v, want ErrOutlivesIssuer", err)
	}
	c, err := CreateIntermediate(rand.Reader, testNow, root, CARequest{CommonName: "x", Key: key, NotAfter: long, MaxPathLen: -1, ClampNotAfter: true})
	if err != nil || !c.NotAfter.Equal(root.Cert.NotAfter) {
		t.Fatalf("clamped intermediate ends %v (err %v), want %v", c.NotAfter, err, root.Cert.NotAfter)
	}
	cl, err := CreateClient(rand.Reader, testNow, root, ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: long, ClampNotAfter: true})
	if err != nil || !cl.NotAfter.Equal(root.Cert.NotAfter) {
		t.Fatalf("clamped client ends %v (err %v), want %v", cl.NotAfter, err, root.Cert.NotAfter)
	}
	expired := root
	_, err = CreateClient(rand.Reader, testNow.AddDate(11, 0, 0), expired, ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(12, 0, 0), ClampNotAfter: true})
	if !errors.Is(err, ErrOutlivesIssuer) {
		t.Fatalf("issuing from an expired CA: err = %v, want ErrOutlivesIssuer", err)
	}
}

func TestClientRefusesBadInput(t *testing.T) {
	root := mustRoot(t, ECDSAP256, -1)
	good := mustKey(t, ECDSAP256).Key.Public()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  ClientRequest
		want string
	}{
		{"RSA-1024 key", ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: &weak.PublicKey}, "at least 2048 bits"},
		{"no common name", ClientRequest{PublicKey: good}, "common name"},
		{"bad DNS name", ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: good, DNSNames: []string{"*.example.com"}}, "invalid DNS name"},
		{"bad email", ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: good, Emails: []string{"Bob <bob@example.com>"}}, "invalid email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.NotAfter = testNow.AddDate(1, 0, 0)
			_, err := CreateClient(rand.Reader, testNow, root, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestKeyTypeOfRefusesP521(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := KeyTypeOf(k.Public()); err == nil || !strings.Contains(err.Error(), "P-521") {
		t.Fatalf("KeyTypeOf(P-521) err = %v", err)
	}
}
