package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apimtls/apimtls/x509cert"
)

// openIssuer opens the key of CA rec (certificate cert) where it lives;
// name is the CA as it was asked for, for messages.
func (s *Store) openIssuer(name string, rec *Record, cert *x509.Certificate, passphrase x509cert.PassphraseFunc) (x509cert.Issuer, error) {
	switch rec.KeyLocation().Kind {
	case KeyInKMS:
		return s.loadKMSIssuer(rec, cert)
	}
	return s.loadFileIssuer(name, rec, cert, passphrase)
}

// loadFileIssuer reads a CA's key file, asking passphrase only if it is
// encrypted, and checks it is the certificate's.
func (s *Store) loadFileIssuer(name string, rec *Record, cert *x509.Certificate, passphrase x509cert.PassphraseFunc) (x509cert.Issuer, error) {
	keyPath := filepath.Join(s.Dir, rec.Dir, keyFile)
	if loose, mode := LoosePermissions(keyPath); loose {
		s.Warn(fmt.Sprintf("%s has mode %04o; run: chmod 600 %s", keyPath, mode, keyPath))
	}
	data, err := os.ReadFile(keyPath)
	if uri := s.backend().shared(); uri != "" && errors.Is(err, fs.ErrNotExist) {
		return x509cert.Issuer{}, missingSharedKey(name, keyPath, uri)
	}
	if err != nil {
		return x509cert.Issuer{}, fmt.Errorf("read CA key: %w", err)
	}
	key, err := x509cert.DecodeKey(data, passphrase)
	if err != nil {
		return x509cert.Issuer{}, fmt.Errorf("open key of CA %q: %w", name, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return x509cert.Issuer{}, fmt.Errorf("%s does not match the certificate of CA %q", keyPath, name)
	}
	return x509cert.Issuer{Cert: cert, Key: key, Level: rec.Level}, nil
}
