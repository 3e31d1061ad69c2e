package rollout

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/s3store"
)

// CRLObject is one CA's CRL to publish.
type CRLObject struct {
	CA string
	// KeyID is revocation.KeyID of the CA: the authorizer finds a
	// client's CRL by its issuer's key identifier (docs/revocation.md).
	KeyID string
	DER   []byte
	// Cert is the CA's certificate, when known: a CRL in the bucket that
	// it did not sign is no newer CRL of the CA, and never blocks a push.
	Cert *x509.Certificate
}

// OlderCRLError is a push that would replace a published CRL with an
// older one (a lower CRL number), or with another list of the same
// number: the authorizer would refuse it (crl_rollback), or it would
// un-revoke what the published one revokes.
type OlderCRLError struct {
	URI string // the object
	// Published and Pushed name the two CRLs (revocation.CRL.NumberText).
	Published, Pushed string
	// Dropped, for a newer CRL, are the serials (lowercase hex) the
	// published one lists and it does not: pushing it would un-revoke
	// them.
	Dropped []string
}

func (e *OlderCRLError) Error() string {
	if len(e.Dropped) > 0 {
		return fmt.Sprintf("%s holds CRL %s, which lists %s; this PKI directory's CRL %s does not: refusing to un-revoke by replacing it", e.URI, e.Published, strings.Join(e.Dropped, ", "), e.Pushed)
	}
	if e.Published == e.Pushed {
		return fmt.Sprintf("%s holds another CRL %s than this PKI directory's: refusing to replace it with a different list of the same number", e.URI, e.Published)
	}
	return fmt.Sprintf("%s holds CRL %s, and this PKI directory's is %s: refusing to replace a newer CRL with an older one", e.URI, e.Published, e.Pushed)
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
// ID comes back. It never replaces a published CRL with an older one, nor
// with a different one of the same number (ErrOlderCRL), and replaces only
// the version it checked (a conditional write).
func PushCRLs(ctx context.Context, b Bucket, bucket, prefix string, crls []CRLObject) ([]PushedCRL, error) {
	push := func(checkOnly bool) ([]PushedCRL, error) {
		var out []PushedCRL
		for _, c := range crls {
			key := CRLKey(prefix, c.KeyID)
			res, err := b.Push(ctx, s3store.PushInput{Bucket: bucket, Key: key, Data: c.DER, ContentType: "application/pkix-crl", CheckOnly: checkOnly,
				Replaces: func(current []byte) error { return checkNotOlder(c, s3store.URI(bucket, key), current) }})
			if err != nil {
				return out, fmt.Errorf("push the CRL of CA %s: %w", c.CA, err)
			}
			out = append(out, PushedCRL{CA: c.CA, PushResult: res})
		}
		return out, nil
	}
	// Every CRL is checked before any is uploaded: a refusal for one CA
	// leaves the bucket as it was, not half this copy's and half another's.
	if _, err := push(true); err != nil {
		return nil, err
	}
	return push(false)
}

// checkNotOlder refuses to replace the published CRL current with next
// when current is newer, or as new but another list. A published object
// that is no CRL of the CA (damaged, foreign, another scope) may be
// replaced: that is the repair.
func checkNotOlder(c CRLObject, uri string, current []byte) error {
	if current == nil || bytes.Equal(current, c.DER) {
		return nil
	}
	published, err := revocation.ParseCRL(current)
	if err != nil || (c.Cert != nil && published.CheckSignatureFrom(c.Cert) != nil) {
		return nil
	}
	next, err := revocation.ParseCRL(c.DER)
	if err != nil {
		return fmt.Errorf("the CRL to push: %w", err)
	}
	order, comparable := next.Compare(published)
	if !comparable {
		return nil
	}
	if order > 0 {
		if dropped := droppedSerials(current, c.DER); len(dropped) > 0 {
			return &OlderCRLError{URI: uri, Published: published.NumberText(), Pushed: next.NumberText(), Dropped: dropped}
		}
		return nil
	}
	return &OlderCRLError{URI: uri, Published: published.NumberText(), Pushed: next.NumberText()}
}

// droppedSerials are the serials the CRL published lists and next does
// not, sorted; both have parsed already.
func droppedSerials(published, next []byte) []string {
	p, perr := x509.ParseRevocationList(published)
	n, nerr := x509.ParseRevocationList(next)
	if perr != nil || nerr != nil {
		return nil
	}
	listed := make(map[string]bool, len(n.RevokedCertificateEntries))
	for _, e := range n.RevokedCertificateEntries {
		listed[e.SerialNumber.Text(16)] = true
	}
	var out []string
	for _, e := range p.RevokedCertificateEntries {
		if sn := e.SerialNumber.Text(16); !listed[sn] {
			out = append(out, sn)
		}
	}
	slices.Sort(out)
	return out
}

// ErrorKind says what kind of failure it is (errkind).
func (*OlderCRLError) ErrorKind() errkind.Kind { return errkind.Conflict }
