package s3store

import "context"

// RequireVersioning refuses a bucket that is missing or does not keep
// versions, the way Push does: the shared PKI store (package sharedstore)
// keeps its history in object versions too.
func (s *Store) RequireVersioning(ctx context.Context, bucket string) error {
	return s.requireVersioning(ctx, bucket, false)
}

// Classify turns an SDK error into this package's errors (ErrNoSuchBucket,
// ErrNotFound, ErrAccessDenied, ErrEndpointDown ...), prefixed with what
// was being done.
func Classify(err error, doing string) error { return classify(err, doing) }

// APICode is the S3 error code of err, or "".
func APICode(err error) string { return apiCode(err) }
