package rollout

import (
	"context"
	"fmt"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/s3store"
)

// Bucket is where truststores are pushed.
type Bucket interface {
	CreateBucket(ctx context.Context, bucket string, opts s3store.CreateOptions) (*s3store.CreateResult, error)
	Push(ctx context.Context, in s3store.PushInput) (*s3store.PushResult, error)
}

// PushInput is a truststore to upload and how.
type PushInput struct {
	s3store.PushInput
	// Name is the file the data came from, for messages.
	Name string
	// CreateBucket makes the bucket fit first (versioned, private,
	// encrypted), keeping what an existing bucket already has.
	CreateBucket bool
	RequireTLS   bool
	// Record keeps the pushed version for later commands.
	Record func(*s3store.PushResult) error
}

// PushOutcome is what Push did.
type PushOutcome struct {
	*s3store.PushResult
	// Notes say what was found and done to the bucket.
	Notes []string
}

// InvalidError is a truststore refused before upload.
type InvalidError struct {
	Name     string
	Problems []string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s has %s: nothing uploaded", e.Name, plural.Count(len(e.Problems), "error"))
}

// Is makes an InvalidError an ErrInvalidTruststore.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidTruststore }

// Push validates, makes the bucket fit when asked, uploads (or finds the
// same content already newest), and records the version.
func Push(ctx context.Context, b Bucket, validate Validator, in PushInput) (*PushOutcome, error) {
	if problems := validate(in.Data); len(problems) > 0 {
		return nil, &InvalidError{Name: in.Name, Problems: problems}
	}
	out := &PushOutcome{}
	if in.CreateBucket {
		created, err := b.CreateBucket(ctx, in.Bucket, s3store.CreateOptions{RequireTLS: in.RequireTLS})
		if err != nil {
			return nil, err
		}
		out.Notes = created.Notes
	}
	res, err := b.Push(ctx, in.PushInput)
	if err != nil {
		return nil, err
	}
	out.PushResult = res
	if in.Record != nil {
		if err := in.Record(res); err != nil {
			return nil, fmt.Errorf("uploaded %s version %s, but could not record it: %w", res.URI, res.VersionID, err)
		}
	}
	return out, nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*InvalidError) ErrorKind() errkind.Kind { return errkind.Invalid }
