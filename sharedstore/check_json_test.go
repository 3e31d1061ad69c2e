package sharedstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
)

// docs/json.md: a missing-cert finding has no "since" (nothing was
// written that could say when), rather than Go's zero time.
func TestCheckMissingCertHasNoSince(t *testing.T) {
	st, c, _ := newStore(t)
	ctx := context.Background()
	ca, caPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, ca, caPEM); err != nil {
		t.Fatal(err)
	}
	rec, certPEM := newCert(pki.KindClient, "lost", ca.Serial)
	if _, err := st.Create(ctx, rec, certPEM); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(st.Prefix + "certs/" + rec.Serial + ".pem")}); err != nil {
		t.Fatal(err)
	}
	rep, err := st.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range out.Findings {
		if f["kind"] != "missing-cert" {
			continue
		}
		found = true
		if since, ok := f["since"]; ok {
			t.Errorf("missing-cert finding has since %v; docs/json.md says it is absent: %s", since, data)
		}
	}
	if !found {
		t.Fatalf("no missing-cert finding in %s", data)
	}
}
