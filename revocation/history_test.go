package revocation_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// A CRL older than one the checker has seen for the CA is refused
// (crl_rollback): put back in S3 or in serve's directory, CRL 1 would
// un-revoke every certificate CRL 2 revoked. The same number again is fine;
// CRLs of another scope, or not signed by the CA, move nothing.
func TestCRLRollback(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	ts, err := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	id := ts.CAs[0].KeyID
	good := ca.Client(t, "good", revtest.ClientOptions{})
	early := ca.Client(t, "revoked in CRL 1", revtest.ClientOptions{})
	late := ca.Client(t, "revoked in CRL 2", revtest.ClientOptions{})
	crl := func(n int64, certs ...*x509.Certificate) *revocation.CRL {
		return mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: n}, certs...))
	}
	one, two := crl(1, early), crl(2, early, late)
	history := &revocation.CRLHistory{}
	decide := func(c *revocation.CRL, cert *x509.Certificate, softFail bool) revocation.Decision {
		chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{id: c}, History: history, Options: revocation.Options{SoftFail: softFail}}
		return chk.Decide(context.Background(), cert, revtest.Now)
	}
	steps := []struct {
		name     string
		crl      *revocation.CRL
		cert     *x509.Certificate
		softFail bool
		want     revocation.Reason
	}{
		{"CRL 1", one, good, false, revocation.OK},
		{"CRL 2", two, late, false, revocation.Revoked},
		{"CRL 1 again: the client CRL 2 revoked", one, late, false, revocation.CRLRollback},
		{"CRL 1 again: a good client", one, good, false, revocation.CRLRollback},
		{"CRL 1 again: revoked in both", one, early, false, revocation.CRLRollback},
		// Soft-fail may let a rollback pass, but never a certificate the
		// newer CRL, which verified, lists.
		{"CRL 1 again, soft-fail: a good client", one, good, true, revocation.OK},
		{"CRL 1 again, soft-fail: the client CRL 2 revoked", one, late, true, revocation.Revoked},
		{"CRL 2 fetched again", crl(2, early, late), good, false, revocation.OK},
		{"a CA-only CRL numbered 1 is another scope", mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: 1, IDP: &revtest.IDP{OnlyCA: true, Critical: true}})), good, false, revocation.CRLMissing},
		{"a forged CRL numbered 99", mustParse(t, revtest.NewCA(t, "root", nil).CRL(t, revtest.CRLOptions{Number: 99})), good, false, revocation.CRLBadSignature},
		{"CRL 2 after the forgery: not a rollback", two, good, false, revocation.OK},
		{"CRL 3", crl(3), good, false, revocation.OK},
		{"CRL 2 after 3", two, good, false, revocation.CRLRollback},
	}
	for _, s := range steps {
		d := decide(s.crl, s.cert, s.softFail)
		if d.Reason != s.want || d.Allow != (s.want == revocation.OK) {
			t.Fatalf("%s: %v %s (%s), want %s", s.name, d.Allow, d.Reason, d.Detail, s.want)
		}
		if s.want == revocation.CRLRollback && (!strings.Contains(d.Detail, "number 1") && !strings.Contains(d.Detail, "is number 2")) {
			t.Errorf("%s: detail %q does not name the numbers", s.name, d.Detail)
		}
		if s.softFail && s.want == revocation.OK && (len(d.SoftFailed) != 1 || d.SoftFailed[0] != revocation.CRLRollback) {
			t.Errorf("%s: soft-failed %v, want [crl_rollback]", s.name, d.SoftFailed)
		}
	}
	// Without a history a Checker has no memory to roll back from.
	chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{id: one}}
	if d := chk.Decide(context.Background(), good, revtest.Now); !d.Allow {
		t.Fatalf("no history: %s", d.Detail)
	}
	// Another history (another process) has not seen CRL 3.
	chk.History = &revocation.CRLHistory{}
	if d := chk.Decide(context.Background(), good, revtest.Now); !d.Allow {
		t.Fatalf("fresh history: %s", d.Detail)
	}
}

// One history serves every request of a process at once: concurrent
// decisions over CRLs 1 and 2 never let CRL 1 allow a client CRL 2 revoked
// once CRL 2 has been seen (run with -race).
func TestCRLHistoryConcurrent(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	ts, _ := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	id := ts.CAs[0].KeyID
	late := ca.Client(t, "revoked in CRL 2", revtest.ClientOptions{})
	one := mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: 1}))
	two := mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: 2}, late))
	history := &revocation.CRLHistory{}
	seen := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{id: two}, History: history}
	if d := seen.Decide(context.Background(), late, revtest.Now); d.Reason != revocation.Revoked {
		t.Fatalf("CRL 2: %s", d.Reason)
	}
	done := make(chan revocation.Reason, 64)
	for i := range cap(done) {
		go func() {
			crl := two
			if i%2 == 0 {
				crl = one
			}
			chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{id: crl}, History: history}
			done <- chk.Decide(context.Background(), late, revtest.Now).Reason
		}()
	}
	for range cap(done) {
		if r := <-done; r != revocation.Revoked && r != revocation.CRLRollback {
			t.Fatalf("a decision under CRL 1 or 2 was %s", r)
		}
	}
}

// A CRL signed ahead of time and served early is crl_expired and is not
// remembered: today's CRL is no rollback from it.
func TestCRLFromTheFutureIsNotRemembered(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	ts, _ := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	id := ts.CAs[0].KeyID
	good := ca.Client(t, "good", revtest.ClientOptions{})
	history := &revocation.CRLHistory{}
	for _, step := range []struct {
		crl  []byte
		want revocation.Reason
	}{
		{ca.CRL(t, revtest.CRLOptions{Number: 5, ThisUpdate: revtest.Now.Add(24 * time.Hour), NextUpdate: revtest.Now.Add(48 * time.Hour)}), revocation.CRLExpired},
		{ca.CRL(t, revtest.CRLOptions{Number: 4}), revocation.OK},
		{ca.CRL(t, revtest.CRLOptions{Number: 3, ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Hour)}), revocation.CRLExpired},
		{ca.CRL(t, revtest.CRLOptions{Number: 3}), revocation.CRLRollback},
	} {
		chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{id: mustParse(t, step.crl)}, History: history}
		if d := chk.Decide(context.Background(), good, revtest.Now); d.Reason != step.want {
			t.Fatalf("%s (%s), want %s", d.Reason, d.Detail, step.want)
		}
	}
}
