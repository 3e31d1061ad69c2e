package s3store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/s3store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.StopShared()
	os.Exit(code)
}

// client is a real SDK client for the MinIO server.
func client(t *testing.T, endpoint, secret string) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		Region:           miniotest.Region,
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(miniotest.AccessKey, secret, ""),
		RetryMaxAttempts: 1,
	})
}

var bucketSeq atomic.Int64

// newBucket names a fresh bucket per test.
func newBucket(t *testing.T) string {
	return fmt.Sprintf("apimtls-test-%d-%d", os.Getpid()%100000, bucketSeq.Add(1))
}

func newStore(t *testing.T) (*s3store.Store, *s3.Client) {
	srv := miniotest.Shared(t)
	c := client(t, srv.Endpoint, miniotest.SecretKey)
	return &s3store.Store{API: c, Region: miniotest.Region}, c
}

const pemA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
const pemB = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"

func TestCreatePushIdempotentNewVersionListPull(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	bucket := newBucket(t)
	created, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{RequireTLS: true})
	if err != nil || !created.Created {
		t.Fatalf("CreateBucket = %+v, %v", created, err)
	}
	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "aws:SecureTransport") {
		t.Fatalf("TLS-only policy: %v, %v", aws.ToString(pol.Policy), err)
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning after create: %v, %v", v.Status, err)
	}
	// Creating again is success: the bucket is ours.
	if again, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{}); err != nil || again.Created {
		t.Fatalf("CreateBucket of an owned bucket = %+v, %v; want not created, no error", again, err)
	}

	first, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA)})
	if err != nil || !first.Uploaded || first.VersionID == "" || first.URI != "s3://"+bucket+"/truststore.pem" {
		t.Fatalf("first push %+v, %v", first, err)
	}
	again, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA)})
	if err != nil || again.Uploaded || again.VersionID != first.VersionID {
		t.Fatalf("same content pushed again: %+v, %v; want no upload and version %s", again, err, first.VersionID)
	}
	forced, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA), Force: true})
	if err != nil || !forced.Uploaded || forced.VersionID == first.VersionID {
		t.Fatalf("forced push %+v, %v", forced, err)
	}
	second, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemB)})
	if err != nil || !second.Uploaded || second.VersionID == forced.VersionID {
		t.Fatalf("changed content: %+v, %v", second, err)
	}

	versions, err := st.Versions(ctx, bucket, "truststore.pem")
	if err != nil || len(versions) != 3 {
		t.Fatalf("Versions = %d, %v; want 3", len(versions), err)
	}
	if !versions[0].IsLatest || versions[0].VersionID != second.VersionID || versions[0].Size != int64(len(pemB)) {
		t.Fatalf("newest version %+v, want %s latest", versions[0], second.VersionID)
	}

	data, id, err := st.Pull(ctx, bucket, "truststore.pem", first.VersionID)
	if err != nil || string(data) != pemA || id != first.VersionID {
		t.Fatalf("Pull(first) = %q, %s, %v", data, id, err)
	}
	data, id, err = st.Pull(ctx, bucket, "truststore.pem", "")
	if err != nil || string(data) != pemB || id != second.VersionID {
		t.Fatalf("Pull(latest) = %q, %s, %v", data, id, err)
	}
	if _, _, err := st.Pull(ctx, bucket, "truststore.pem", "00000000-0000-0000-0000-000000000000"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Pull of a missing version: %v, want ErrNotFound", err)
	}
	// The checksum went along: S3 stored the SHA-256 we sent.
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("truststore.pem"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumSHA256) == "" {
		t.Fatalf("no SHA-256 checksum stored: %v", err)
	}
}

func TestVersioningOffAndSuspended(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	bucket := newBucket(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA)})
	if !errors.Is(err, s3store.ErrVersioningOff) {
		t.Fatalf("unversioned bucket: %v, want ErrVersioningOff", err)
	}
	assertNoObject(t, c, bucket)

	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA)})
	if !errors.Is(err, s3store.ErrVersionSuspended) {
		t.Fatalf("suspended bucket: %v, want ErrVersionSuspended", err)
	}
	assertNoObject(t, c, bucket)

	res, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "truststore.pem", Data: []byte(pemA), EnableVersioning: true})
	if err != nil || res.VersionID == "" || res.VersionID == "null" {
		t.Fatalf("push with EnableVersioning: %+v, %v", res, err)
	}
}

func assertNoObject(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 0 {
		t.Fatalf("%d object versions in %s, want none", len(out.Versions), bucket)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Shared(t)
	st, _ := newStore(t)
	wrong := &s3store.Store{API: client(t, srv.Endpoint, "not-the-secret"), Region: miniotest.Region}
	down := &s3store.Store{API: client(t, "http://127.0.0.1:1", miniotest.SecretKey), Region: miniotest.Region}
	for _, tc := range []struct {
		name  string
		store *s3store.Store
		in    s3store.PushInput
		want  error
		text  string
	}{
		{"missing bucket", st, s3store.PushInput{Bucket: newBucket(t), Key: "truststore.pem"}, s3store.ErrNoSuchBucket, "does not exist"},
		{"wrong credentials", wrong, s3store.PushInput{Bucket: newBucket(t), Key: "truststore.pem"}, s3store.ErrAccessDenied, "credentials were refused"},
		{"server down", down, s3store.PushInput{Bucket: newBucket(t), Key: "truststore.pem"}, s3store.ErrEndpointDown, "cannot reach"},
		{"invalid bucket name", st, s3store.PushInput{Bucket: "Bad_Bucket", Key: "truststore.pem"}, s3store.ErrInvalidBucket, "lowercase"},
		{"IP-like bucket", st, s3store.PushInput{Bucket: "192.168.1.1", Key: "truststore.pem"}, s3store.ErrInvalidBucket, "IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Data = []byte(pemA)
			_, err := tc.store.Push(ctx, tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}
