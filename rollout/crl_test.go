package rollout

import (
	"errors"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
)

// crl push and authorizer deploy accept the same CRL prefixes: one the
// authorizer would read from is one crl push can write to.
func TestCheckCRLPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{"": true, "crl/": true, "team/crl/": true, "/crl/": false, "crl": false, "/": false} {
		if err := CheckCRLPrefix(prefix); (err == nil) != ok {
			t.Errorf("CheckCRLPrefix(%q) = %v, want ok %v", prefix, err, ok)
		}
		in := &AuthorizerInput{APIID: "h1", Bucket: "example-bucket", Key: "truststore.pem", Prefix: prefix, Arch: "arm64", Region: "eu-west-1"}
		if err := checkAuthorizerInput(in); (err == nil) != ok {
			t.Errorf("authorizer deploy with prefix %q: %v, want ok %v", prefix, err, ok)
		}
	}
}

// crl push replaces a published CRL only with a newer one of the same CA
// and scope; what is not the CA's CRL (damaged, signed by another key,
// another scope) may be replaced, which is the repair.
func TestCheckNotOlder(t *testing.T) {
	ca := revtest.NewCA(t, "issuing", nil)
	crl := func(n int64) []byte { return ca.CRL(t, revtest.CRLOptions{Number: n}) }
	two := crl(2)
	stolen := ca.Client(t, "stolen", revtest.ClientOptions{})
	obj := CRLObject{CA: "issuing", DER: two, Cert: ca.Cert}
	for _, tc := range []struct {
		name    string
		current []byte
		refused string
	}{
		{"nothing published", nil, ""},
		{"the same bytes", two, ""},
		{"number 1", crl(1), ""},
		{"number 1 listing a serial number 2 drops", ca.CRL(t, revtest.CRLOptions{Number: 1}, stolen), "holds CRL number 1, which lists " + stolen.SerialNumber.Text(16) + "; this PKI directory's CRL number 2 does not: refusing to un-revoke"},
		{"number 3", crl(3), "holds CRL number 3, and this PKI directory's is number 2: refusing to replace a newer CRL with an older one"},
		{"another number 2", crl(2), "holds another CRL number 2 than this PKI directory's"},
		{"damaged", []byte("garbage"), ""},
		{"number 9 signed by another key", revtest.NewCA(t, "issuing", nil).CRL(t, revtest.CRLOptions{Number: 9}), ""},
		{"a CA-only CRL numbered 9", ca.CRL(t, revtest.CRLOptions{Number: 9, IDP: &revtest.IDP{OnlyCA: true, Critical: true}}), ""},
	} {
		err := checkNotOlder(obj, "s3://b/crl/k.crl", tc.current)
		var older *OlderCRLError
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (!errors.As(err, &older) || !strings.Contains(err.Error(), "s3://b/crl/k.crl "+tc.refused)):
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.refused)
		}
	}
}
