package s3store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/internal/awserr"
)

// RequireVersioning refuses a bucket that is missing or does not keep
// versions, the way Push does: the shared PKI store (package sharedstore)
// keeps its history in object versions too.
func (s *Client) RequireVersioning(ctx context.Context, bucket string) error {
	return s.requireVersioning(ctx, bucket, false)
}

// Classify turns an SDK error into this package's errors (ErrNoSuchBucket,
// ErrNotFound, ErrAccessDenied, ErrEndpointDown ...), prefixed with what
// was being done.
func Classify(err error, doing string) error { return classify(err, doing) }

// DefaultEncryption describes a bucket's default encryption ("AES256",
// "aws:kms (key ...)"), or returns "" when the bucket has none or the
// endpoint does not implement it, with the reason in note.
func (s *Client) DefaultEncryption(ctx context.Context, bucket string) (desc, note string, err error) {
	cur, err := s.API.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil && cur.ServerSideEncryptionConfiguration != nil && len(cur.ServerSideEncryptionConfiguration.Rules) > 0 &&
		cur.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault != nil:
		d := cur.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
		desc = string(d.SSEAlgorithm)
		if k := aws.ToString(d.KMSMasterKeyID); k != "" {
			desc += " (key " + k + ")"
		}
		return desc, "", nil
	case err == nil, awserr.Code(err) == "ServerSideEncryptionConfigurationNotFoundError":
		return "", "bucket " + bucket + " has no default encryption", nil
	case unsupported(err):
		return "", "the endpoint does not report default encryption (" + awserr.Code(err) + ")", nil
	}
	return "", "", classify(err, "read the default encryption of bucket "+bucket)
}
