package s3store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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

// newBucket names a fresh bucket per test.
func newBucket(t *testing.T) string {
	return miniotest.Bucket("apimtls-test")
}

func newStore(t *testing.T) (*s3store.Client, *s3.Client) {
	srv := miniotest.Shared(t)
	c := client(t, srv.Endpoint, miniotest.SecretKey)
	return &s3store.Client{API: c, Region: miniotest.Region}, c
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
	wrong := &s3store.Client{API: client(t, srv.Endpoint, "not-the-secret"), Region: miniotest.Region}
	down := &s3store.Client{API: client(t, "http://127.0.0.1:1", miniotest.SecretKey), Region: miniotest.Region}
	for _, tc := range []struct {
		name  string
		store *s3store.Client
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

// kmsBucket is the real MinIO client with one thing MinIO cannot do here:
// a bucket whose default encryption is SSE-KMS. Any attempt to replace it
// fails the test.
type kmsBucket struct {
	*s3.Client
	t *testing.T
}

func (k kmsBucket) GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error) {
	return &s3.GetBucketEncryptionOutput{ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
		ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String("arn:aws:kms:eu-west-1:111122223333:key/k")}}}}}, nil
}

func (k kmsBucket) PutBucketEncryption(context.Context, *s3.PutBucketEncryptionInput, ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error) {
	k.t.Fatal("PutBucketEncryption on a bucket that has SSE-KMS: a downgrade")
	return nil, nil
}

// --create-bucket on a bucket the caller owns reads its settings and adds
// only what is missing: its policy keeps its statements, SSE-KMS stays.
func TestCreateBucketKeepsAnExistingBucket(t *testing.T) {
	ctx := context.Background()
	_, c := newStore(t)
	bucket := newBucket(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	own := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"TeamReads","Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/team/*"]}]}`, bucket)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(own)}); err != nil {
		t.Fatal(err)
	}
	st := &s3store.Client{API: kmsBucket{c, t}, Region: miniotest.Region}
	res, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{RequireTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Notes, "\n")
	if res.Created || !strings.Contains(notes, "exists") || !strings.Contains(notes, "kept the bucket's default encryption aws:kms") || !strings.Contains(notes, "its other statements are kept") {
		t.Fatalf("created %v, notes:\n%s", res.Created, notes)
	}
	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if p := aws.ToString(pol.Policy); !strings.Contains(p, "TeamReads") || !strings.Contains(p, "aws:SecureTransport") {
		t.Fatalf("policy after: %s", p)
	}
	v, _ := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning %s", v.Status)
	}
	// Run again: nothing left to add.
	again, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{RequireTLS: true})
	if err != nil || !strings.Contains(strings.Join(again.Notes, "\n"), "kept the bucket policy: it already denies requests without TLS") {
		t.Fatalf("second run: %+v %v", again, err)
	}
}

// The read risks of a real bucket: a policy testing the caller's network.
func TestReadRisks(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)
	bucket := newBucket(t)
	if _, err := st.CreateBucket(ctx, bucket, s3store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := st.Push(ctx, s3store.PushInput{Bucket: bucket, Key: "ts.pem", Data: []byte(pemA)})
	if err != nil {
		t.Fatal(err)
	}
	if risks, err := st.ReadRisks(ctx, bucket, "ts.pem", res.VersionID); err != nil || len(risks) != 0 {
		t.Fatalf("no policy: risks %q err %v", risks, err)
	}
	pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"OfficeOnly","Effect":"Deny","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"],"Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.0/8"]}}}]}`, bucket)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(pol)}); err != nil {
		t.Fatal(err)
	}
	risks, err := st.ReadRisks(ctx, bucket, "ts.pem", res.VersionID)
	if err != nil || len(risks) != 1 || !strings.Contains(risks[0], "OfficeOnly") || !strings.Contains(risks[0], "aws:ViaAWSService") {
		t.Fatalf("risks %q err %v", risks, err)
	}
}
