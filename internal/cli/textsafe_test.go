package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
)

// hostile is a subject that would repaint a terminal and forge a log line.
const hostile = "evil\n\x1b[2Jforged line\u202e"

// TestOutsideStringsEscaped runs every command that prints a certificate's
// subject in text, and the printers of inventory records, on a hostile
// subject: no control character reaches the output.
func TestOutsideStringsEscaped(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: hostile}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte{1, 2, 3}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	dir := t.TempDir()
	file := filepath.Join(dir, "hostile.pem")
	os.WriteFile(file, append(one, one...), 0o644) // twice: the duplicate finding quotes the subject
	pkiDir := filepath.Join(dir, "pki")
	check := func(name, out string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\u202e") || strings.Contains(out, "\nforged line") {
			t.Errorf("%s printed a control character: %q", name, out)
		}
		if !strings.Contains(out, `evil\n\x1b[2Jforged line\u202e`) {
			t.Errorf("%s does not show the subject escaped: %q", name, out)
		}
	}
	for _, args := range [][]string{
		{"truststore", "inspect", file},
		{"truststore", "validate", file},
		{"truststore", "verify-client", "--truststore", file, file},
	} {
		var stdout bytes.Buffer
		Run(context.Background(), append([]string{"apimtls", "--dir", pkiDir}, args...), &stdout, io.Discard)
		check(strings.Join(args[:2], " "), stdout.String())
	}
	rec := &pki.Record{Name: "x", Serial: "01", Kind: pki.KindRoot, Subject: "CN=" + hostile, SHA256: strings.Repeat("0", 64), SANs: []string{hostile}, NotAfter: now.AddDate(1, 0, 0)}
	var buf bytes.Buffer
	printDetails(&buf, viewOf(&pki.Store{Dir: dir}, rec, now), now) // client show, ca show
	check("printDetails", buf.String())
	buf.Reset()
	printTree(&buf, pki.Layout{Dir: t.TempDir()}, []*pki.Record{rec}, now) // ca list
	check("printTree", buf.String())
	buf.Reset()
	printNotes(&buf, []string{hostile}) // CSR notes
	check("printNotes", buf.String())
}

// TestHostileCSRRefused: client sign refuses a CSR whose subject holds
// control characters, and writes nothing.
func TestHostileCSRRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if code, stderr := run(t, dir, "ca", "init"); code != 0 {
		t.Fatal(stderr)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device", Organization: []string{hostile}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(t.TempDir(), "d.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
	code, stderr := run(t, dir, "client", "sign", csr)
	if code == 0 || !strings.Contains(stderr, "control or formatting character") || strings.ContainsAny(stderr, "\x1b\u202e") {
		t.Fatalf("exit %d: %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "clients", "device")); err == nil {
		t.Fatal("the client was written")
	}
	if code, stderr := run(t, dir, "client", "issue", "bob", "--cn", "bob\x1b[31m"); code != exitUsage {
		t.Fatalf("--cn with an escape: exit %d: %s", code, stderr)
	}
}
