package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// FuzzDecodeCSR feeds arbitrary bytes to the CSR parser and checker, which
// read device input: they may refuse, never panic, and never accept a CSR
// whose key apimtls would not issue for.
func FuzzDecodeCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := makeCSR(f, key, "seed")
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
		if KeyIsEncrypted(data) {
			return // each attempt would run 600,000 PBKDF2 rounds
		}
		_, _ = DecodeKey(data, fixedPass("fuzz"))
	})
}
