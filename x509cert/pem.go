package x509cert

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/youmark/pkcs8"
)

// PEM block types apimtls writes and reads.
const (
	blockCertificate = "CERTIFICATE"
	blockPrivateKey  = "PRIVATE KEY"
	// BlockEncryptedKey is exported for pki's inventory rebuild, which
	// tells an encrypted key file from its first line.
	BlockEncryptedKey = "ENCRYPTED PRIVATE KEY"
	blockCSR          = "CERTIFICATE REQUEST"
	blockCSRLegacy    = "NEW CERTIFICATE REQUEST"
	maxCSRBytes       = 64 << 10
	pbkdf2Iterations  = 600_000 // OWASP's 2023 figure for PBKDF2-HMAC-SHA256
	pbkdf2SaltBytes   = 16
)

// ErrWrongPassphrase is returned when an encrypted key does not open with the
// passphrase given.
var ErrWrongPassphrase = errkind.New(errkind.Invalid, "wrong passphrase")

// ErrPassphraseRequired is returned when a key is encrypted and no passphrase
// source was given.
var ErrPassphraseRequired = errkind.New(errkind.Invalid, "the key is encrypted and needs a passphrase")

// PassphraseFunc supplies a passphrase when, and only when, one is needed.
type PassphraseFunc func() ([]byte, error)

// EncodeCertificate returns der as a PEM CERTIFICATE block.
func EncodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockCertificate, Bytes: der})
}

// EncodeCertificates concatenates certificates as PEM blocks.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		buf.Write(EncodeCertificate(c.Raw))
	}
	return buf.Bytes()
}

// EncodeKey returns key as a PKCS #8 PEM block, encrypted with PBES2
// (PBKDF2-HMAC-SHA256, AES-256-CBC) when passphrase is not empty: the
// format `openssl pkey` opens without extra options.
func EncodeKey(key crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("marshal key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: blockPrivateKey, Bytes: der}), nil
	}
	opts := &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       pbkdf2SaltBytes,
			IterationCount: pbkdf2Iterations,
			HMACHash:       crypto.SHA256,
		},
	}
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, opts)
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: BlockEncryptedKey, Bytes: der}), nil
}

// DecodeKey parses a PEM private key written by EncodeKey, or a PKCS #1 or
// SEC 1 key written by OpenSSL. An encrypted key asks passphrase for its
// passphrase; a nil passphrase gives ErrPassphraseRequired.
func DecodeKey(data []byte, passphrase PassphraseFunc) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case blockPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case BlockEncryptedKey:
		if passphrase == nil {
			return nil, ErrPassphraseRequired
		}
		pass, perr := passphrase()
		if perr != nil {
			return nil, perr
		}
		key, _, err = pkcs8.ParsePrivateKey(block.Bytes, pass)
		if err != nil {
			// PBES2 with CBC padding gives no way to tell a wrong
			// passphrase from corruption; the first is far more likely.
			return nil, ErrWrongPassphrase
		}
	default:
		return nil, fmt.Errorf("PEM block is %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", key)
	}
	return signer, nil
}

// DecodeCertificate parses the first certificate of a PEM file.
func DecodeCertificate(data []byte) (*x509.Certificate, error) {
	certs, err := DecodeCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// DecodeCertificates parses every PEM CERTIFICATE block in data, read as
// strictly as a truststore (readPEM). Any other block is an error that
// names its line; text around the blocks is allowed, as in the output of
// openssl x509 -text.
func DecodeCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks, text, perr := readPEM(data)
	if perr != nil {
		return nil, perr
	}
	if len(blocks) == 0 {
		if len(text) > 0 {
			return nil, fmt.Errorf("line %d: not a PEM certificate", text[0])
		}
		return nil, errors.New("no PEM certificate found")
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for _, b := range blocks {
		if b.Type != blockCertificate {
			return nil, fmt.Errorf("line %d: PEM block is %q, not CERTIFICATE", b.Line, b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("line %d: parse certificate: %w", b.Line, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

// DecodeCSR parses a certificate signing request in PEM (CERTIFICATE
// REQUEST or NEW CERTIFICATE REQUEST) or DER form. It does not check the
// signature: CheckCSR does.
func DecodeCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) == 0 {
		return nil, errors.New("empty CSR")
	}
	if len(data) > maxCSRBytes {
		return nil, fmt.Errorf("CSR is %d bytes, more than the %d a CSR can reasonably be", len(data), maxCSRBytes)
	}
	der := data
	if bytes.Contains(data, []byte("-----BEGIN")) {
		blocks, _, perr := readPEM(data)
		switch {
		case perr != nil:
			return nil, perr
		case len(blocks) != 1:
			return nil, fmt.Errorf("%d PEM blocks: a CSR file holds exactly one", len(blocks))
		case blocks[0].Type != blockCSR && blocks[0].Type != blockCSRLegacy:
			return nil, fmt.Errorf("line %d: PEM block is %q, not CERTIFICATE REQUEST", blocks[0].Line, blocks[0].Type)
		}
		der = blocks[0].Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err == nil {
		return csr, nil
	}
	// The DER parser's own message is a dump of ASN.1 tags; say what the
	// data is instead.
	if _, cerr := x509.ParseCertificate(der); cerr == nil {
		return nil, errors.New("this is a certificate, not a certificate signing request")
	}
	if bytes.Equal(der, data) && !bytes.Contains(data, []byte("-----BEGIN")) && (len(data) < 2 || data[0] != 0x30) {
		return nil, errors.New("neither a PEM nor a DER certificate signing request")
	}
	return nil, errors.New("the data does not parse as a PKCS #10 certificate signing request")
}

// lineOf returns the 1-based line in data where rest begins.
func lineOf(data, rest []byte) int {
	return bytes.Count(data[:len(data)-len(rest)], []byte("\n")) + 1
}
