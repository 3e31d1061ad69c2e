package authorizer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// The whole chain as a user runs it: apimtls's own PKI, revoke, ca crl,
// the CRLs and the truststore published the way crl push publishes them,
// and the authorizer reading them back from S3. It fails if the object
// names crl push writes and the ones the authorizer reads ever drift apart.
func TestPublishedByApimtls(t *testing.T) {
	w := newWorld(t)
	s, err := pki.OpenStore(filepath.Join(t.TempDir(), "pki"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateCA(pki.CAParams{Name: "root", CommonName: "Published Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(pki.CAParams{Name: "issuing", Parent: "root", CommonName: "Published Issuing", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	cert := func(name string) *pki.Issued {
		is, err := s.IssueClient(pki.ClientParams{Name: name, CA: "issuing", KeyType: x509cert.ECDSAP256})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	good, stolen := cert("good"), cert("stolen")
	if _, err := s.Revoke(pki.KindClient, "stolen", pki.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	var objects []rollout.CRLObject
	for _, name := range []string{"root", "issuing"} {
		crl, err := s.SignCRL(name, nil, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := s.Lookup(pki.KindRoot, name)
		c, _ := s.Certificate(rec)
		objects = append(objects, rollout.CRLObject{CA: name, KeyID: revocation.KeyID(c), DER: crl.DER})
	}
	ts, err := s.BuildTruststore(nil, nil, x509cert.ValidateOptions{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	store := &s3store.Client{API: w.api}
	bucket := w.bucket + "-pub"
	if _, err := store.CreateBucket(context.Background(), bucket, s3store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rollout.PushCRLs(context.Background(), store, bucket, "crl/", objects); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Push(context.Background(), s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: ts.PEM}); err != nil {
		t.Fatal(err)
	}
	w.bucket = bucket
	h := w.handler(w.api, nil)
	h.Now = time.Now
	for _, p := range payloads {
		if allow, ctx := w.decide(h, p, good.Cert); !allow {
			t.Fatalf("%s: a good client of apimtls's PKI was denied: %v", p, ctx)
		}
		w.expectDeny(h, p, stolen.Cert, revocation.Revoked)
	}
}
