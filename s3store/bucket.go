package s3store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/apimtls/apimtls/internal/awserr"
)

// CreateResult says what CreateBucket did.
type CreateResult struct {
	Created bool
	// Notes say what was found and what was done: settings an existing
	// bucket keeps, settings added, and settings the endpoint does not
	// support (S3-compatible servers keep buckets private by default).
	Notes []string
}

// notSupported starts the note of a setting the endpoint does not have (an
// S3-compatible server): the bucket is made without it.
const notSupported = "the endpoint does not support "

// CreateBucket makes a bucket fit for truststores: in the store's Region,
// versioning on, public access blocked, default encryption, and optionally
// a policy that denies non-TLS access. A bucket the caller already owns is
// never rewritten: its settings are read, only what is missing is added
// (the TLS-only statement merged into its policy, encryption only where
// there is none, never a downgrade of SSE-KMS), and each finding is
// reported. One owned by someone else is ErrBucketTaken.
func (s *Client) CreateBucket(ctx context.Context, bucket string, opts CreateOptions) (*CreateResult, error) {
	if err := CheckBucketName(bucket); err != nil {
		return nil, err
	}
	// Ask first: in us-east-1 CreateBucket answers 200 for a bucket the
	// caller owns, which would pass it off as new.
	existing := true
	if _, err := s.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)}); err != nil {
		if err = classify(err, "read bucket "+bucket); !errors.Is(err, ErrNoSuchBucket) {
			return nil, err
		}
		if existing, err = s.create(ctx, bucket); err != nil {
			return nil, err
		}
	}
	res := &CreateResult{Created: !existing}
	if !res.Created {
		res.Notes = append(res.Notes, "bucket "+bucket+" exists: its settings are kept and only what is missing is added")
	}
	// Each step, and the word the first note says it gave a new bucket:
	// only what the endpoint really did is claimed.
	type step struct {
		fit  func(context.Context, string, bool) (string, error)
		gave string
	}
	steps := []step{{s.fitVersioning, "versioned"}, {s.fitPublicAccess, "private"}, {s.fitEncryption, "encrypted"}}
	var notes []string
	switch {
	case opts.RequireTLS && s.PlainHTTP():
		// The statement denies every request without TLS: added through a
		// plain-http endpoint, it would lock this very client out (moto
		// and S3 enforce it).
		notes = append(notes, "the S3 endpoint "+s.Endpoint+" is plain HTTP: the policy denying requests without TLS was not added, as it would deny every request made through it; against AWS it is added")
	case opts.RequireTLS:
		steps = append(steps, step{s.fitPolicy, ""})
	}
	var gave []string
	for _, st := range steps {
		note, err := st.fit(ctx, bucket, existing)
		if err != nil {
			res.Notes = append(res.Notes, notes...)
			return res, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		if st.gave != "" && !strings.HasPrefix(note, notSupported) {
			gave = append(gave, st.gave)
		}
	}
	if res.Created {
		res.Notes = append(res.Notes, "created bucket "+bucket+" in "+s.Region+": "+strings.Join(gave, ", "))
	}
	res.Notes = append(res.Notes, notes...)
	return res, nil
}

// create makes the bucket, and says whether it existed after all.
func (s *Client) create(ctx context.Context, bucket string) (bool, error) {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	// us-east-1 is the one Region that refuses a LocationConstraint.
	if s.Region != "" && s.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.Region)}
	}
	_, err := s.API.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	var taken *types.BucketAlreadyExists
	switch {
	case errors.As(err, &owned) || awserr.Code(err) == "BucketAlreadyOwnedByYou":
		return true, nil
	case errors.As(err, &taken) || awserr.Code(err) == "BucketAlreadyExists":
		return false, fmt.Errorf("%w: %s; choose another name", ErrBucketTaken, bucket)
	case err != nil:
		return false, classify(err, "create bucket "+bucket)
	}
	return false, nil
}

func (s *Client) fitVersioning(ctx context.Context, bucket string, existing bool) (string, error) {
	if existing {
		v, err := s.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
		if err != nil {
			return "", classify(err, "read versioning of bucket "+bucket)
		}
		if v.Status == types.BucketVersioningStatusEnabled {
			return "", nil
		}
	}
	if err := s.enableVersioning(ctx, bucket); err != nil {
		return "", err
	}
	if existing {
		return "turned versioning on (API Gateway pins a truststore by version ID)", nil
	}
	return "", nil
}

var allBlocked = &types.PublicAccessBlockConfiguration{
	BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
	BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
}

func (s *Client) fitPublicAccess(ctx context.Context, bucket string, existing bool) (string, error) {
	if existing {
		cur, err := s.API.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
		switch {
		case err == nil:
			c := cur.PublicAccessBlockConfiguration
			if c != nil && aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets) {
				return "", nil
			}
			return "kept the bucket's public access block, which does not block everything: check that is meant", nil
		case unsupported(err):
			return notSupported + "public access blocks (" + awserr.Code(err) + ")", nil
		case awserr.Code(err) != "NoSuchPublicAccessBlockConfiguration":
			return "", classify(err, "read the public access block of bucket "+bucket)
		}
	}
	_, err := s.API.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket), PublicAccessBlockConfiguration: allBlocked})
	switch {
	case unsupported(err):
		return notSupported + "public access blocks (" + awserr.Code(err) + ")", nil
	case err != nil:
		return "", classify(err, "block public access on bucket "+bucket)
	case existing:
		return "blocked public access (there was no public access block)", nil
	}
	return "", nil
}

func (s *Client) fitEncryption(ctx context.Context, bucket string, existing bool) (string, error) {
	if existing {
		cur, err := s.API.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
		if err == nil && cur.ServerSideEncryptionConfiguration != nil && len(cur.ServerSideEncryptionConfiguration.Rules) > 0 {
			if d := cur.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault; d != nil {
				note := "kept the bucket's default encryption " + string(d.SSEAlgorithm)
				if k := aws.ToString(d.KMSMasterKeyID); k != "" {
					note += " (key " + k + ")"
				}
				return note, nil
			}
		}
		if err != nil && !unsupported(err) && awserr.Code(err) != "ServerSideEncryptionConfigurationNotFoundError" {
			return "", classify(err, "read the default encryption of bucket "+bucket)
		}
	}
	_, err := s.API.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(bucket),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256},
		}}},
	})
	switch {
	case unsupported(err):
		return notSupported + "default encryption here (" + awserr.Code(err) + ")", nil
	case err != nil:
		return "", classify(err, "set default encryption on bucket "+bucket)
	case existing:
		return "turned default encryption on (AES256; there was none)", nil
	}
	return "", nil
}

func (s *Client) fitPolicy(ctx context.Context, bucket string, existing bool) (string, error) {
	policy := ""
	if existing {
		cur, err := s.API.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
		if err != nil && awserr.Code(err) != "NoSuchBucketPolicy" {
			return "", classify(err, "read the policy of bucket "+bucket)
		}
		if err == nil {
			policy = aws.ToString(cur.Policy)
		}
	}
	merged, changed, err := withTLSOnly(policy, bucket)
	if err != nil {
		return "", fmt.Errorf("bucket %s: %w; the policy was not changed", bucket, err)
	}
	if !changed {
		return "kept the bucket policy: it already denies requests without TLS", nil
	}
	if _, err := s.API.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(merged)}); err != nil {
		return "", classify(err, "set the TLS-only policy on bucket "+bucket)
	}
	if policy != "" {
		return "added a statement denying requests without TLS to the bucket's policy (its other statements are kept)", nil
	}
	return "", nil
}
