package sharedstore_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
)

// The server under test must really refuse: If-None-Match on an existing
// key and If-Match on a stale ETag are 412, or nothing here proves
// anything.
func TestServerHonoursConditionalWrites(t *testing.T) {
	ctx := context.Background()
	_, c, _ := newStore(t)
	b := newBucket(t, c)
	put := func(body string, ifNone bool, ifMatch string) (*s3.PutObjectOutput, error) {
		in := &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("k"), Body: strings.NewReader(body)}
		if ifNone {
			in.IfNoneMatch = aws.String("*")
		}
		if ifMatch != "" {
			in.IfMatch = aws.String(ifMatch)
		}
		return c.PutObject(ctx, in)
	}
	first, err := put("one", true, "")
	if err != nil {
		t.Fatal(err)
	}
	is412 := func(err error) bool {
		var ae smithy.APIError
		return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
	}
	if _, err := put("two", true, ""); !is412(err) {
		t.Fatalf("If-None-Match on an existing key: %v, want PreconditionFailed", err)
	}
	second, err := put("two", false, aws.ToString(first.ETag))
	if err != nil {
		t.Fatalf("If-Match on the current ETag: %v", err)
	}
	if _, err := put("three", false, aws.ToString(first.ETag)); !is412(err) {
		t.Fatalf("If-Match on a stale ETag: %v, want PreconditionFailed", err)
	}
	if aws.ToString(second.ETag) == aws.ToString(first.ETag) {
		t.Fatal("ETag did not change with the content")
	}
}

func TestCreateGetListRevoke(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	ca, caPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, ca, caPEM); err != nil {
		t.Fatal(err)
	}
	rec, certPEM := newCert(pki.KindClient, "alice", ca.Serial)
	res, err := st.Create(ctx, rec, certPEM)
	if err != nil || res.Existed {
		t.Fatalf("Create = %+v, %v", res, err)
	}
	// A re-run with the same record is found, not duplicated.
	if res, err := st.Create(ctx, rec, certPEM); err != nil || !res.Existed {
		t.Fatalf("Create again = %+v, %v; want Existed", res, err)
	}
	other, otherPEM := newCert(pki.KindClient, "alice", ca.Serial)
	var ex *pki.ExistsError
	if _, err := st.Create(ctx, other, otherPEM); !errors.As(err, &ex) {
		t.Fatalf("a second alice: %v, want ExistsError", err)
	}
	// The same name as a CA is another namespace.
	caAlice, caAlicePEM := newCert(pki.KindIntermediate, "alice", ca.Serial)
	if _, err := st.Create(ctx, caAlice, caAlicePEM); err != nil {
		t.Fatal(err)
	}
	// Same serial, other name, other certificate: refused, name released.
	dup := *other
	dup.Serial, dup.Name = rec.Serial, "bob"
	if _, err := st.Create(ctx, &dup, otherPEM); err == nil {
		t.Fatal("a record whose certificate does not match it was accepted")
	}
	bob, bobPEM := newCert(pki.KindClient, "bob", ca.Serial)
	if _, err := st.Create(ctx, bob, bobPEM); err != nil {
		t.Fatalf("bob after a refused bob: %v", err)
	}
	// No private key, ever.
	keyPEM := append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})...)
	carol, _ := newCert(pki.KindClient, "carol", ca.Serial)
	carol.Serial, carol.SHA256 = rec.Serial, rec.SHA256
	if _, err := st.Create(ctx, carol, keyPEM); !errors.Is(err, sharedstore.ErrPrivateKey) {
		t.Fatalf("certificate with a key: %v, want ErrPrivateKey", err)
	}

	got, err := st.Get(ctx, pki.KindClient, "alice")
	if err != nil || got.Serial != rec.Serial {
		t.Fatalf("Get alice = %v, %v", got, err)
	}
	var nf *pki.NotFoundError
	if _, err := st.Get(ctx, pki.KindClient, "nobody"); !errors.As(err, &nf) {
		t.Fatalf("Get nobody: %v", err)
	}
	cert, err := st.Certificate(ctx, rec.Serial)
	if err != nil || !bytes.Equal(cert, certPEM) {
		t.Fatalf("Certificate: %v", err)
	}
	r, changed, err := st.Revoke(ctx, rec.Serial, "keyCompromise")
	if err != nil || !changed || r.Status != pki.StatusRevoked || r.RevokedAt == nil {
		t.Fatalf("Revoke = %+v, %v, %v", r, changed, err)
	}
	if _, changed, err := st.Revoke(ctx, rec.Serial, "superseded"); err != nil || changed {
		t.Fatalf("Revoke twice changed=%v, %v", changed, err)
	}
	if _, _, err := st.Revoke(ctx, ca.Serial, "superseded"); !errors.Is(err, pki.ErrRootRevoke) {
		t.Fatalf("revoking the root: %v", err)
	}
	list, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, string(r.Kind)+":"+r.Name+":"+r.Status)
	}
	if got, want := strings.Join(names, " "), "root:root:active intermediate:alice:active client:alice:revoked client:bob:active"; got != want {
		t.Fatalf("List = %s\nwant    %s", got, want)
	}
}

// A writer that lands between our read and our write: the update is
// retried and both changes count; a writer that always lands there
// exhausts the retries and the caller is told to retry.
func TestConflictForcedAndRetried(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	ca, caPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, ca, caPEM); err != nil {
		t.Fatal(err)
	}
	other := &sharedstore.Store{API: st.API, Bucket: st.Bucket, Prefix: st.Prefix}
	interfere := 1
	st.Hook = func(step string) {
		if strings.HasPrefix(step, "update:") && interfere > 0 {
			interfere--
			if _, err := other.NextCRLNumber(ctx, ca.Serial); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := st.NextCRLNumber(ctx, ca.Serial); err != nil { // creates at 1; other creates first
		t.Fatal(err)
	}
	if n, _ := st.CRLNumber(ctx, ca.Serial); n != 2 {
		t.Fatalf("after a forced conflict the number is %d, want 2 (both bumps kept)", n)
	}
	interfere = 1
	if n, err := st.NextCRLNumber(ctx, ca.Serial); err != nil || n != 4 {
		t.Fatalf("NextCRLNumber with one interference = %d, %v; want 4", n, err)
	}
	interfere, st.Retries = 100, 3
	var ce *sharedstore.ConflictError
	if _, err := st.NextCRLNumber(ctx, ca.Serial); !errors.As(err, &ce) || ce.Attempts != 3 || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("always interfered: %v, want ConflictError after 3 attempts", err)
	}
	if n, _ := st.CRLNumber(ctx, ca.Serial); n != 7 {
		t.Fatalf("number %d after 3 lost attempts, want 7 (the interferer's three kept, ours none)", n)
	}

	// Revocation: someone else revokes between our read and our write.
	rec, certPEM := newCert(pki.KindClient, "dave", ca.Serial)
	if _, err := st.Create(ctx, rec, certPEM); err != nil {
		t.Fatal(err)
	}
	interfere, st.Retries = 1, 0
	st.Hook = func(step string) {
		if strings.HasPrefix(step, "update:") && interfere > 0 {
			interfere--
			if _, _, err := other.Revoke(ctx, rec.Serial, "cessationOfOperation"); err != nil {
				t.Error(err)
			}
		}
	}
	r, changed, err := st.Revoke(ctx, rec.Serial, "superseded")
	if err != nil || changed || r.RevocationReason != "cessationOfOperation" {
		t.Fatalf("Revoke that lost the race = %+v, changed=%v, %v; want the winner's reason kept", r, changed, err)
	}
	// keyCompromise is the one reason that replaces an earlier, milder
	// one (a relying party treats it differently), keeping the earlier time.
	first := *r.RevokedAt
	interfere = 0
	r, changed, err = st.Revoke(ctx, rec.Serial, "keyCompromise")
	if err != nil || !changed || r.RevocationReason != "keyCompromise" || !r.RevokedAt.Equal(first) {
		t.Fatalf("keyCompromise after cessationOfOperation = %+v, changed=%v, %v; want keyCompromise at %v", r, changed, err, first)
	}
}

// countingAPI counts GETs, and among them those of records.
type countingAPI struct {
	sharedstore.API
	gets, recordGets atomic.Int64
}

func (c *countingAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.gets.Add(1)
	if strings.Contains(aws.ToString(in.Key), "/records/") {
		c.recordGets.Add(1)
	}
	return c.API.GetObject(ctx, in, opts...)
}

// A cached listing GETs only what changed since, and sees every change:
// a revocation by someone else, a new record.
func TestListCache(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	var serials []string
	for i := range 20 {
		rec, certPEM := newCert(pki.KindClient, fmt.Sprintf("c%02d", i), "")
		if _, err := st.Create(ctx, rec, certPEM); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, rec.Serial)
	}
	api := &countingAPI{API: st.API}
	path := filepath.Join(t.TempDir(), "cache.json")
	lister := &sharedstore.Store{API: api, Bucket: st.Bucket, Prefix: st.Prefix, Cache: sharedstore.LoadCache(path)}
	if recs, err := lister.List(ctx); err != nil || len(recs) != 20 || api.recordGets.Load() != 20 {
		t.Fatalf("first List: %d records, %d GETs, %v", len(recs), api.recordGets.Load(), err)
	}
	if err := lister.Cache.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Revoke(ctx, serials[3], "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	rec, certPEM := newCert(pki.KindClient, "c20", "")
	if _, err := st.Create(ctx, rec, certPEM); err != nil {
		t.Fatal(err)
	}
	api.recordGets.Store(0)
	lister.Cache = sharedstore.LoadCache(path)
	recs, err := lister.List(ctx)
	if err != nil || len(recs) != 21 || api.recordGets.Load() != 2 {
		t.Fatalf("cached List: %d records, %d GETs, %v; want 21 records and 2 GETs (the revoked, the new)", len(recs), api.recordGets.Load(), err)
	}
	if recs[3].Serial != serials[3] || recs[3].Status != pki.StatusRevoked {
		t.Fatalf("cached List missed the revocation: %+v", recs[3])
	}
}

// A writer slower than its lease stops before its commit point and gives
// the name back: it never commits over a claim someone may have taken.
func TestLeaseExpiredBeforeCommit(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	st.StaleAfter = 200 * time.Millisecond
	st.Hook = func(step string) {
		if step == "cert" {
			time.Sleep(150 * time.Millisecond)
		}
	}
	rec, certPEM := newCert(pki.KindClient, "slow", "")
	if _, err := st.Create(ctx, rec, certPEM); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("a create slower than its lease: %v, want the lease error", err)
	}
	var nf *pki.NotFoundError
	if _, err := st.Get(ctx, pki.KindClient, "slow"); !errors.As(err, &nf) {
		t.Fatalf("after the lease expired: %v, want the name free (released)", err)
	}
	st.Hook = nil
	again, againPEM := newCert(pki.KindClient, "slow", "")
	if res, err := st.Create(ctx, again, againPEM); err != nil || res.TookOver != "" {
		t.Fatalf("issuing the released name: %+v, %v", res, err)
	}
}
