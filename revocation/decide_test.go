package revocation_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

func mustParse(t testing.TB, der []byte) *revocation.CRL {
	t.Helper()
	c, err := revocation.ParseCRL(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type failingSource struct{ err error }

func (f failingSource) CRL(context.Context, *revocation.CA, *x509.Certificate) (*revocation.CRL, error) {
	return nil, f.err
}

func TestDecide(t *testing.T) {
	root := revtest.NewCA(t, "root", nil)
	issuing := revtest.NewCA(t, "issuing", root)
	revokedIssuing := revtest.NewCA(t, "revoked issuing", root)
	foreign := revtest.NewCA(t, "issuing", nil) // same name, other key
	good := issuing.Client(t, "good", revtest.ClientOptions{})
	revoked := issuing.Client(t, "revoked", revtest.ClientOptions{})
	underRevokedCA := revokedIssuing.Client(t, "under revoked CA", revtest.ClientOptions{})
	stranger := foreign.Client(t, "stranger", revtest.ClientOptions{})
	expired := issuing.Client(t, "expired", revtest.ClientOptions{NotAfter: revtest.Now.Add(-time.Minute)})

	ts, err := revocation.NewTruststore([]*x509.Certificate{root.Cert, issuing.Cert, revokedIssuing.Cert})
	if err != nil {
		t.Fatal(err)
	}
	rootCRL := mustParse(t, root.CRL(t, revtest.CRLOptions{}, revokedIssuing.Cert))
	issuingCRL := mustParse(t, issuing.CRL(t, revtest.CRLOptions{}, revoked))
	crls := revocation.StaticCRLs{
		ts.CAs[0].KeyID: rootCRL,
		ts.CAs[1].KeyID: issuingCRL,
		ts.CAs[2].KeyID: mustParse(t, revokedIssuing.CRL(t, revtest.CRLOptions{})),
	}
	without := func(id string) revocation.StaticCRLs {
		out := revocation.StaticCRLs{}
		for k, v := range crls {
			if k != id {
				out[k] = v
			}
		}
		return out
	}
	with := func(id string, der []byte) revocation.StaticCRLs {
		out := without(id)
		out[id] = mustParse(t, der)
		return out
	}
	issuingID := ts.CAs[1].KeyID
	cases := []struct {
		name     string
		cert     *x509.Certificate
		crls     revocation.CRLSource
		softFail bool
		want     revocation.Reason
	}{
		{"good", good, crls, false, revocation.OK},
		{"revoked", revoked, crls, false, revocation.Revoked},
		{"revoked under soft-fail", revoked, crls, true, revocation.Revoked},
		{"issuing CA revoked by root", underRevokedCA, crls, false, revocation.Revoked},
		{"no certificate", nil, crls, false, revocation.NoClientCert},
		{"unknown issuer with the same name", stranger, crls, false, revocation.UnknownIssuer},
		{"expired certificate", expired, crls, false, revocation.CertExpired},
		{"CRL missing", good, without(issuingID), false, revocation.CRLMissing},
		{"root CRL missing", good, without(ts.CAs[0].KeyID), false, revocation.CRLMissing},
		{"CRL missing, soft-fail", good, without(issuingID), true, revocation.OK},
		{"CRL expired", good, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Second)})), false, revocation.CRLExpired},
		{"CRL from the future", good, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(time.Hour), NextUpdate: revtest.Now.Add(48 * time.Hour)})), false, revocation.CRLExpired},
		{"CRL expired, soft-fail", good, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Second)})), true, revocation.OK},
		// An out-of-date CRL that lists the serial still proves it revoked.
		{"revoked in an expired CRL, soft-fail", revoked, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Second)}, revoked)), true, revocation.Revoked},
		{"revoked in a CRL from the future, soft-fail", revoked, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(time.Hour), NextUpdate: revtest.Now.Add(48 * time.Hour)}, revoked)), true, revocation.Revoked},
		{"revoked in an expired CRL", revoked, with(issuingID, issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(-48 * time.Hour), NextUpdate: revtest.Now.Add(-time.Second)}, revoked)), false, revocation.Revoked},
		{"CRL signed by a foreign CA of the same name", good, with(issuingID, foreign.CRL(t, revtest.CRLOptions{})), false, revocation.CRLBadSignature},
		{"root's CRL in the issuing CA's place", good, with(issuingID, root.CRL(t, revtest.CRLOptions{})), false, revocation.CRLBadSignature},
		{"CRL source invalid", good, failingSource{&revocation.InvalidCRLError{Where: "x", Err: errors.New("garbage")}}, false, revocation.CRLInvalid},
		{"CRL source down", good, failingSource{errors.New("connection refused")}, false, revocation.RevocationFailed},
		{"CRL source down, soft-fail", good, failingSource{errors.New("connection refused")}, true, revocation.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &revocation.Checker{Truststore: ts, CRLs: tc.crls, Options: revocation.Options{SoftFail: tc.softFail}}
			d := c.Decide(context.Background(), tc.cert, revtest.Now)
			if d.Reason != tc.want || d.Allow != (tc.want == revocation.OK) {
				t.Fatalf("Decide = %v %s (%s), want %s", d.Allow, d.Reason, d.Detail, tc.want)
			}
			if d.Allow && tc.softFail && tc.name != "good" && len(d.SoftFailed) == 0 {
				t.Errorf("soft-failed allow records no problem")
			}
			if !d.Allow && d.Detail == "" {
				t.Errorf("deny without detail")
			}
			if tc.cert == underRevokedCA && !strings.Contains(d.Detail, "the CA above the certificate") {
				t.Errorf("detail %q does not say the serial is a CA's", d.Detail)
			}
		})
	}
}

func TestDecideRevocationEntry(t *testing.T) {
	ca := revtest.NewCA(t, "root", nil)
	c := ca.Client(t, "c", revtest.ClientOptions{})
	ts, _ := revocation.NewTruststore([]*x509.Certificate{ca.Cert})
	chk := &revocation.Checker{Truststore: ts, CRLs: revocation.StaticCRLs{ts.CAs[0].KeyID: mustParse(t, ca.CRL(t, revtest.CRLOptions{}, c))}}
	d := chk.Decide(context.Background(), c, revtest.Now)
	if d.Revocation == nil || d.Revocation.Reason != 1 || d.Revocation.Serial.Cmp(c.SerialNumber) != 0 || !d.Revocation.Time.Equal(revtest.Now.Add(-time.Hour)) {
		t.Fatalf("revocation entry %+v", d.Revocation)
	}
	ctx := revocation.Describe(c)
	if ctx.Subject != "CN=c" || ctx.Issuer != ca.Cert.Subject.String() || len(ctx.FingerprintSHA256) != 64 || ctx.SerialNumber != c.SerialNumber.Text(16) {
		t.Fatalf("context %+v", ctx)
	}
}

func TestEmptyTruststore(t *testing.T) {
	if _, err := revocation.NewTruststore(nil); !errors.Is(err, revocation.ErrEmptyTruststore) {
		t.Fatalf("NewTruststore(nil) = %v", err)
	}
	if _, err := revocation.ParseTruststore([]byte("garbage")); err == nil {
		t.Fatal("garbage truststore accepted")
	}
	var chk revocation.Checker
	ca := revtest.NewCA(t, "root", nil)
	if d := chk.Decide(context.Background(), ca.Client(t, "c", revtest.ClientOptions{}), revtest.Now); d.Allow || d.Reason != revocation.EmptyTruststore {
		t.Fatalf("no truststore: %+v", d)
	}
}
