// Package s3store keeps truststore versions in a versioned S3 bucket, the
// way API Gateway reads them: by URI and object version, once, when a
// domain is updated (docs/apigateway-rules.md#s3-and-versions). It talks to S3 through API, a
// small interface over the SDK client, so the same code runs against AWS
// and any S3-compatible server. It never deletes an object version: old
// versions are the rollback path.
package s3store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/apimtls/apimtls/internal/awserr"
)

// API lists the S3 calls apimtls makes.
type API interface {
	CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	PutBucketVersioning(context.Context, *s3.PutBucketVersioningInput, ...func(*s3.Options)) (*s3.PutBucketVersioningOutput, error)
	PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	PutBucketEncryption(context.Context, *s3.PutBucketEncryptionInput, ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error)
	PutBucketPolicy(context.Context, *s3.PutBucketPolicyInput, ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// DefaultKey is the object key of a truststore unless told otherwise.
const DefaultKey = "truststore.pem"

// metaSHA256 is user metadata holding the SHA-256 of the content, so that a
// push can tell an unchanged truststore without downloading it.
const metaSHA256 = "apimtls-sha256"

// maxObjectBytes bounds what Pull reads: a truststore is at most 1 MB.
const maxObjectBytes = 16 << 20

// Errors a caller acts on.
var (
	ErrVersioningOff    = errkind.New(errkind.External, "bucket versioning is not enabled")
	ErrNoSuchBucket     = errkind.New(errkind.NotFound, "bucket does not exist")
	ErrBucketTaken      = errkind.New(errkind.Conflict, "bucket name is owned by another account")
	ErrAccessDenied     = errkind.New(errkind.External, "access denied")
	ErrInvalidBucket    = errkind.New(errkind.Invalid, "invalid bucket name")
	ErrNotFound         = errkind.New(errkind.NotFound, "object or version not found")
	ErrEndpointDown     = errkind.New(errkind.External, "cannot reach the S3 endpoint")
	ErrVersionSuspended = errkind.New(errkind.External, "bucket versioning is suspended")
	// ErrNotSettled is an upload whose version did not read back within
	// the settle time: versioning turned on moments ago had not reached
	// every S3 node (PutBucketVersioning: "wait 15 minutes").
	ErrNotSettled = errkind.New(errkind.External, "the uploaded version does not read back")
)

// Client is the truststore side of S3: an S3 client and its Region, for the
// versioned buckets truststores and CRLs live in.
type Client struct {
	API    API
	Region string
	// Endpoint is the custom S3 endpoint, "" for AWS's own. A plain
	// http:// one gets no TLS-only bucket policy (CreateBucket).
	Endpoint string
	// Sleep is how Push waits for a version to settle (nil: real time).
	Sleep func(ctx context.Context, d time.Duration) error
}

// PlainHTTP reports whether the store is reached without TLS.
func (s *Client) PlainHTTP() bool { return strings.HasPrefix(strings.ToLower(s.Endpoint), "http://") }

// URI formats s3://bucket/key as API Gateway's truststoreUri expects.
func URI(bucket, key string) string { return "s3://" + bucket + "/" + key }

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// CheckBucketName applies S3's naming rules for general purpose buckets,
// so a typo fails here with the rule instead of as an opaque 400.
func CheckBucketName(name string) error {
	switch {
	case !bucketName.MatchString(name):
		return fmt.Errorf("%w %q: use 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", ErrInvalidBucket, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: two adjacent dots", ErrInvalidBucket, name)
	case net.ParseIP(name) != nil:
		return fmt.Errorf("%w %q: a bucket name cannot look like an IP address", ErrInvalidBucket, name)
	case strings.HasPrefix(name, "xn--") || strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3"):
		return fmt.Errorf("%w %q: reserved prefix or suffix", ErrInvalidBucket, name)
	}
	return nil
}

// CheckKey refuses object keys API Gateway's 2,048-character URI cannot
// hold.
func CheckKey(bucket, key string) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid object key %q: give a key such as truststore.pem, without a leading slash", key)
	}
	if n := len(URI(bucket, key)); n > 2048 {
		return fmt.Errorf("invalid object key: the URI would be %d characters, more than API Gateway's 2,048", n)
	}
	return nil
}

// SHA256Hex is the content hash apimtls records and compares.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// PushInput describes an upload.
type PushInput struct {
	Bucket, Key string
	Data        []byte
	// Force uploads even when the newest version has the same content.
	Force bool
	// EnableVersioning turns versioning on when it is off or suspended,
	// instead of refusing.
	EnableVersioning bool
	// ContentType defaults to a PEM file.
	ContentType string
	// Settle bounds the wait for the uploaded version to read back
	// (DefaultSettle when 0); OnWait hears each wait and why.
	Settle time.Duration
	OnWait func(why string, d time.Duration)
	// Replaces, when set, is shown the newest version's content before an
	// upload replaces it (nil when there is none; when the newest is a
	// delete marker, the newest version under it), and refuses the upload
	// by returning an error. The upload is then conditional on that
	// version still being the newest (If-Match, or If-None-Match when
	// there was none), so a concurrent push cannot slip in between: Push
	// reads and asks again, a few times, then gives up (ErrChanged).
	Replaces func(current []byte) error
	// CheckOnly runs every check (versioning, Replaces) and uploads
	// nothing: a push of several objects checks them all first, so that a
	// refusal leaves none changed.
	CheckOnly bool
}

// maxReplacedBytes bounds the newest version read for Replaces: a CRL can
// be 128 MB (revocation.MaxCRLBytes).
const maxReplacedBytes = 128 << 20

// ErrChanged is a conditional upload that kept losing to other writers.
var ErrChanged = errkind.New(errkind.Conflict, "the object changed while it was being replaced")

// DefaultSettle is AWS's advice after versioning is first turned on: "wait
// for 15 minutes ... before issuing write operations" (PutBucketVersioning).
const DefaultSettle = 15 * time.Minute

// PushResult says where the truststore is. Uploaded is false when the
// newest version already held the same content.
type PushResult struct {
	URI       string `json:"uri"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	SHA256    string `json:"sha256"`
	Uploaded  bool   `json:"uploaded"`
	// Settled says how long the upload waited to read back, and why;
	// empty when it read back at once.
	Settled string `json:"settled,omitempty"`
}

// Push uploads a truststore with a SHA-256 checksum to a bucket whose
// versioning is enabled, unless its newest version already has the same
// content.
func (s *Client) Push(ctx context.Context, in PushInput) (*PushResult, error) {
	if err := CheckBucketName(in.Bucket); err != nil {
		return nil, err
	}
	if err := CheckKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := s.requireVersioning(ctx, in.Bucket, in.EnableVersioning); err != nil {
		return nil, err
	}
	sum := SHA256Hex(in.Data)
	res := &PushResult{URI: URI(in.Bucket, in.Key), Bucket: in.Bucket, Key: in.Key, SHA256: sum}
	for attempt := 1; ; attempt++ {
		var cond *putCondition
		if !in.Force || in.Replaces != nil {
			latest, err := s.latest(ctx, in.Bucket, in.Key)
			if err != nil {
				return nil, err
			}
			if !in.Force && latest != nil && latest.SHA256 == sum {
				res.VersionID = latest.VersionID
				return res, nil
			}
			if in.Replaces != nil {
				if cond, err = s.checkReplace(ctx, in, latest); err != nil {
					return nil, err
				}
			}
		}
		if in.CheckOnly {
			return res, nil
		}
		err := s.upload(ctx, in, res, cond)
		if errors.Is(err, errPrecondition) && attempt < 3 {
			continue
		}
		if errors.Is(err, errPrecondition) {
			return nil, fmt.Errorf("upload %s: %w (another push wrote it %d times since it was read): run it again", res.URI, ErrChanged, attempt)
		}
		if err != nil {
			return nil, err
		}
		res.Uploaded = true
		return res, nil
	}
}

// putCondition makes a PutObject conditional: on the object still having
// etag, or, with etag "", on there being none.
type putCondition struct{ etag string }

// errPrecondition is a conditional put that lost to another writer.
var errPrecondition = errors.New("precondition failed")

// checkReplace shows in.Replaces the newest version and returns the
// condition the upload must meet to replace just that one.
func (s *Client) checkReplace(ctx context.Context, in PushInput, latest *Version) (*putCondition, error) {
	if latest == nil {
		hidden, err := s.underDeleteMarker(ctx, in.Bucket, in.Key)
		if err != nil {
			return nil, err
		}
		return &putCondition{}, in.Replaces(hidden)
	}
	data, _, etag, err := s.pull(ctx, in.Bucket, in.Key, latest.VersionID, maxReplacedBytes)
	if err != nil {
		return nil, err
	}
	if err := in.Replaces(data); err != nil {
		return nil, err
	}
	return &putCondition{etag: etag}, nil
}

// upload puts the object and pins only a version it has read back: a
// bucket whose versioning was turned on moments ago can take a write as
// an unversioned object (no version ID, or "null") or answer 404 for the
// new version for a while (PutBucketVersioning). It then waits, says so,
// and tries again, within in.Settle.
func (s *Client) upload(ctx context.Context, in PushInput, res *PushResult, cond *putCondition) error {
	settle := cmp.Or(in.Settle, DefaultSettle)
	var waited time.Duration
	put := true
	for n := 0; ; n++ {
		var why string
		if put {
			raw := sha256.Sum256(in.Data)
			put := &s3.PutObjectInput{
				Bucket:         aws.String(in.Bucket),
				Key:            aws.String(in.Key),
				Body:           bytes.NewReader(in.Data),
				ContentLength:  aws.Int64(int64(len(in.Data))),
				ContentType:    aws.String(cmp.Or(in.ContentType, "application/x-pem-file")),
				ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw[:])),
				Metadata:       map[string]string{metaSHA256: res.SHA256},
			}
			switch {
			case cond == nil:
			case cond.etag == "":
				put.IfNoneMatch = aws.String("*")
			default:
				put.IfMatch = aws.String(cond.etag)
			}
			out, err := s.API.PutObject(ctx, put)
			if err != nil {
				// 412: another write came first; 409: S3 saw two
				// conditional writes at once. Either way, read again.
				if code := awserr.Code(err); cond != nil && (code == "PreconditionFailed" || code == "ConditionalRequestConflict") {
					return errPrecondition
				}
				return classify(err, "upload "+res.URI)
			}
			res.VersionID = aws.ToString(out.VersionId)
			if cond != nil {
				// A put again after an unversioned write replaces that
				// write, ours, and nothing newer.
				cond = &putCondition{etag: aws.ToString(out.ETag)}
			}
		}
		if res.VersionID == "" || res.VersionID == "null" {
			why, put = "S3 returned no version ID for the upload: versioning turned on moments ago has not reached every S3 node (AWS advises waiting up to 15 minutes)", true
		} else {
			_, err := s.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(in.Bucket), Key: aws.String(in.Key), VersionId: aws.String(res.VersionID)})
			if err == nil {
				if waited > 0 {
					res.Settled = fmt.Sprintf("waited %s for version %s to read back", waited, res.VersionID)
				}
				return nil
			}
			if err = classify(err, "read back "+res.URI+" version "+res.VersionID); !errors.Is(err, ErrNotFound) {
				return err
			}
			why, put = "version "+res.VersionID+" of "+res.URI+" does not read back yet (a bucket whose versioning was just turned on answers 404 for a while)", false
		}
		d := min(5*time.Second<<n, time.Minute)
		if waited+d > settle {
			return fmt.Errorf("upload %s: %s; gave up after %s: %w", res.URI, why, waited, ErrNotSettled)
		}
		if in.OnWait != nil {
			in.OnWait(why, d)
		}
		if err := s.sleep(ctx, d); err != nil {
			return err
		}
		waited += d
	}
}

func (s *Client) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// requireVersioning checks the bucket exists and keeps versions.
func (s *Client) requireVersioning(ctx context.Context, bucket string, enable bool) error {
	// GetBucketVersioning, not HeadBucket: a HEAD error has no body, so a
	// missing bucket and refused credentials would both be a bare 403/404.
	v, err := s.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return classify(err, "read versioning of bucket "+bucket)
	}
	if v.Status == types.BucketVersioningStatusEnabled {
		return nil
	}
	if enable {
		return s.enableVersioning(ctx, bucket)
	}
	if v.Status == types.BucketVersioningStatusSuspended {
		return fmt.Errorf("%w on bucket %s: API Gateway pins a truststore by version ID", ErrVersionSuspended, bucket)
	}
	return fmt.Errorf("%w on bucket %s: API Gateway pins a truststore by version ID", ErrVersioningOff, bucket)
}

func (s *Client) enableVersioning(ctx context.Context, bucket string) error {
	_, err := s.API.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	return classify(err, "enable versioning on bucket "+bucket)
}

// CreateOptions describe a new truststore bucket.
type CreateOptions struct {
	// RequireTLS adds a bucket policy that denies requests without TLS.
	RequireTLS bool
}

// Version is one stored version of a truststore object.
type Version struct {
	VersionID    string    `json:"version_id"`
	LastModified time.Time `json:"last_modified"`
	Size         int64     `json:"size"`
	IsLatest     bool      `json:"is_latest"`
	SHA256       string    `json:"sha256,omitempty"`
	DeleteMarker bool      `json:"delete_marker,omitempty"`
}

// Versions lists every version of bucket/key, newest first.
func (s *Client) Versions(ctx context.Context, bucket, key string) ([]Version, error) {
	if err := CheckBucketName(bucket); err != nil {
		return nil, err
	}
	var out []Version
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)}
	for {
		page, err := s.API.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, classify(err, "list versions of "+URI(bucket, key))
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != key {
				continue
			}
			out = append(out, Version{VersionID: aws.ToString(v.VersionId), LastModified: aws.ToTime(v.LastModified).UTC(), Size: aws.ToInt64(v.Size), IsLatest: aws.ToBool(v.IsLatest)})
		}
		for _, d := range page.DeleteMarkers {
			if aws.ToString(d.Key) == key {
				out = append(out, Version{VersionID: aws.ToString(d.VersionId), LastModified: aws.ToTime(d.LastModified).UTC(), IsLatest: aws.ToBool(d.IsLatest), DeleteMarker: true})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastModified.After(out[j].LastModified) })
	return out, nil
}

// underDeleteMarker is the content of the newest version a delete marker
// hides, or nil when the object never had one. A delete does not undo a
// publication: an authorizer may have read that version, so Replaces
// judges the next upload against it (an older CRL pushed after a delete
// would otherwise be a rollback nobody refused).
func (s *Client) underDeleteMarker(ctx context.Context, bucket, key string) ([]byte, error) {
	versions, err := s.Versions(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if v.DeleteMarker {
			continue
		}
		data, _, _, err := s.pull(ctx, bucket, key, v.VersionID, maxReplacedBytes)
		return data, err
	}
	return nil, nil
}

// latest returns the newest version with its recorded content hash, or nil.
func (s *Client) latest(ctx context.Context, bucket, key string) (*Version, error) {
	head, err := s.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if errors.Is(classify(err, ""), ErrNotFound) {
			return nil, nil
		}
		return nil, classify(err, "read "+URI(bucket, key))
	}
	v := &Version{VersionID: aws.ToString(head.VersionId), Size: aws.ToInt64(head.ContentLength), IsLatest: true, SHA256: head.Metadata[metaSHA256]}
	if v.SHA256 == "" {
		// Uploaded by something else: hash the content itself.
		data, _, err := s.Pull(ctx, bucket, key, v.VersionID)
		if err != nil {
			return nil, err
		}
		v.SHA256 = SHA256Hex(data)
	}
	return v, nil
}

// Pull fetches one version (the newest when version is empty) and returns
// its content and version ID.
func (s *Client) Pull(ctx context.Context, bucket, key, version string) ([]byte, string, error) {
	data, id, _, err := s.pull(ctx, bucket, key, version, maxObjectBytes)
	return data, id, err
}

// pull is Pull with a size limit, returning the ETag too.
func (s *Client) pull(ctx context.Context, bucket, key, version string, limit int) ([]byte, string, string, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := s.API.GetObject(ctx, in)
	if err != nil {
		what := URI(bucket, key)
		if version != "" {
			what += " version " + version
		}
		return nil, "", "", classify(err, "read "+what)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, int64(limit)+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("read %s: %w", URI(bucket, key), err)
	}
	if len(data) > limit && limit == maxObjectBytes {
		return nil, "", "", fmt.Errorf("%s is larger than %d bytes: not a truststore", URI(bucket, key), limit)
	}
	if len(data) > limit {
		return nil, "", "", fmt.Errorf("%s is larger than %d bytes", URI(bucket, key), limit)
	}
	return data, aws.ToString(out.VersionId), aws.ToString(out.ETag), nil
}

// unsupported recognises an S3-compatible server refusing a bucket setting
// it does not implement. MinIO answers PutPublicAccessBlock with
// MalformedXML, and default encryption without a KMS with a KMS error.
func unsupported(err error) bool {
	switch awserr.Code(err) {
	case "NotImplemented", "XNotImplemented", "MalformedXML", "XMinioKMSNotConfigured", "NotSupported":
		return true
	}
	return false
}

// classify turns SDK errors into the errors above, with what was being done.
func classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	prefix := ""
	if doing != "" {
		prefix = doing + ": "
	}
	var nsb *types.NoSuchBucket
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	code := awserr.Code(err)
	var opErr *net.OpError
	switch {
	case errors.As(err, &nsb) || code == "NoSuchBucket":
		return fmt.Errorf("%s%w", prefix, ErrNoSuchBucket)
	case errors.As(err, &nsk) || errors.As(err, &nf) || code == "NoSuchKey" || code == "NoSuchVersion" || code == "NotFound" || (code == "InvalidArgument" && strings.Contains(apiMessageOf(err), "version")):
		return fmt.Errorf("%s%w", prefix, ErrNotFound)
	case code == "AccessDenied" || code == "Forbidden" || code == "AllAccessDisabled":
		return fmt.Errorf("%s%w (%s)", prefix, ErrAccessDenied, code)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" || code == "ExpiredToken":
		return fmt.Errorf("%s%w: the credentials were refused (%s)", prefix, ErrAccessDenied, code)
	case code == "InvalidBucketName":
		return fmt.Errorf("%s%w", prefix, ErrInvalidBucket)
	case errors.As(err, &opErr):
		return fmt.Errorf("%s%w: %v", prefix, ErrEndpointDown, opErr)
	}
	return fmt.Errorf("%s%w", prefix, err)
}

func apiMessageOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return strings.ToLower(ae.ErrorMessage())
	}
	return ""
}
