package revocation

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"sync"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// CA is one certificate of the truststore.
type CA struct {
	Cert *x509.Certificate
	// KeyID names the CA's CRL object (docs/revocation.md): the subject key
	// identifier in lowercase hex, or, for a CA without one, the SHA-1 of
	// its public key as RFC 5280 §4.2.1.2 method 1 computes it.
	KeyID string
	// Parent is the CA in the truststore that issued and signed this one;
	// nil for a root (self-signed) or when the issuer is absent.
	Parent *CA
}

// Truststore indexes the CAs that API Gateway trusts, for finding a
// certificate's issuer fast.
type Truststore struct {
	CAs       []*CA
	bySubject map[string][]*CA

	// verified remembers certificates whose signature was already checked
	// against a CA, keyed by the whole certificate: a signature check costs
	// tens of microseconds and a device presents the same certificate on
	// every request.
	mu       sync.RWMutex
	verified map[string]*CA // string(cert.Raw) -> its issuer
}

// maxVerified bounds the signature cache; past it the cache starts over.
const maxVerified = 100_000

// ErrEmptyTruststore: a truststore without a CA would refuse everyone; it is
// always a configuration mistake, so it is an error, not a silent deny-all.
var ErrEmptyTruststore = errkind.New(errkind.Invalid, "the truststore holds no CA certificate")

// ParseTruststore reads a PEM bundle of CA certificates.
func ParseTruststore(data []byte) (*Truststore, error) {
	certs, err := x509cert.DecodeCertificates(data)
	if err != nil {
		return nil, err
	}
	return NewTruststore(certs)
}

// NewTruststore indexes certs and links each CA to its issuer.
func NewTruststore(certs []*x509.Certificate) (*Truststore, error) {
	if len(certs) == 0 {
		return nil, ErrEmptyTruststore
	}
	t := &Truststore{bySubject: map[string][]*CA{}}
	for _, c := range certs {
		ca := &CA{Cert: c, KeyID: KeyID(c)}
		t.CAs = append(t.CAs, ca)
		t.bySubject[string(c.RawSubject)] = append(t.bySubject[string(c.RawSubject)], ca)
	}
	for _, ca := range t.CAs {
		if selfSigned(ca.Cert) {
			continue
		}
		ca.Parent = t.findIssuer(ca.Cert)
	}
	return t, nil
}

// KeyID is the name of a CA's CRL in the bucket, without prefix or suffix.
func KeyID(c *x509.Certificate) string {
	if len(c.SubjectKeyId) > 0 {
		return hex.EncodeToString(c.SubjectKeyId)
	}
	sum := sha1.Sum(subjectPublicKeyBits(c))
	return hex.EncodeToString(sum[:])
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// IssuerOf returns the CA of the truststore that issued and signed cert:
// the issuer name, the key identifiers when both carry one, then the
// signature. Nil when there is none.
func (t *Truststore) IssuerOf(cert *x509.Certificate) *CA {
	t.mu.RLock()
	ca, ok := t.verified[string(cert.Raw)]
	t.mu.RUnlock()
	if ok {
		return ca
	}
	ca = t.findIssuer(cert)
	if ca != nil {
		t.mu.Lock()
		if t.verified == nil || len(t.verified) >= maxVerified {
			t.verified = map[string]*CA{}
		}
		t.verified[string(cert.Raw)] = ca
		t.mu.Unlock()
	}
	return ca
}

func (t *Truststore) findIssuer(cert *x509.Certificate) *CA {
	for _, ca := range t.bySubject[string(cert.RawIssuer)] {
		if len(cert.AuthorityKeyId) > 0 && len(ca.Cert.SubjectKeyId) > 0 && !bytes.Equal(cert.AuthorityKeyId, ca.Cert.SubjectKeyId) {
			continue
		}
		if cert.CheckSignatureFrom(ca.Cert) == nil {
			return ca
		}
	}
	return nil
}

// ByKeyID finds a CA by its KeyID.
func (t *Truststore) ByKeyID(id string) *CA {
	for _, ca := range t.CAs {
		if ca.KeyID == id {
			return ca
		}
	}
	return nil
}
