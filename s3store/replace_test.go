package s3store_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/s3store"
)

// racingAPI writes the object itself just before the Push's next PutObject,
// times times: another push that came in between the read and the write.
type racingAPI struct {
	s3store.API
	times atomic.Int32
	data  string
}

func (r *racingAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if n := r.times.Add(-1); n >= 0 {
		// Each write its own content, so its own ETag.
		data := r.data + strings.Repeat(" ", int(n))
		if _, err := r.API.PutObject(ctx, &s3.PutObjectInput{Bucket: in.Bucket, Key: in.Key, Body: strings.NewReader(data)}); err != nil {
			return nil, err
		}
	}
	return r.API.PutObject(ctx, in, opts...)
}

// Replaces sees what an upload would replace and can refuse it; the upload
// then replaces only that version (If-Match on MinIO's real conditional
// writes): a write in between is read and judged again, not overwritten.
func TestPushReplacesOnlyWhatItChecked(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	bucket := newBucket(t)
	if _, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	refuse := errors.New("refused")
	guard := func(cur []byte) error {
		seen = append(seen, string(cur))
		if strings.Contains(string(cur), "newer") {
			return refuse
		}
		return nil
	}
	push := func(st *s3store.Client, data string) (*s3store.PushResult, error) {
		return st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "crl/x.crl", Data: []byte(data), Replaces: guard})
	}
	versions := func() int {
		v, err := st.Versions(ctx, bucket, "crl/x.crl")
		if err != nil {
			t.Fatal(err)
		}
		return len(v)
	}
	if res, err := push(st, "one"); err != nil || !res.Uploaded || len(seen) != 1 || seen[0] != "" {
		t.Fatalf("first push: %+v, %v; guard saw %q", res, err, seen)
	}
	if res, err := push(st, "two"); err != nil || !res.Uploaded || seen[1] != "one" {
		t.Fatalf("second push: %+v, %v; guard saw %q", res, err, seen)
	}
	// Unchanged content asks nothing and uploads nothing.
	if res, err := push(st, "two"); err != nil || res.Uploaded || len(seen) != 2 {
		t.Fatalf("same content: %+v, %v; guard saw %q", res, err, seen)
	}
	// A refusal uploads nothing.
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("crl/x.crl"), Body: strings.NewReader("newer")})
	n := versions()
	if _, err := push(st, "three"); !errors.Is(err, refuse) || versions() != n {
		t.Fatalf("refused push: %v, %d versions (want %d)", err, versions(), n)
	}

	// Another writer puts "newer" between our read of "two" and our write:
	// the conditional write fails, the guard sees "newer" and refuses.
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("crl/x.crl"), Body: strings.NewReader("two")})
	racing := &racingAPI{API: c, data: "newer"}
	racing.times.Store(1)
	seen = nil
	if _, err := push(&s3store.Client{API: racing, Region: st.Region}, "three"); !errors.Is(err, refuse) {
		t.Fatalf("push raced by a newer write: %v, want the guard's refusal", err)
	}
	if len(seen) != 2 || seen[0] != "two" || strings.TrimSpace(seen[1]) != "newer" {
		t.Fatalf("guard saw %q, want two then newer", seen)
	}
	if data, _, err := st.Pull(ctx, bucket, "crl/x.crl", ""); err != nil || strings.TrimSpace(string(data)) != "newer" {
		t.Fatalf("the object is %q, %v: the racing write was overwritten", data, err)
	}
	// A writer that always wins: Push gives up, saying why.
	racing = &racingAPI{API: c, data: "also fine"}
	racing.times.Store(10)
	guard = func([]byte) error { return nil }
	if _, err := push(&s3store.Client{API: racing, Region: st.Region}, "four"); !errors.Is(err, s3store.ErrChanged) || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("push that always loses: %v, want ErrChanged", err)
	}
}

// A delete marker hides the published version but does not unpublish it:
// Replaces is shown the version under the marker, so an older CRL pushed
// after someone deleted the object is judged against what authorizers may
// have read, not against nothing.
func TestPushJudgesAgainstTheVersionUnderADeleteMarker(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	bucket := newBucket(t)
	if _, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	guard := func(cur []byte) error {
		seen = append(seen, string(cur))
		if string(cur) == "published" {
			return errors.New("refused: older than published")
		}
		return nil
	}
	push := func(data string) error {
		_, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "crl/x.crl", Data: []byte(data), Replaces: guard})
		return err
	}
	if err := push("published"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("crl/x.crl")}); err != nil {
		t.Fatal(err)
	}
	if err := push("older"); err == nil {
		t.Fatalf("push after a delete marker was not judged against the hidden version; guard saw %q", seen)
	}
	if len(seen) != 2 || seen[1] != "published" {
		t.Fatalf("guard saw %q, want the version under the delete marker", seen)
	}
	// A key that never held a version still shows nil.
	seen = nil
	if _, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "crl/y.crl", Data: []byte("first"), Replaces: guard}); err != nil || len(seen) != 1 || seen[0] != "" {
		t.Fatalf("first push of a new key: %v, guard saw %q", err, seen)
	}
}
