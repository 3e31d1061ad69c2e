package revtest

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tool is the path of a command the tests need; without it the test is
// skipped, except under CI=true, where it fails: CI must install it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// RunTool runs a command the tests need and fails the test with its
// output when it does not exit 0.
func RunTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(Tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// OCSP is an `openssl ocsp` responder for one CA on 127.0.0.1. Its URL is
// known before it starts, so that the certificates it answers for can
// name it.
type OCSP struct {
	URL  string
	port int
	cmd  *exec.Cmd
}

// ReserveOCSP picks a free port for a responder.
func ReserveOCSP(t testing.TB) *OCSP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return &OCSP{URL: fmt.Sprintf("http://127.0.0.1:%d", port), port: port}
}

// Start runs the responder, signed by ca itself, answering good for good,
// revoked (keyCompromise, an hour ago) for revoked and unknown for any
// other serial. OpenSSL 3.0 takes only a port number and listens on every
// interface; clients ask it on 127.0.0.1. It stops with the test.
func (o *OCSP) Start(t testing.TB, ca *CA, good, revoked []*x509.Certificate) {
	t.Helper()
	openssl := Tool(t, "openssl")
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", PEM(ca.Cert))
	keyFile := write("ca.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	var index strings.Builder
	for _, c := range good {
		fmt.Fprintf(&index, "V\t%s\t\t%X\tunknown\t/CN=%s\n", c.NotAfter.UTC().Format("060102150405Z"), c.SerialNumber, c.Subject.CommonName)
	}
	revokedAt := Now.Add(-time.Hour).UTC().Format("060102150405Z")
	for _, c := range revoked {
		fmt.Fprintf(&index, "R\t%s\t%s,keyCompromise\t%X\tunknown\t/CN=%s\n", c.NotAfter.UTC().Format("060102150405Z"), revokedAt, c.SerialNumber, c.Subject.CommonName)
	}
	indexFile := write("index.txt", []byte(index.String()))

	o.cmd = exec.Command(openssl, "ocsp", "-index", indexFile, "-port", fmt.Sprint(o.port),
		"-rsigner", caFile, "-rkey", keyFile, "-CA", caFile, "-nmin", "5", "-ignore_err")
	stderr, err := o.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Stop)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for said := false; sc.Scan(); {
			if !said && strings.Contains(strings.ToLower(sc.Text()), "waiting for ocsp client connections") {
				close(ready)
				said = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("openssl ocsp did not start")
	}
}

// Stop ends the responder: clients then find nobody listening.
func (o *OCSP) Stop() {
	if o.cmd != nil && o.cmd.Process != nil {
		o.cmd.Process.Kill()
		o.cmd.Wait()
	}
}
