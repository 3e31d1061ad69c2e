package authorizer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/apimtls/apimtls/internal/awserr"
)

// S3API lists the one S3 call the authorizer makes.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// errNoObject: the object does not exist (a CA without a published CRL).
var errNoObject = errors.New("no such object")

// maxObjectBytes bounds what is read from S3.
const maxObjectBytes = 128 << 20

// objectCache keeps S3 objects, parsed, across invocations. Inside the TTL
// it makes no request; after it, a conditional GET (If-None-Match) that
// costs a 304 when nothing changed. Errors are not cached: the next request
// asks again.
type objectCache struct {
	api S3API
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]*object
}

type object struct {
	mu      sync.Mutex // one fetch per object at a time
	etag    string
	checked time.Time
	missing bool
	value   any   // the parsed object
	err     error // the parse error, kept with the ETag it belongs to
}

// get returns the parsed object at bucket/key (version optional), parsing
// it with parse only when its content changed.
func (c *objectCache) get(ctx context.Context, bucket, key, version string, now time.Time, parse func([]byte) (any, error)) (any, error) {
	id := bucket + "/" + key + "?" + version
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*object{}
	}
	o := c.entries[id]
	if o == nil {
		o = &object{}
		c.entries[id] = o
	}
	c.mu.Unlock()

	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.checked.IsZero() && now.Sub(o.checked) < c.ttl {
		return o.result()
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if o.etag != "" {
		in.IfNoneMatch = aws.String(o.etag)
	}
	out, err := c.api.GetObject(ctx, in)
	switch {
	case err == nil:
		defer out.Body.Close()
		data, err := io.ReadAll(io.LimitReader(out.Body, maxObjectBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
		}
		if len(data) > maxObjectBytes {
			return nil, fmt.Errorf("s3://%s/%s is larger than %d bytes", bucket, key, maxObjectBytes)
		}
		o.value, o.err = parse(data)
		if o.err != nil {
			o.value, o.err = nil, &parseError{o.err}
		}
		o.etag, o.missing = aws.ToString(out.ETag), false
	case notModified(err):
	case notFound(err):
		o.etag, o.missing, o.value, o.err = "", true, nil, nil
	default:
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	o.checked = now
	return o.result()
}

func (o *object) result() (any, error) {
	if o.missing {
		return nil, errNoObject
	}
	return o.value, o.err
}

func notModified(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotModified
}

func notFound(err error) bool {
	if c := awserr.Code(err); c == "NoSuchKey" || c == "NotFound" {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// parseError is an object that was fetched but did not parse.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }
