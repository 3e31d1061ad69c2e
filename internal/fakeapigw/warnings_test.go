package fakeapigw

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

type certSpec struct {
	cn        string
	ca        bool
	key       crypto.Signer
	sig       x509.SignatureAlgorithm
	notBefore time.Time
	notAfter  time.Time
}

type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

var serial int64

// mint makes a certificate from spec, signed by parent (self-signed when nil).
func mint(t *testing.T, spec certSpec, parent *issued) issued {
	t.Helper()
	if spec.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		spec.key = k
	}
	if spec.notBefore.IsZero() {
		spec.notBefore, spec.notAfter = t0.Add(-time.Hour), t0.Add(365*24*time.Hour)
	}
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: spec.cn}, NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		BasicConstraintsValid: true, IsCA: spec.ca, SignatureAlgorithm: spec.sig}
	if spec.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	signer, parentCert := spec.key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, spec.key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return issued{cert, spec.key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func goodCA(t *testing.T) []byte {
	return mint(t, certSpec{cn: "Good Root", ca: true}, nil).pem
}

func rsaKey(t *testing.T, bits int) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The fake's own checks (not apimtls's validator) decide the warnings;
// each case is a truststore with one thing AWS dislikes.
func TestTruststoreWarnings(t *testing.T) {
	root := mint(t, certSpec{cn: "Root", ca: true}, nil)
	chain := []issued{root}
	for i := range 4 {
		chain = append(chain, mint(t, certSpec{cn: "Level " + string(rune('2'+i)), ca: true}, &chain[len(chain)-1]))
	}
	cat := func(cs ...issued) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, c.pem...)
		}
		return b
	}
	for _, tc := range []struct {
		name, want string // want "" means no warning
		data       []byte
	}{
		{"a good root", "", root.pem},
		{"four levels", "", cat(chain[:4]...)},
		{"five levels", "CN=Level 5 (#5 in truststore): chain length 5 exceeds the maximum of 4", cat(chain...)},
		{"intermediate without its root", "issuer CN=Root is not in the truststore", chain[1].pem},
		{"expired", "certificate is expired", mint(t, certSpec{cn: "Old", ca: true, notBefore: t0.Add(-48 * time.Hour), notAfter: t0.Add(-time.Hour)}, nil).pem},
		{"not yet valid", "certificate is not yet valid", mint(t, certSpec{cn: "Future", ca: true, notBefore: t0.Add(time.Hour), notAfter: t0.Add(48 * time.Hour)}, nil).pem},
		{"not a CA", "CN=Leaf (#2 in truststore): certificate is not a CA", cat(root, mint(t, certSpec{cn: "Leaf"}, &root))},
		{"RSA-1024", "RSA key of 1024 bits is too weak", mint(t, certSpec{cn: "Weak", ca: true, key: rsaKey(t, 1024)}, nil).pem},
		{"SHA-1 signature", "insecure signature algorithm SHA1-RSA", mint(t, certSpec{cn: "Sha1", ca: true, key: rsaKey(t, 2048), sig: x509.SHA1WithRSA}, nil).pem},
		{"not X.509", "Certificate #1 in truststore: invalid X.509 syntax", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings, n := truststoreWarnings(tc.data, t0)
			if n == 0 {
				t.Fatal("no certificates counted")
			}
			got := strings.Join(warnings, "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("warnings:\n%s\nwant one containing %q", got, tc.want)
			}
		})
	}
}

// Through the SDK: warnings come back on the domain, with ExtraWarning.
func TestTruststoreWarningsOnDomain(t *testing.T) {
	e := newEnv(t, Quotas{})
	e.objects["b/ts.pem@v1"] = mint(t, certSpec{cn: "Old", ca: true, notBefore: t0.Add(-48 * time.Hour), notAfter: t0.Add(-time.Hour)}, nil).pem
	e.f.AddDomain(&Domain{Name: "r.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	e.f.SetWarning("r.example.com", "extra words")
	out := must(e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: []v1types.PatchOperation{
		replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem"), replace("/mutualTlsAuthentication/truststoreVersion", "v1")}}))
	w := out.MutualTlsAuthentication.TruststoreWarnings
	if len(w) != 2 || !strings.Contains(w[0], "expired") || w[1] != "extra words" {
		t.Fatalf("warnings %q", w)
	}
}
