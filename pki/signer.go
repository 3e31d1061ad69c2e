package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// caSigner is where a CA signs: the one seam between what apimtls
// decides a certificate or CRL says (profile.go, crl.go) and the CA's key.
// Every certificate and CRL apimtls makes passes through it, and
// openIssuer is the one place that picks the implementation from where
// the record says the key lives (KeyLocation):
//
//   - keySigner, any crypto.Signer: the CA's key file (loadFileIssuer,
//     here) or its AWS KMS key (KMSSigner, kms.go, opened by
//     loadKMSIssuer). crypto/x509 encodes what is to be signed and the key
//     signs those bytes.
//   - AWS Private CA, next: it takes the request and returns the whole
//     certificate, signed where its key is, so it implements
//     signCertificate itself (Issuer.signer) rather than being a
//     crypto.Signer; openIssuer picks it as it picks KMS.
type caSigner interface {
	// Public is the CA's public key: it chooses the signature algorithm.
	Public() crypto.PublicKey
	// signCertificate issues tmpl, for the subject's public key pub,
	// under parent (tmpl itself for a root).
	signCertificate(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error)
	// signCRL signs tmpl as a CRL of parent, DER.
	signCRL(rand io.Reader, tmpl *x509.RevocationList, parent *x509.Certificate) ([]byte, error)
}

// keySigner signs with a key that makes signatures: a key file's, or one
// that stays in KMS.
type keySigner struct{ crypto.Signer }

func (k keySigner) signCertificate(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, k.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func (k keySigner) signCRL(rand io.Reader, tmpl *x509.RevocationList, parent *x509.Certificate) ([]byte, error) {
	return x509.CreateRevocationList(rand, tmpl, parent, k.Signer)
}

// signs is where the issuer's certificates and CRLs are signed: its
// signer when it has one, else its Key.
func (i Issuer) signs() caSigner {
	if i.signer != nil {
		return i.signer
	}
	return keySigner{i.Key}
}

// openIssuer opens the key of CA rec (certificate cert) where it lives;
// name is the CA as it was asked for, for messages.
func (s *Store) openIssuer(name string, rec *Record, cert *x509.Certificate, passphrase PassphraseFunc) (Issuer, error) {
	switch rec.KeyLocation().Kind {
	case KeyInKMS:
		return s.loadKMSIssuer(rec, cert)
	}
	return s.loadFileIssuer(name, rec, cert, passphrase)
}

// loadFileIssuer reads a CA's key file, asking passphrase only if it is
// encrypted, and checks it is the certificate's.
func (s *Store) loadFileIssuer(name string, rec *Record, cert *x509.Certificate, passphrase PassphraseFunc) (Issuer, error) {
	keyPath := filepath.Join(s.Dir, rec.Dir, keyFile)
	if loose, mode := LoosePermissions(keyPath); loose {
		s.Warn(fmt.Sprintf("%s has mode %04o; run: chmod 600 %s", keyPath, mode, keyPath))
	}
	data, err := os.ReadFile(keyPath)
	if uri := s.backend().shared(); uri != "" && errors.Is(err, fs.ErrNotExist) {
		return Issuer{}, missingSharedKey(name, keyPath, uri)
	}
	if err != nil {
		return Issuer{}, fmt.Errorf("read CA key: %w", err)
	}
	key, err := DecodeKey(data, passphrase)
	if err != nil {
		return Issuer{}, fmt.Errorf("open key of CA %q: %w", name, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return Issuer{}, fmt.Errorf("%s does not match the certificate of CA %q", keyPath, name)
	}
	return Issuer{Cert: cert, Key: key, Level: rec.Level}, nil
}
