package sharedstore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
)

// A cold listing on a machine with no cache reads the snapshot an earlier
// listing wrote instead of every record; records written since are read
// one by one; and a snapshot whose entries are not the stored bytes
// changes nothing in the listing.
func TestListSnapshot(t *testing.T) {
	ctx := context.Background()
	st, client, _ := newStore(t)
	const n = 100
	var serials []string
	for i := range n {
		rec, pemData := newCert(pki.KindClient, fmt.Sprintf("snap-%03d", i), "")
		if _, err := st.Create(ctx, rec, pemData); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, rec.Serial)
	}
	list := func() ([]*pki.Record, int64) {
		t.Helper()
		api := &countingAPI{API: client}
		ls := *st
		ls.API = api
		recs, err := ls.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return recs, api.recordGets.Load()
	}
	if _, gets := list(); gets != n {
		t.Fatalf("first cold listing made %d record GETs, want %d", gets, n)
	}
	if _, gets := list(); gets != 0 {
		t.Fatalf("second cold listing made %d record GETs, want 0 (the snapshot)", gets)
	}

	// Two records change: only they are read again.
	if _, _, err := st.Revoke(ctx, serials[3], "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Revoke(ctx, serials[7], "superseded"); err != nil {
		t.Fatal(err)
	}
	recs, gets := list()
	if gets != 2 {
		t.Fatalf("after two revocations a cold listing made %d record GETs, want 2", gets)
	}
	revoked := 0
	for _, r := range recs {
		if r.Status == pki.StatusRevoked {
			revoked++
		}
	}
	if revoked != 2 {
		t.Fatalf("%d revoked in the listing, want 2", revoked)
	}

	// A forged snapshot: every entry claims "active". The listing still
	// says what the records say.
	forged := map[string]string{}
	for _, r := range recs {
		f := *r
		f.Status, f.RevokedAt, f.RevocationReason = pki.StatusActive, nil, ""
		raw, _ := json.Marshal(&f)
		forged[r.Serial] = string(raw)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	json.NewEncoder(zw).Encode(map[string]any{"records": forged})
	zw.Close()
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(st.Prefix + "snapshot/records.json.gz"), Body: bytes.NewReader(buf.Bytes())}); err != nil {
		t.Fatal(err)
	}
	recs, gets = list()
	revoked = 0
	for _, r := range recs {
		if r.Status == pki.StatusRevoked {
			revoked++
		}
	}
	if revoked != 2 || len(recs) != n {
		t.Fatalf("with a forged snapshot: %d records, %d revoked (want %d, 2)", len(recs), revoked, n)
	}
	if gets != 2 {
		t.Fatalf("with a forged snapshot: %d record GETs, want the 2 entries that differ", gets)
	}
}

// CacheFile is read at the first listing only, and a listing keeps what it
// read in it for the next command.
func TestCacheFileLoadedByList(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	rec, pemData := newCert(pki.KindClient, "cached", "")
	if _, err := st.Create(ctx, rec, pemData); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cache.json")
	first := *st
	first.CacheFile = path
	if first.Cache != nil {
		t.Fatal("a cache before any listing")
	}
	if _, err := first.List(ctx); err != nil || first.Cache == nil {
		t.Fatalf("List did not load the cache: %v", err)
	}
	if err := first.Cache.Save(path); err != nil {
		t.Fatal(err)
	}
	second := *st
	second.CacheFile = path
	api := &countingAPI{API: st.API}
	second.API = api
	if recs, err := second.List(ctx); err != nil || len(recs) != 1 || api.recordGets.Load() != 0 {
		t.Fatalf("listing from a saved cache: %d records, %d record GETs, %v", len(recs), api.recordGets.Load(), err)
	}
}
