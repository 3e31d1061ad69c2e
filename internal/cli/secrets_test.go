//go:build unix

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
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// TestPassphraseFileLikeOpenSSL encrypts a key with the passphrase apimtls
// reads from each shape of file and opens it with openssl pkey -passin
// file: on the same file: both must take the same passphrase.
func TestPassphraseFileLikeOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"LF":                 "secret1234\n",
		"CRLF":               "secret1234\r\n",
		"double newline":     "secret1234\n\n",
		"no newline":         "secret1234",
		"second line":        "secret1234\nsomething else\n",
		"trailing space":     "secret1234 \n",
		"CR inside the line": "secret\r1234\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, "pass")
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			pass, err := readSecretFile(file)
			if err != nil {
				t.Fatal(err)
			}
			pemKey, err := x509cert.EncodeKey(key, pass)
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(dir, "key.pem")
			if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(openssl, "pkey", "-in", keyFile, "-passin", "file:"+file, "-noout").CombinedOutput(); err != nil {
				t.Fatalf("openssl cannot open the key with the same file (apimtls read %q): %v\n%s", pass, err, out)
			}
		})
	}
	for _, bad := range []string{"", "\nsecret1234\n"} {
		file := filepath.Join(dir, "empty")
		os.WriteFile(file, []byte(bad), 0o600)
		if _, err := readSecretFile(file); err == nil {
			t.Errorf("%q: an empty passphrase was accepted", bad)
		}
	}
}

// TestSecretReadInterrupted: a signal while apimtls waits on a FIFO that no
// one writes ends the wait with a clear error instead of being swallowed.
func TestSecretReadInterrupted(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the signal has arrived; the FIFO has no writer and never will
	_, err := secretSource{what: "passphrase", file: fifo}.read(ctx)
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want errInterrupted", err)
	}
}

// TestPassphraseAskedBeforeLock: while a command that signs waits for the
// CA's passphrase (a FIFO no one has written yet), the inventory is not
// locked, so every other command can run. Every command that signs with a
// CA's key is in the table.
func TestPassphraseAskedBeforeLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	s, err := pki.OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(pki.CAParams{Name: "root", CommonName: "root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Passphrase: []byte("secret1234")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("secret1234\n"), 0o600)
	if code := Run(context.Background(), []string{"apimtls", "client", "issue", "old", "--dir", dir, "--passphrase-file", pass}, io.Discard, io.Discard); code != 0 {
		t.Fatal("setup: client issue old")
	}
	csr := filepath.Join(t.TempDir(), "dev.csr")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev"}}, key)
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
	for i, args := range [][]string{
		{"client", "issue", "alice"},
		{"client", "issue", "--count", "2", "--name-template", "device-{n}"},
		{"client", "sign", csr, "--name", "dev"},
		{"client", "renew", "old"},
		{"ca", "intermediate", "issuing", "--parent", "root"},
		{"ca", "crl", "root"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), fmt.Sprintf("fifo%d", i))
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skip(err)
			}
			var stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- Run(context.Background(), append(append([]string{"apimtls"}, args...), "--dir", dir, "--passphrase-file", fifo), io.Discard, &stderr)
			}()
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once the command opened it to read
			if err != nil {
				t.Fatal(err)
			}
			db, err := os.Open(filepath.Join(dir, "inventory.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(db.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Errorf("the inventory is locked while %q waits for a passphrase: %v", args, err)
			} else {
				syscall.Flock(int(db.Fd()), syscall.LOCK_UN)
			}
			db.Close()
			io.WriteString(w, "secret1234\n")
			w.Close()
			if code := <-done; code != 0 {
				t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
			}
		})
	}
}

// TestPassphraseFileNeedsEncrypt: ca init --passphrase-file without
// --encrypt is refused, not taken as a wish to encrypt nor ignored.
func TestPassphraseFileNeedsEncrypt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("secret1234\n"), 0o600)
	var stderr bytes.Buffer
	code := Run(context.Background(), []string{"apimtls", "ca", "init", "--dir", dir, "--passphrase-file", file}, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--passphrase-file needs --encrypt") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("the PKI directory was created")
	}
}
