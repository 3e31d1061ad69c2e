package revocation_test

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

var (
	bigOnce sync.Once
	bigCA   *revtest.CA
	bigDER  []byte
	bigHit  *x509.Certificate
)

// bigCRL is a CA with a CRL of a million random serials plus one client's.
func bigCRL(b *testing.B) (*revtest.CA, []byte, *x509.Certificate) {
	bigOnce.Do(func() {
		bigCA = revtest.NewCA(b, "root", nil)
		bigHit = bigCA.Client(b, "revoked", revtest.ClientOptions{})
		bigDER = bigCA.BigCRL(b, 1_000_000, bigHit.SerialNumber)
	})
	return bigCA, bigDER, bigHit
}

// BenchmarkParseCRL1M parses and indexes a CRL of 1,000,001 entries
// (about 49 MB of DER); the target is under a second.
func BenchmarkParseCRL1M(b *testing.B) {
	_, der, _ := bigCRL(b)
	b.SetBytes(int64(len(der)))
	b.ResetTimer()
	for b.Loop() {
		c, err := revocation.ParseCRL(der)
		if err != nil || c.Len() != 1_000_001 {
			b.Fatalf("ParseCRL: %v", err)
		}
	}
}

// BenchmarkDecide is one warm decision against the million-entry CRL: the
// certificate is parsed (the handler's job), its issuer's signature and the
// CRL's were checked on an earlier request. Target: under a microsecond.
func BenchmarkDecide(b *testing.B) {
	ca, der, revoked := bigCRL(b)
	good := ca.Client(b, "good", revtest.ClientOptions{})
	ts, err := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	if err != nil {
		b.Fatal(err)
	}
	crl, err := revocation.ParseCRL(der)
	if err != nil {
		b.Fatal(err)
	}
	chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{ts.CAs[0].KeyID: crl}}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want bool
	}{{"good", good, true}, {"revoked", revoked, false}} {
		b.Run(tc.name, func(b *testing.B) {
			if d := chk.Decide(ctx, tc.cert, revtest.Now); d.Allow != tc.want {
				b.Fatalf("Decide = %+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				chk.Decide(ctx, tc.cert, revtest.Now)
			}
		})
	}
	// With the context the authorizer passes on: names, hex, SHA-256.
	b.Run("good+context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			chk.Decide(ctx, good, revtest.Now)
			revocation.Describe(good)
		}
	})
}

// BenchmarkDecideAsDeployed is BenchmarkDecide as the authorizer and serve
// run it: with a CRLHistory (rollback check), against the million-entry
// CRL complete and as a partition whose issuing distribution point is
// matched with the certificate's CRL distribution points on every
// decision. Target: under a microsecond.
func BenchmarkDecideAsDeployed(b *testing.B) {
	ca, der, _ := bigCRL(b)
	const partition = "http://crl.example.test/bench/1.crl"
	inPartition := ca.Client(b, "in partition", revtest.ClientOptions{CRLURLs: []string{"http://crl.example.test/bench/0.crl", partition}})
	ts, err := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	if err != nil {
		b.Fatal(err)
	}
	complete, err := revocation.ParseCRL(der)
	if err != nil {
		b.Fatal(err)
	}
	scoped, err := revocation.ParseCRL(ca.BigCRLWith(b, revtest.CRLOptions{Number: 2, IDP: &revtest.IDP{URIs: []string{partition}, OnlyUser: true, Critical: true}}, 1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		crl  *revocation.CRL
	}{{"complete", complete}, {"partition", scoped}} {
		chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{ts.CAs[0].KeyID: tc.crl}, History: &revocation.CRLHistory{}}
		b.Run(tc.name, func(b *testing.B) {
			if d := chk.Decide(ctx, inPartition, revtest.Now); !d.Allow {
				b.Fatalf("Decide = %+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				chk.Decide(ctx, inPartition, revtest.Now)
			}
		})
	}
}
