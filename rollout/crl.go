package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/apimtls/apimtls/s3store"
)

// CRLObject is one CA's CRL to publish.
type CRLObject struct {
	CA string
	// KeyID is revocation.KeyID of the CA: the authorizer finds a
	// client's CRL by its issuer's key identifier (docs/revocation.md).
	KeyID string
	DER   []byte
}

// CheckCRLPrefix checks a CRL prefix: "" or ending in "/", and not
// starting with one (an S3 key never does), as crl/. Both crl push and the
// authorizer's configuration go through it, so the authorizer reads where
// crl push writes.
func CheckCRLPrefix(prefix string) error {
	if prefix != "" && !strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("CRL prefix %q: use a prefix that ends with / and does not start with one, such as crl/", prefix)
	}
	return nil
}

// CRLKey is where a CA's CRL lives under a prefix.
func CRLKey(prefix, keyID string) string { return prefix + keyID + ".crl" }

// PushedCRL is one CRL in the bucket.
type PushedCRL struct {
	CA string `json:"ca"`
	*s3store.PushResult
}

// PushCRLs uploads each CA's CRL to the versioned bucket, as push does a
// truststore: unchanged content is not uploaded again, and every version
// ID comes back.
func PushCRLs(ctx context.Context, b Bucket, bucket, prefix string, crls []CRLObject) ([]PushedCRL, error) {
	var out []PushedCRL
	for _, c := range crls {
		res, err := b.Push(ctx, s3store.PushInput{Bucket: bucket, Key: CRLKey(prefix, c.KeyID), Data: c.DER, ContentType: "application/pkix-crl"})
		if err != nil {
			return out, fmt.Errorf("push the CRL of CA %s: %w", c.CA, err)
		}
		out = append(out, PushedCRL{CA: c.CA, PushResult: res})
	}
	return out, nil
}
