package x509cert

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
)

// CASigner is where a CA signs: the one seam between what apimtls
// decides a certificate or CRL says (profile.go here, pki's crl.go) and
// the CA's key. Every certificate and CRL apimtls makes passes through it,
// and pki's openIssuer is the one place that picks the implementation from
// where the CA's record says the key lives:
//
//   - KeySigner, any crypto.Signer: the CA's key file or its AWS KMS key
//     (pki's KMSSigner). crypto/x509 encodes what is to be signed and the
//     key signs those bytes.
//   - AWS Private CA, next: it takes the request and returns the whole
//     certificate, signed where its key is, so it implements
//     SignCertificate itself (Issuer.Signer) rather than being a
//     crypto.Signer; openIssuer picks it as it picks KMS.
type CASigner interface {
	// Public is the CA's public key: it chooses the signature algorithm.
	Public() crypto.PublicKey
	// SignCertificate issues tmpl, for the subject's public key pub,
	// under parent (tmpl itself for a root).
	SignCertificate(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error)
	// SignCRL signs tmpl as a CRL of parent, DER.
	SignCRL(rand io.Reader, tmpl *x509.RevocationList, parent *x509.Certificate) ([]byte, error)
}

// KeySigner signs with a key that makes signatures: a key file's, or one
// that stays in KMS.
type KeySigner struct{ crypto.Signer }

// SignCertificate signs tmpl with the key.
func (k KeySigner) SignCertificate(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, k.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// SignCRL signs tmpl with the key.
func (k KeySigner) SignCRL(rand io.Reader, tmpl *x509.RevocationList, parent *x509.Certificate) ([]byte, error) {
	return x509.CreateRevocationList(rand, tmpl, parent, k.Signer)
}

// Signs is where the issuer's certificates and CRLs are signed: its
// Signer when it has one, else its Key.
func (i Issuer) Signs() CASigner {
	if i.Signer != nil {
		return i.Signer
	}
	return KeySigner{i.Key}
}
