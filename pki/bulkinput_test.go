package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/x509cert"
)

// writeCSR writes a CSR signed by signer; with foreign set, its public key
// is swapped for foreign's afterwards, so the signature is another key's.
func writeCSR(t *testing.T, path string, signer crypto.Signer, cn string, foreign crypto.PublicKey) {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if foreign != nil {
		mine, _ := x509.MarshalPKIXPublicKey(signer.Public())
		theirs, _ := x509.MarshalPKIXPublicKey(foreign)
		if !bytes.Contains(der, mine) || len(mine) != len(theirs) {
			t.Fatal("cannot swap the CSR's key")
		}
		der = bytes.Replace(der, mine, theirs, 1)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkedCSR is the CSR of a fresh P-256 key with common name cn, as
// client sign --csr-dir reads it from a device; dir receives the file.
func checkedCSR(t *testing.T, dir, cn string) (*x509cert.CheckedCSR, crypto.Signer) {
	t.Helper()
	key, _ := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	writeCSR(t, filepath.Join(dir, cn+".csr"), key, cn, nil)
	items, _, _, err := ReadCSRDir(dir)
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	return items[0].Params.CSR, key
}

// TestReadCSRDir: every bad file is a failure naming it; good CSRs become
// clients named after their files.
func TestReadCSRDir(t *testing.T) {
	dir := t.TempDir()
	good, _ := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	other, _ := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	writeCSR(t, filepath.Join(dir, "good-1.csr"), good, "good", nil)
	writeCSR(t, filepath.Join(dir, "foreign.csr"), good, "foreign", other.Public())
	os.WriteFile(filepath.Join(dir, "garbage.csr"), []byte("not a csr"), 0o644)
	items, fails, _, err := ReadCSRDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Params.Name != "good-1" || items[0].Params.CSR == nil {
		t.Fatalf("items %+v", items)
	}
	got := map[string]string{}
	for _, f := range fails {
		got[f.Source] = f.Reason
	}
	if len(got) != 2 || !strings.Contains(got["foreign.csr"], "signature") || got["garbage.csr"] == "" {
		t.Fatalf("failures %+v", fails)
	}
}

// TestReadBulkCSV reads rows, refuses a bad header, and reports bad rows
// by line.
func TestReadBulkCSV(t *testing.T) {
	items, fails, err := ReadBulkCSV(strings.NewReader("name,cn,dns,uri,email,days\na,A,x.example;y.example,spiffe://e/a,a@e.example,7\nb,,bad name,,,\nc,C,,,,x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Params.Name != "a" || len(items[0].Params.DNSNames) != 2 || items[0].Params.Days != 7 || items[0].Source != "line 2" {
		t.Fatalf("items %+v", items)
	}
	if len(fails) != 2 || fails[0].Source != "line 3" || fails[1].Source != "line 4" {
		t.Fatalf("failures %+v", fails)
	}
	for _, bad := range []string{"", "name\n", "name,cn,colour\n", "name,cn,name\n"} {
		if _, _, err := ReadBulkCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}

// TestReadBulkCSVSyntaxError: a CSV that does not parse to its end is
// refused whole, naming the line, before anything is issued (issue 21: an
// unbalanced quote on line 10 of 17 silently dropped lines 11 to 17).
func TestReadBulkCSVSyntaxError(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,cn\n")
	for i := 2; i <= 17; i++ {
		if i == 10 {
			b.WriteString("dev-10,\"Device 10\n")
			continue
		}
		fmt.Fprintf(&b, "dev-%d,Device %d\n", i, i)
	}
	items, fails, err := ReadBulkCSV(strings.NewReader(b.String()))
	if !errors.Is(err, ErrCSVSyntax) || !strings.Contains(err.Error(), "line 10 ") {
		t.Fatalf("err = %v, want ErrCSVSyntax naming line 10", err)
	}
	if len(items) != 0 || len(fails) != 0 {
		t.Fatalf("a CSV that does not parse gave %d items and %d failures", len(items), len(fails))
	}
	// A bare quote inside an unquoted field is an error too.
	if _, _, err := ReadBulkCSV(strings.NewReader("name,cn\na,A\nb,B\"x\nc,C\n")); !errors.Is(err, ErrCSVSyntax) || !strings.Contains(err.Error(), "line 3 ") {
		t.Fatalf("bare quote: %v", err)
	}
}
