package rollout

import "testing"

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
