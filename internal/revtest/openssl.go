package revtest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OpenSSLCRL describes a CRL for `openssl ca -gencrl` to sign.
type OpenSSLCRL struct {
	Number int64 // the CRL number; 0 means 1
	// IDP is the body of the issuing distribution point section of the
	// openssl configuration (x509v3_config(5)), as "onlyCA = TRUE" or
	// "fullname = URI:http://crl.example/p1.crl"; empty means none.
	IDP string
}

// OpenSSL finds the openssl binary: missing, the test skips, or fails
// under CI=true, which must have it.
func OpenSSL(t testing.TB) string {
	t.Helper()
	return Tool(t, "openssl")
}

// OpenSSLCRL signs a CRL with the real `openssl ca -gencrl`, revoking certs
// (keyCompromise), and returns its DER.
func (ca *CA) OpenSSLCRL(t testing.TB, opts OpenSSLCRL, certs ...*x509.Certificate) []byte {
	t.Helper()
	openssl := OpenSSL(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	var index strings.Builder
	for _, c := range certs {
		serial := evenHex(fmt.Sprintf("%X", c.SerialNumber))
		fmt.Fprintf(&index, "R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=%s\n",
			c.NotAfter.UTC().Format("060102150405Z"), Now.Add(-time.Hour).UTC().Format("060102150405Z"), serial, c.Subject.CommonName)
	}
	number := opts.Number
	if number == 0 {
		number = 1
	}
	conf := `[ca]
default_ca = c
[c]
database = index.txt
crlnumber = crlnumber
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_crl_days = 7
crl_extensions = ext
[ext]
authorityKeyIdentifier = keyid:always
`
	if opts.IDP != "" {
		conf += "issuingDistributionPoint = critical, @idp\n[idp]\n" + opts.IDP + "\n"
	}
	for name, data := range map[string][]byte{
		"ca.pem":    PEM(ca.Cert),
		"ca.key":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"index.txt": []byte(index.String()),
		"crlnumber": []byte(evenHex(fmt.Sprintf("%X", number)) + "\n"),
		"ca.cnf":    []byte(conf),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(openssl, "ca", "-batch", "-gencrl", "-config", "ca.cnf", "-out", "crl.pem")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl ca -gencrl: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("openssl wrote no CRL:\n%s", data)
	}
	return block.Bytes
}

// evenHex pads hex digits to whole bytes, as openssl's index and crlnumber
// files want them.
func evenHex(s string) string {
	if len(s)%2 == 1 {
		return "0" + s
	}
	return s
}
