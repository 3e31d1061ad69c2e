package sharedstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

// A revocation that lands on a client while a renewal of it is between
// its first write and its commit point, at either end of that window,
// leaves no certificate of that client active. (Found by a review: the
// renewed certificate stayed active, reachable by no name, on no CRL.)
func TestRevokeDuringRenew(t *testing.T) {
	for _, at := range []string{"superseded", "cert", "record"} {
		t.Run(at, func(t *testing.T) {
			st, c, _ := newStore(t)
			ctx := context.Background()
			old, oldPEM := newCert(pki.KindClient, "dev-4", "")
			if _, err := st.Create(ctx, old, oldPEM); err != nil {
				t.Fatal(err)
			}
			other := &sharedstore.Store{API: c, Bucket: st.Bucket, Prefix: st.Prefix}
			st.Hook = func(step string) {
				if step != at {
					return
				}
				// What a revoke by name resolves to at this moment.
				r, err := other.Get(ctx, pki.KindClient, "dev-4")
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := other.Revoke(ctx, r.Serial, pki.Reason("keyCompromise")); err != nil {
					t.Fatal(err)
				}
			}
			rec, recPEM := newCert(pki.KindClient, "dev-4", "")
			rec.Renews = old.Serial
			if err := st.Renew(ctx, old, rec, recPEM, time.Now()); err != nil {
				t.Fatal(err)
			}
			st.Hook = nil
			// The new certificate is revoked; the old one revoked too, or
			// superseded when the revocation already saw the renewal.
			for _, serial := range []string{old.Serial, rec.Serial} {
				r, err := other.GetSerial(ctx, serial)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status == pki.StatusActive || (serial == rec.Serial && r.Status != pki.StatusRevoked) {
					t.Fatalf("revoked during renewal (at %s), yet %s is %s", at, serial, r.Status)
				}
			}
			if r, _ := other.Get(ctx, pki.KindClient, "dev-4"); r.Serial != rec.Serial {
				t.Fatalf("the name shows %s, want the renewal %s", r.Serial, rec.Serial)
			}
		})
	}
}

// The other order: a revocation by name that read the old certificate
// before a renewal started, and writes after that renewal committed,
// revokes the renewal too.
func TestRevokeByNameFollowsARenewal(t *testing.T) {
	st, client, _ := newStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, st, dirA)
	sharedCAs(t, a)
	if _, err := a.IssueClient(pki.ClientParams{Name: "dev-5", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	old, _ := a.Lookup(pki.KindClient, "dev-5")
	revoker := &sharedstore.Store{API: client, Bucket: st.Bucket, Prefix: st.Prefix}
	renewed := false
	revoker.Hook = func(step string) {
		if step == "update:"+st.Prefix+"records/"+old.Serial+".json" && !renewed {
			renewed = true
			if res, err := a.RenewClients([]*pki.Record{old}, pki.RenewParams{}); err != nil || res.Issued != 1 {
				t.Fatalf("renew: %+v, %v", res, err)
			}
		}
	}
	b := openShared(t, revoker, dirB)
	var warned []string
	b.Warn = func(m string) { warned = append(warned, m) }
	res, err := b.Revoke(pki.KindClient, "dev-5", pki.Reason("keyCompromise"))
	if err != nil {
		t.Fatal(err)
	}
	now, _ := a.Lookup(pki.KindClient, "dev-5")
	if now.Serial == old.Serial || now.Status != pki.StatusRevoked || res.Record.Serial != now.Serial {
		t.Fatalf("after a revoke by name raced by a renewal: the name shows %s %s, revoke reported %s", now.Serial, now.Status, res.Record.Serial)
	}
	if len(warned) != 1 {
		t.Fatalf("warnings %q, want one saying the renewal was revoked too", warned)
	}
}

// A renewal that stalls past its lease (a laptop asleep) does not commit:
// by then another renewal may have taken its mark over, and two current
// certificates for one name would follow. (Second review.)
func TestRenewLease(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := context.Background()
	old, oldPEM := newCert(pki.KindClient, "dev-6", "")
	if _, err := st.Create(ctx, old, oldPEM); err != nil {
		t.Fatal(err)
	}
	st.StaleAfter = 400 * time.Millisecond
	st.Hook = func(step string) {
		if step == "cert" {
			time.Sleep(300 * time.Millisecond) // past half of StaleAfter
		}
	}
	rec, recPEM := newCert(pki.KindClient, "dev-6", "")
	rec.Renews = old.Serial
	if err := st.Renew(ctx, old, rec, recPEM, time.Now()); err == nil || !strings.Contains(err.Error(), "longer than its lease") {
		t.Fatalf("a stalled renewal: %v", err)
	}
	if r, _ := st.GetSerial(ctx, rec.Serial); r != nil {
		t.Fatal("a renewal past its lease wrote its record")
	}
}
