package authorizer_test

import (
	"crypto/x509"
	"testing"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// noCache makes the handler ask S3 on every invocation, as a warm
// environment does once APIMTLS_CACHE_TTL has passed.
var noCache = map[string]string{authorizer.EnvCacheTTL: "0s"}

// An older CRL put back in the bucket (a stale crl push, an old version
// restored) is refused with crl_rollback instead of un-revoking what the
// newer one revoked; CRL 2 again is used again.
func TestRolledBackCRLDenied(t *testing.T) {
	w := newWorld(t)
	key := "crl/" + w.issuingID + ".crl"
	victim := w.issuing.Client(t, "device-revoked-in-2", revtest.ClientOptions{})
	one := w.issuing.CRL(t, revtest.CRLOptions{Number: 1}, w.revoked)
	two := w.issuing.CRL(t, revtest.CRLOptions{Number: 2}, w.revoked, victim)
	h := w.handler(w.api, noCache)
	soft := w.handler(w.api, map[string]string{authorizer.EnvCacheTTL: "0s", authorizer.EnvSoftFail: "1"})

	w.put(key, two)
	for _, p := range payloads {
		w.expectDeny(h, p, victim, revocation.Revoked)
		w.expectDeny(soft, p, victim, revocation.Revoked)
		if allow, ctx := w.decide(h, p, w.good); !allow {
			t.Fatalf("%s: good client denied under CRL 2: %v", p, ctx)
		}
	}
	w.put(key, one)
	for _, p := range payloads {
		w.expectDeny(h, p, victim, revocation.CRLRollback)
		w.expectDeny(h, p, w.good, revocation.CRLRollback)
		// Soft-fail lets the good client through, says so, and still
		// refuses the one CRL 2 revoked.
		w.expectDeny(soft, p, victim, revocation.Revoked)
		if allow, ctx := w.decide(soft, p, w.good); !allow || ctx["softFailed"] != string(revocation.CRLRollback) {
			t.Fatalf("%s: soft-fail under a rollback: allow=%v %v", p, allow, ctx)
		}
	}
	// The same number again, re-signed: fine.
	w.put(key, w.issuing.CRL(t, revtest.CRLOptions{Number: 2}, w.revoked, victim))
	for _, p := range payloads {
		w.expectDeny(h, p, victim, revocation.Revoked)
		if allow, ctx := w.decide(h, p, w.good); !allow {
			t.Fatalf("%s: good client denied under CRL 2 again: %v", p, ctx)
		}
	}
	w.logs.lines(t)
}

// A CRL whose issuing distribution point does not cover the certificate
// is no CRL for it: crl_missing, never an allow. A partitioned CRL counts
// for the certificates that name its partition.
func TestScopedCRLsInTheBucket(t *testing.T) {
	w := newWorld(t)
	const partition = "http://crl.example.test/issuing/7.crl"
	inPartition := w.issuing.Client(t, "device-in-partition", revtest.ClientOptions{CRLURLs: []string{partition}})
	revokedInPartition := w.issuing.Client(t, "device-revoked-in-partition", revtest.ClientOptions{CRLURLs: []string{partition}})
	elsewhere := w.issuing.Client(t, "device-in-another-partition", revtest.ClientOptions{CRLURLs: []string{"http://crl.example.test/issuing/8.crl"}})
	issuingKey, rootKey := "crl/"+w.issuingID+".crl", "crl/"+w.rootID+".crl"
	full := w.issuing.CRL(t, revtest.CRLOptions{}, w.revoked)
	type want map[*x509.Certificate]revocation.Reason
	for _, tc := range []struct {
		name string
		key  string
		der  []byte
		want want
	}{
		// What the issue reproduced: an OpenSSL CA-only CRL signed with
		// the issuing CA's key, in the issuing CA's place.
		{"CA-only CRL for clients (openssl)", issuingKey, w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 5, IDP: "onlyCA = TRUE"}),
			want{w.good: revocation.CRLMissing, w.revoked: revocation.CRLMissing}},
		{"some-reasons CRL (openssl)", issuingKey, w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 5, IDP: "onlysomereasons = keyCompromise"}),
			want{w.good: revocation.CRLMissing, w.revoked: revocation.CRLMissing}},
		{"attribute-only CRL", issuingKey, w.issuing.CRL(t, revtest.CRLOptions{Number: 5, IDP: &revtest.IDP{OnlyAttribute: true, Critical: true}}),
			want{w.good: revocation.CRLMissing}},
		{"user-only CRL for the intermediate (openssl)", rootKey, w.root.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 5, IDP: "onlyuser = TRUE"}),
			want{w.good: revocation.CRLMissing, w.revoked: revocation.Revoked}}, // the leaf's own link is checked first
		{"partition (openssl)", issuingKey, w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 5, IDP: "fullname = URI:" + partition}, revokedInPartition),
			want{inPartition: revocation.OK, revokedInPartition: revocation.Revoked, elsewhere: revocation.CRLMissing, w.good: revocation.CRLMissing, w.revoked: revocation.CRLMissing}},
		{"partition (x509)", issuingKey, w.issuing.CRL(t, revtest.CRLOptions{Number: 5, IDP: &revtest.IDP{URIs: []string{partition}, Critical: true}}, revokedInPartition),
			want{inPartition: revocation.OK, revokedInPartition: revocation.Revoked, elsewhere: revocation.CRLMissing, w.good: revocation.CRLMissing}},
	} {
		func() {
			w.put(issuingKey, full)
			w.put(rootKey, w.root.CRL(t, revtest.CRLOptions{}))
			w.put(tc.key, tc.der)
			h := w.handler(w.api, nil)
			for _, p := range payloads {
				for cert, reason := range tc.want {
					if reason == revocation.OK {
						if allow, ctx := w.decide(h, p, cert); !allow {
							t.Fatalf("%s, %s: %s denied: %v", tc.name, p, cert.Subject.CommonName, ctx)
						}
						continue
					}
					w.expectDeny(h, p, cert, reason)
				}
			}
			w.logs.lines(t)
		}()
	}
}
