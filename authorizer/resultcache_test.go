package authorizer_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/fakeapigw"
)

// withArn is an event of the payload for another method of the stage.
func withArn(t *testing.T, file string, cert *x509.Certificate, arn string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event(t, file, cert), &ev); err != nil {
		t.Fatal(err)
	}
	if _, ok := ev["routeArn"]; ok {
		ev["routeArn"] = arn
	} else {
		ev["methodArn"] = arn
	}
	out, _ := json.Marshal(ev)
	return out
}

// TestCachedPolicyCoversTheStage calls two methods with one certificate
// through API Gateway's result cache: with caching on, the second method
// is decided by the policy cached for the first, so that policy must
// cover it, and a revoked certificate's cached deny must cover it too.
func TestCachedPolicyCoversTheStage(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		file, env string
		first     string
	}{
		{"rest-request.json", "", "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request"},
		{"http-v2-request.json", "policy", "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			second := tc.first[:len(tc.first)-len("GET/request")] + "POST/pets/7"
			otherStage := tc.first[:len(tc.first)-len("test/GET/request")] + "prod/GET/request"
			for _, ttl := range []int{0, 300} {
				env := map[string]string{}
				if tc.env != "" {
					env[authorizer.EnvHTTPResponse] = tc.env
				}
				if ttl > 0 {
					env[authorizer.EnvResultCacheTTL] = "300"
				}
				h := w.handler(w.api, env)
				clock := fakeapigw.NewTestClock(time.Now())
				cache := &fakeapigw.ResultCache{TTL: time.Duration(ttl) * time.Second, Clock: clock, Invoke: func(ev []byte) ([]byte, error) {
					resp, err := h.Handle(context.Background(), ev)
					if err != nil {
						return nil, err
					}
					return json.Marshal(resp)
				}}
				for _, c := range []struct {
					cert     *x509.Certificate
					identity string
					want     bool
				}{{w.good, "good", true}, {w.revoked, "revoked", false}} {
					for _, arn := range []string{tc.first, second} {
						ok, err := cache.Authorize(c.identity, arn, withArn(t, tc.file, c.cert, arn))
						if err != nil {
							t.Fatal(err)
						}
						if ok != c.want {
							t.Fatalf("TTL %d, %s certificate, %s: allowed %v, want %v", ttl, c.identity, arn, ok, c.want)
						}
					}
				}
				if ttl > 0 && cache.Invocations != 2 {
					t.Fatalf("TTL %d: %d invocations, want one per identity", ttl, cache.Invocations)
				}
				// The policy never reaches beyond the API stage it was asked for.
				if ok, _ := cache.Authorize("good", otherStage, withArn(t, tc.file, w.good, otherStage)); ok && ttl > 0 {
					t.Fatalf("TTL %d: the cached policy of stage test allows stage prod", ttl)
				}
			}
		})
	}
}
