package authorizer_test

import (
	"os"
	"testing"

	"github.com/apimtls/apimtls/authorizer"
)

// FuzzParseEvent: any bytes give an event or an error, never a panic, and
// an event always names the resource its policy will cover.
func FuzzParseEvent(f *testing.F) {
	for _, p := range []string{"testdata/rest-request.json", "testdata/http-v2-request.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":"1.0","type":"REQUEST","methodArn":"arn:x","requestContext":{"identity":{"clientCert":{"clientCertPem":"x"}}}}`))
	f.Add([]byte(`{"type":"TOKEN"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := authorizer.ParseEvent(data)
		if err != nil {
			return
		}
		if ev.Resource == "" {
			t.Fatalf("event without a resource: %+v", ev)
		}
	})
}
