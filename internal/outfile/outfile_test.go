package outfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keyForms returns a private key in every form the writer must recognise,
// each as file content.
func keyForms(t *testing.T) map[string][]byte {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	p1 := x509.MarshalPKCS1PrivateKey(rk)
	forms := map[string][]byte{
		"pkcs8 pem":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		"sec1 pem":      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"pkcs1 pem":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: p1}),
		"openssh":       []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"),
		"pkcs8 der":     p8,
		"sec1 der":      sec1,
		"pkcs1 der":     p1,
		"key in bundle": append([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...),
	}
	// Encrypted PKCS #8 and PKCS #12 as OpenSSL writes them, in DER.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		keyPath := filepath.Join(dir, "k.pem")
		os.WriteFile(keyPath, forms["pkcs8 pem"], 0o600)
		run := func(args ...string) []byte {
			out, err := exec.Command(openssl, args...).Output()
			if err != nil {
				t.Fatalf("openssl %v: %v", args, err)
			}
			return out
		}
		forms["encrypted pkcs8 pem"] = run("pkcs8", "-topk8", "-in", keyPath, "-passout", "pass:x")
		forms["encrypted pkcs8 der"] = run("pkcs8", "-topk8", "-in", keyPath, "-passout", "pass:x", "-outform", "DER")
		certPath := filepath.Join(dir, "c.pem")
		run("req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=t", "-days", "1", "-out", certPath)
		forms["pkcs12"] = run("pkcs12", "-export", "-inkey", keyPath, "-in", certPath, "-passout", "pass:x")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("openssl is needed")
	}
	return forms
}

func TestIsPrivateKey(t *testing.T) {
	for name, data := range keyForms(t) {
		if !IsPrivateKey(data) {
			t.Errorf("%s: not recognised as a private key", name)
		}
	}
	cert := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	for name, data := range map[string][]byte{"certificate": cert, "url": []byte("https://localhost:8443/\n"), "empty": nil, "der junk": {0x30, 0x03, 0x02, 0x01, 0x03}} {
		if IsPrivateKey(data) {
			t.Errorf("%s: taken for a private key", name)
		}
	}
}

// TestWriteRefuses puts every kind of key, directly and through a symlink,
// and the protected folders in the writer's way: each must be refused and
// left exactly as it was.
func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	caDir := filepath.Join(pkiDir, "ca", "root")
	os.MkdirAll(caDir, 0o700)
	os.WriteFile(filepath.Join(caDir, "cert.pem"), []byte("cert"), 0o644)
	protected := Protected{filepath.Join(pkiDir, "ca"), filepath.Join(pkiDir, "clients")}
	os.Symlink(pkiDir, filepath.Join(dir, "pki-link"))

	paths := map[string]string{
		"ca folder cert":             filepath.Join(caDir, "cert.pem"),
		"ca folder new file":         filepath.Join(caDir, "new.pem"),
		"through a linked pki":       filepath.Join(dir, "pki-link", "ca", "root", "cert.pem"),
		"clients folder":             filepath.Join(pkiDir, "clients"),
		"dangling symlink":           filepath.Join(dir, "dangling"),
		"missing folder":             filepath.Join(dir, "nosuch", "x"),
		"a directory":                dir,
		"dot-dot into the ca folder": filepath.Join(pkiDir, "x", "..", "ca", "root", "cert.pem"),
	}
	os.Symlink(filepath.Join(dir, "nothing-here"), paths["dangling symlink"])
	for name, data := range keyForms(t) {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".out")
		os.WriteFile(p, data, 0o600)
		paths["key "+name] = p
		link := p + ".link"
		os.Symlink(p, link)
		paths["symlink to key "+name] = link
	}
	for name, p := range paths {
		before := snapshot(t, dir)
		err := Write(p, []byte("new"), Public, protected)
		if err == nil {
			t.Errorf("%s: written", name)
		}
		if after := snapshot(t, dir); after != before {
			t.Errorf("%s: files changed:\n%s\n---\n%s", name, before, after)
		}
	}
}

// snapshot lists every file under dir with its mode and content.
func snapshot(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := os.Lstat(p)
		data, _ := os.ReadFile(p)
		b.WriteString(p + " " + info.Mode().String() + " " + string(data) + "\n")
		return nil
	})
	return b.String()
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "truststore.pem")
	if err := Write(plain, []byte("one"), Public, nil); err != nil {
		t.Fatal(err)
	}
	if err := Write(plain, []byte("two"), Public, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(plain); string(data) != "two" {
		t.Errorf("content %q", data)
	}
	if info, _ := os.Stat(plain); info.Mode().Perm() != Public {
		t.Errorf("mode %v", info.Mode().Perm())
	}
	// A symlink to a certificate: the certificate is replaced, the link stays.
	link := filepath.Join(dir, "link.pem")
	os.Symlink(plain, link)
	if err := Write(link, []byte("three"), Public, nil); err != nil {
		t.Fatal(err)
	}
	if li, _ := os.Lstat(link); li.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if data, _ := os.ReadFile(plain); string(data) != "three" {
		t.Errorf("target content %q", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left temporary files: %v", entries)
	}
}

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "serve-ca.pem")
	first, err := Acquire(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(p, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: %v, want ErrBusy", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(p, nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
}
