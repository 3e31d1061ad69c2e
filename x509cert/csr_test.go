package x509cert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
)

func TestCheckCSRRefuses(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := revtest.CSR(t, p256, "ok")
	block, _ := pem.Decode(good)
	tampered := append([]byte(nil), block.Bytes...)
	// Flip a byte of the subject's common name: the signature no longer covers it.
	i := strings.Index(string(tampered), "ok")
	tampered[i] = 'x'

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty CSR"},
		{"garbage", []byte("hello, this is not a CSR"), "neither a PEM nor a DER"},
		{"certificate instead", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `"CERTIFICATE", not CERTIFICATE REQUEST`},
		{"huge", make([]byte, maxCSRBytes+1), "more than"},
		{"tampered", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), "signature does not verify"},
		{"P-521 key", revtest.CSR(t, p521, "p521"), "P-521"},
		{"RSA-1024 key", revtest.CSR(t, rsa1024, "weak"), "at least 2048 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := DecodeCSR(tc.data)
			if err == nil {
				_, err = CheckCSR(csr)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("SHA-1 signed by openssl", func(t *testing.T) {
		dir := t.TempDir()
		key := filepath.Join(dir, "k.pem")
		out := filepath.Join(dir, "r.csr")
		revtest.RunTool(t, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=sha1", "-sha1", "-out", out)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := DecodeCSR(data)
		if err == nil {
			_, err = CheckCSR(csr)
		}
		if err == nil || !strings.Contains(err.Error(), "SHA-256 or stronger") {
			t.Fatalf("err = %v", err)
		}
	})
}
