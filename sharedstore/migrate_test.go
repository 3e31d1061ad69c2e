package sharedstore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

// localPKI makes a PKI directory with a root, an issuing CA, n clients
// (every tenth revoked) and two CRLs of the issuing CA.
func localPKI(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	s, err := pki.OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateCA(pki.CAParams{Name: "root", CommonName: "Test Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(pki.CAParams{Name: "issuing", CommonName: "Test Issuing", Parent: "root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("client-%03d", i)
		if _, err := s.IssueClient(pki.ClientParams{Name: name, CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := s.Revoke(pki.KindClient, name, "keyCompromise"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 2 {
		if _, err := s.SignCRL("issuing", nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMigrateRecordByRecord(t *testing.T) {
	ctx := context.Background()
	dir := localPKI(t, 300)
	st, c, _ := newStore(t)
	res, err := sharedstore.Migrate(ctx, dir, st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 302 || res.Moved != 302 || res.Skipped != 0 {
		t.Fatalf("first migration: %d records, %d moved, %d skipped; want 302 moved", res.Records, res.Moved, res.Skipped)
	}
	keys := 0
	for _, nm := range res.NotMoved {
		if strings.HasSuffix(nm.Path, "key.pem") {
			keys++
		}
	}
	if keys != 300 || len(res.CAKeys) != 2 {
		t.Fatalf("not moved: %d client keys and %d CA keys listed, want 300 and 2", keys, len(res.CAKeys))
	}
	if len(res.CRLNumbers) != 1 || res.CRLNumbers[0].Number != 2 {
		t.Fatalf("CRL numbers carried: %+v, want issuing at 2", res.CRLNumbers)
	}

	// Record by record: the same JSON, the same certificate.
	local, err := pki.OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := local.List(nil)
	local.Close()
	if err != nil {
		t.Fatal(err)
	}
	shared, err := st.List(ctx)
	if err != nil || len(shared) != len(recs) {
		t.Fatalf("shared List = %d records, %v; want %d", len(shared), err, len(recs))
	}
	for i, r := range recs {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(shared[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("record %d differs:\nlocal  %s\nshared %s", i, a, b)
		}
		got, err := st.Certificate(ctx, r.Serial)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(pki.Layout{Dir: dir}.RecordDir(r) + "/cert.pem")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("certificate of %s differs from %s/cert.pem (%v)", r.Name, r.Dir, err)
		}
	}
	if n, err := st.CRLNumber(ctx, recs[1].Serial); err != nil || n != 2 {
		t.Fatalf("issuing CA's CRL number in the shared store: %d, %v", n, err)
	}
	// Not one private key anywhere in the bucket.
	var objects int
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(out.Body)
			out.Body.Close()
			if strings.Contains(aws.ToString(o.Key), "/snapshot/") {
				// The listing snapshot the migration's check wrote: records
				// only, gzip. Looked into, not counted.
				zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				buf.Reset()
				buf.ReadFrom(zr)
			} else {
				objects++
			}
			if bytes.Contains(buf.Bytes(), []byte("PRIVATE KEY")) {
				t.Fatalf("%s holds a private key", aws.ToString(o.Key))
			}
		}
	}
	if want := 302*3 + 1; objects != want {
		t.Fatalf("%d objects in the bucket, want %d (name, certificate, record each, one CRL number)", objects, want)
	}

	// Idempotent: a re-run skips everything.
	again, err := sharedstore.Migrate(ctx, dir, st)
	if err != nil || again.Moved != 0 || again.Skipped != 302 {
		t.Fatalf("re-run: %+v, %v; want all 302 skipped", again, err)
	}
	// A record changed locally since is not overwritten, and said so.
	s, err := pki.OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Revoke(pki.KindClient, "client-001", "superseded")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	third, err := sharedstore.Migrate(ctx, dir, st)
	if !errors.Is(err, sharedstore.ErrMigrateConflicts) || len(third.Conflicts) != 1 || third.Conflicts[0].Name != "client-001" || third.Skipped != 301 {
		t.Fatalf("after a local change: %+v, %v; want one conflict (client-001), 301 skipped", third, err)
	}
	if r, _ := st.Get(ctx, pki.KindClient, "client-001"); r.Status != pki.StatusActive {
		t.Fatalf("the shared record of client-001 was overwritten: %s", r.Status)
	}
}
