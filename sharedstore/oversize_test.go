package sharedstore_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

// One co-tenant's oversized or damaged objects under records/ stop
// nobody (issue 21: a 300 MB record stopped client list, ca crl and store
// check for the whole team): each is skipped and reported as damaged, and
// the CRL fails closed for the certificates behind them instead of
// refusing to be signed.
//
//   - kept: revoked (keyCompromise) and on CRL 1, then its record
//     replaced by 2 MiB of junk: still on the CRL, keyCompromise;
//   - victim: active, its record replaced by 2 MiB of junk: its
//     certificate is the CA's, so it is listed revoked (unspecified);
//   - a junk record with a serial no certificate in the store has: left
//     off, with a warning.
func TestSharedPKIOversizedRecords(t *testing.T) {
	st, client, _ := newStore(t)
	ctx := context.Background()
	a := openShared(t, st, t.TempDir())
	sharedCAs(t, a)
	issue := func(name string) *pki.Record {
		t.Helper()
		is, err := a.IssueClient(pki.ClientParams{Name: name, CA: "issuing", KeyType: x509cert.ECDSAP256})
		if err != nil {
			t.Fatal(err)
		}
		return is.Record
	}
	kept, victim := issue("kept"), issue("victim")
	issue("fine")
	if _, err := a.Revoke(pki.KindClient, "kept", pki.Reason("keyCompromise")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignCRL("issuing", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	junk := bytes.Repeat([]byte("x"), 2<<20+1)
	const stranger = "0123456789abcdef0123456789abcdef"
	for _, serial := range []string{kept.Serial, victim.Serial, stranger} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(st.Prefix + "records/" + serial + ".json"), Body: bytes.NewReader(junk)}); err != nil {
			t.Fatal(err)
		}
	}

	var warned []string
	a.Warn = func(m string) { warned = append(warned, m) }
	recs, err := a.List(nil)
	if err != nil {
		t.Fatalf("client list with oversized records: %v", err)
	}
	if got := names(recs); got != "root issuing fine" {
		t.Fatalf("listed %q", got)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "bytes or more") {
		t.Fatalf("warnings %q", warned)
	}

	rep, err := st.Check(ctx)
	if err != nil {
		t.Fatalf("store check with oversized records: %v", err)
	}
	damaged := map[string]bool{}
	for _, f := range rep.Findings {
		if f.Kind == "damaged-record" && strings.Contains(f.Reason, "bytes or more") {
			damaged[f.Serial] = true
		}
	}
	if !damaged[kept.Serial] || !damaged[victim.Serial] || !damaged[stranger] || len(damaged) != 3 {
		t.Fatalf("store check found %+v", rep.Findings)
	}

	warned = nil
	crl, err := a.SignCRL("issuing", nil, time.Hour)
	if err != nil {
		t.Fatalf("ca crl with oversized records: %v", err)
	}
	list, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range list.RevokedCertificateEntries {
		reasons[x509cert.SerialHexInt(e.SerialNumber)] = e.ReasonCode
	}
	if len(reasons) != 2 || reasons[kept.Serial] != pki.ReasonKeyCompromise.Code() {
		t.Fatalf("CRL %d lists %v; want %s (keyCompromise, from CRL 1) and %s (unspecified)", crl.Number, reasons, kept.Serial, victim.Serial)
	}
	if code, ok := reasons[victim.Serial]; !ok || code != pki.ReasonUnspecified.Code() {
		t.Fatalf("CRL lists %v; the victim %s must be revoked (unspecified)", reasons, victim.Serial)
	}
	said := strings.Join(warned, "\n")
	for _, want := range []string{"kept on the CRL", "failing closed", "left off the CRL"} {
		if !strings.Contains(said, want) {
			t.Errorf("ca crl did not say %q: %s", want, said)
		}
	}
}

// hugeAPI answers the GET of one key with an object of a size it only
// pretends to have, counting what the reader takes: a read of it must stop
// at the bound, whatever Content-Length says.
type hugeAPI struct {
	sharedstore.API
	key       string
	length    *int64 // the Content-Length it sends; nil for none
	delivered atomic.Int64
}

func (h *hugeAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if aws.ToString(in.Key) != h.key {
		return h.API.GetObject(ctx, in, o...)
	}
	const size = 300 << 20
	body := &countingReader{r: io.LimitReader(zeros{}, size), n: &h.delivered}
	return &s3.GetObjectOutput{Body: io.NopCloser(body), ContentLength: h.length, ETag: aws.String(`"huge"`)}, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A 300 MB record is never read: refused on its Content-Length, or, when
// that header is absent, after the bound; listed as damaged either way.
func TestListReadsARecordBounded(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := context.Background()
	ca, caPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, ca, caPEM); err != nil {
		t.Fatal(err)
	}
	rec, certPEM := newCert(pki.KindClient, "big", ca.Serial)
	if _, err := st.Create(ctx, rec, certPEM); err != nil {
		t.Fatal(err)
	}
	for _, length := range []*int64{aws.Int64(300 << 20), nil} {
		api := &hugeAPI{API: st.API, key: st.Prefix + "records/" + rec.Serial + ".json", length: length}
		ls := &sharedstore.Store{API: api, Bucket: st.Bucket, Prefix: st.Prefix, NoSnapshot: true}
		recs, err := ls.ListVerified(ctx)
		var de *pki.DamagedRecordsError
		if !errors.As(err, &de) || len(de.Records) != 1 || de.Records[0].Serial != rec.Serial || !strings.Contains(de.Records[0].Reason, "bytes or more") {
			t.Fatalf("Content-Length %v: %v", length, err)
		}
		if len(recs) != 1 || recs[0].Serial != ca.Serial {
			t.Fatalf("Content-Length %v: listed %v", length, names(recs))
		}
		if got := api.delivered.Load(); got > 1<<20 {
			t.Fatalf("Content-Length %v: read %d bytes of a 300 MB record", length, got)
		}
	}
}
