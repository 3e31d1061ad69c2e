package s3store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/s3store"
)

// freshBucket is S3 in the minutes after versioning was first turned on:
// the first writes come back without a version ID, and a new version
// answers 404 for a few reads (PutBucketVersioning's 15-minute note).
type freshBucket struct {
	s3store.API
	unversionedPuts, missingReads int
	puts, reads                   int
}

func (b *freshBucket) GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	return &s3.GetBucketVersioningOutput{Status: types.BucketVersioningStatusEnabled}, nil
}

func (b *freshBucket) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b.puts++
	if b.puts <= b.unversionedPuts {
		return &s3.PutObjectOutput{VersionId: aws.String("null")}, nil
	}
	return &s3.PutObjectOutput{VersionId: aws.String(fmt.Sprintf("v%d", b.puts))}, nil
}

func (b *freshBucket) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if in.VersionId == nil { // the newest, before the upload: none yet
		return nil, &types.NotFound{}
	}
	b.reads++
	if b.reads <= b.missingReads {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{VersionId: in.VersionId}, nil
}

// Push pins only a version it has read back, waiting (and saying why)
// while a freshly versioned bucket settles, within the settle time.
func TestPushWaitsForTheVersionToSettle(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                 string
		unversioned, missing int
		settle               time.Duration
		wantVersion, wantErr string
	}{
		{"at once", 0, 0, 0, "v1", ""},
		{"no version ID at first", 1, 0, 0, "v2", ""},
		{"404 at first", 0, 2, 0, "v1", ""},
		{"never settles", 100, 0, time.Minute, "", "gave up after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &freshBucket{unversionedPuts: tc.unversioned, missingReads: tc.missing}
			var slept time.Duration
			st := &s3store.Client{API: api, Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}
			var whys []string
			res, err := st.Push(ctx, s3store.PushInput{Bucket: "fresh-bucket", Key: "truststore.pem", Data: []byte(pemA), Settle: tc.settle,
				OnWait: func(why string, d time.Duration) { whys = append(whys, why) }})
			if tc.wantErr != "" {
				if !errors.Is(err, s3store.ErrNotSettled) || !strings.Contains(err.Error(), tc.wantErr) || slept > tc.settle {
					t.Fatalf("err %v after %s", err, slept)
				}
				return
			}
			if err != nil || res.VersionID != tc.wantVersion {
				t.Fatalf("res %+v err %v", res, err)
			}
			if waits := tc.unversioned + tc.missing; len(whys) != waits || (waits > 0) != (res.Settled != "") {
				t.Fatalf("waits %q, settled %q", whys, res.Settled)
			}
		})
	}
}

// Through a plain-http endpoint the TLS-only policy is not added: S3 (and
// moto) would then deny every later request of this client.
func TestCreateBucketPlainHTTPNoTLSPolicy(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	st.Endpoint = "http://127.0.0.1:9000"
	bucket := newBucket(t)
	res, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{RequireTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)}); awserr.Code(err) != "NoSuchBucketPolicy" {
		t.Fatalf("a policy was set through plain http: %v", err)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "against AWS it is added") {
		t.Fatalf("notes %q", res.Notes)
	}
}
