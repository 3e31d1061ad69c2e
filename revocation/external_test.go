package revocation_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// TestOCSPAgainstOpenSSL runs `openssl ocsp` as the partner CA's responder.
// OpenSSL 3.0 takes only a port number and listens on every interface; the
// client asks it on 127.0.0.1.
func TestOCSPAgainstOpenSSL(t *testing.T) {
	responder := revtest.ReserveOCSP(t)
	partner := revtest.NewCA(t, "partner", nil)
	opts := revtest.ClientOptions{OCSPServer: []string{responder.URL}}
	good := partner.Client(t, "good", opts)
	revoked := partner.Client(t, "revoked", opts)
	unknown := partner.Client(t, "unknown", opts)
	responder.Start(t, partner, []*x509.Certificate{good}, []*x509.Certificate{revoked})

	ts, _ := revocation.NewTruststore([]*x509.Certificate{partner.Cert})
	ext := &revocation.External{OCSP: true, Timeout: 5 * time.Second}
	chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{}, Options: revocation.Options{External: ext}}
	for _, tc := range []struct {
		cert *x509.Certificate
		want revocation.Reason
	}{{good, revocation.OK}, {revoked, revocation.Revoked}, {unknown, revocation.OCSPUnknown}, {good, revocation.OK}} {
		d := chk.Decide(context.Background(), tc.cert, time.Now())
		if d.Reason != tc.want || d.Allow != (tc.want == revocation.OK) {
			t.Errorf("%s: %s (%s), want %s", tc.cert.Subject.CommonName, d.Reason, d.Detail, tc.want)
		}
		if tc.want == revocation.Revoked && (d.Revocation == nil || d.Revocation.Reason != 1) {
			t.Errorf("revocation entry %+v, want keyCompromise (1)", d.Revocation)
		}
	}
	// Without OCSP enabled, the same certificate has nothing to check against.
	chk.External = &revocation.External{CRL: true}
	if d := chk.Decide(context.Background(), good, time.Now()); d.Allow || d.Reason != revocation.CRLMissing {
		t.Errorf("OCSP off: %s, want crl_missing", d.Reason)
	}
	// A responder that is down: fail closed.
	responder.Stop()
	chk.External = &revocation.External{OCSP: true, Timeout: time.Second}
	if d := chk.Decide(context.Background(), good, time.Now()); d.Allow || d.Reason != revocation.RevocationFailed {
		t.Errorf("responder down: %s, want revocation_unavailable", d.Reason)
	}
}

// TestCRLDistributionPoint serves a partner's CRL over HTTP on 127.0.0.1.
func TestCRLDistributionPoint(t *testing.T) {
	partner := revtest.NewCA(t, "partner", nil)
	foreign := revtest.NewCA(t, "partner", nil)
	var hits atomic.Int32
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b := body.Load()
		if b == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Write(*b)
	}))
	defer srv.Close()
	opts := revtest.ClientOptions{CRLURLs: []string{"ldap://ignored.example/cn=crl", srv.URL + "/partner.crl"}}
	good := partner.Client(t, "good", opts)
	revoked := partner.Client(t, "revoked", opts)
	crl := partner.CRL(t, revtest.CRLOptions{NextUpdate: revtest.Now.Add(time.Hour)}, revoked)
	body.Store(&crl)

	ts, _ := revocation.NewTruststore([]*x509.Certificate{partner.Cert})
	chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{},
		Options: revocation.Options{External: &revocation.External{CRL: true}}}
	decide := func(c *x509.Certificate, at time.Time) revocation.Decision {
		return chk.Decide(context.Background(), c, at)
	}
	if d := decide(good, revtest.Now); !d.Allow {
		t.Fatalf("good: %s %s", d.Reason, d.Detail)
	}
	if d := decide(revoked, revtest.Now); d.Allow || d.Reason != revocation.Revoked {
		t.Fatalf("revoked: %s", d.Reason)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches before nextUpdate, want 1", n)
	}
	// After nextUpdate it is fetched again; a foreign-signed list is refused.
	bad := foreign.CRL(t, revtest.CRLOptions{NextUpdate: revtest.Now.Add(48 * time.Hour)})
	body.Store(&bad)
	if d := decide(good, revtest.Now.Add(2*time.Hour)); d.Allow || d.Reason != revocation.CRLBadSignature {
		t.Fatalf("foreign CRL: %s", d.Reason)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d fetches after nextUpdate, want 2", n)
	}
	// The server failing: fail closed, or allow under soft-fail.
	body.Store(nil)
	chk.External = &revocation.External{CRL: true}
	if d := decide(good, revtest.Now); d.Allow || d.Reason != revocation.RevocationFailed {
		t.Fatalf("server down: %s", d.Reason)
	}
	chk.SoftFail = true
	if d := decide(good, revtest.Now); !d.Allow || len(d.SoftFailed) != 1 {
		t.Fatalf("server down, soft-fail: %+v", d)
	}
}
