package x509cert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
)

// FuzzDecodeCSR feeds arbitrary bytes to the CSR parser and checker, which
// read device input: they may refuse, never panic, and never accept a CSR
// whose key apimtls would not issue for.
func FuzzDecodeCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := revtest.CSR(f, key, "seed")
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := DecodeCSR(data)
		if err != nil {
			return
		}
		checked, err := CheckCSR(csr)
		if err != nil {
			return
		}
		if _, err := KeyTypeOf(checked.CSR.PublicKey); err != nil {
			t.Fatalf("CheckCSR accepted a key KeyTypeOf refuses: %v", err)
		}
	})
}

// FuzzDecodeCertificates fuzzes the PEM certificate reader used for every
// certificate file apimtls reads.
func FuzzDecodeCertificates(f *testing.F) {
	root := mustRoot(f, ECDSAP256, -1)
	pemData := EncodeCertificates(root.Cert, root.Cert)
	f.Add(pemData)
	f.Add(append([]byte("text before\n"), pemData...))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := DecodeCertificates(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}

// FuzzDecodeKey fuzzes the key reader, including encrypted PKCS #8.
func FuzzDecodeKey(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	plain, _ := EncodeKey(key, nil)
	f.Add(plain)
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if block, _ := pem.Decode(data); block != nil && block.Type == BlockEncryptedKey {
			return // each attempt would run 600,000 PBKDF2 rounds
		}
		_, _ = DecodeKey(data, fixedPass("fuzz"))
	})
}

// FuzzValidateTruststore feeds arbitrary files to the validator, which reads
// whatever a user points it at: it must report, never panic, and keep its
// counts consistent with its findings.
func FuzzValidateTruststore(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("..", "testdata", "truststore"))
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join("..", "testdata", "truststore", e.Name())); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ValidateTruststore(data, ValidateOptions{Now: testNow})
		errs, warns := 0, 0
		for _, fd := range r.Findings {
			if fd.Severity == SeverityError {
				errs++
			} else {
				warns++
			}
		}
		if errs != r.Errors || warns != r.Warnings {
			t.Fatalf("counts %d/%d, findings %d/%d", r.Errors, r.Warnings, errs, warns)
		}
		if r.Certificates < len(r.Entries) || r.DeepestChain > len(r.Entries) {
			t.Fatalf("summary inconsistent: %+v", r)
		}
	})
}
