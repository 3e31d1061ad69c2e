package revocation_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// TestSoftFailNeverForgetsARevocation: once a checker has verified a CRL
// that lists a serial, soft-fail lets no later problem with the CRL
// (rolled back to an older, expired one; deleted; forged) pass that serial.
func TestSoftFailNeverForgetsARevocation(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	ts, _ := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	id := ts.CAs[0].KeyID
	late := ca.Client(t, "revoked in CRL 2", revtest.ClientOptions{})
	good := ca.Client(t, "good", revtest.ClientOptions{})
	history := &revocation.CRLHistory{}
	two := mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: 2}, late))
	oldExpired := mustParse(t, ca.CRL(t, revtest.CRLOptions{Number: 1, ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Hour)}))
	forged := mustParse(t, revtest.NewCA(t, "root", nil).CRL(t, revtest.CRLOptions{Number: 3}))
	decide := func(src revocation.CRLSource, cert *x509.Certificate) revocation.Decision {
		chk := &revocation.Checker{Truststore: ts, CRLs: src, History: history, Options: revocation.Options{SoftFail: true}}
		return chk.Decide(context.Background(), cert, revtest.Now)
	}
	if d := decide(revocation.StaticCRLs{id: two}, late); d.Reason != revocation.Revoked {
		t.Fatalf("CRL 2: %s", d.Reason)
	}
	for name, src := range map[string]revocation.CRLSource{
		"CRL 1, expired, put back": revocation.StaticCRLs{id: oldExpired},
		"object deleted":           revocation.StaticCRLs{},
		"forged CRL":               revocation.StaticCRLs{id: forged},
	} {
		if d := decide(src, late); d.Allow || d.Reason != revocation.Revoked || d.Revocation == nil {
			t.Errorf("%s: allow=%v %s (%s); want revoked, as CRL 2 said", name, d.Allow, d.Reason, d.Detail)
		}
		if d := decide(src, good); !d.Allow || len(d.SoftFailed) == 0 {
			t.Errorf("%s: the good client: %v %s, want a soft-failed allow", name, d.Allow, d.Reason)
		}
	}
}
