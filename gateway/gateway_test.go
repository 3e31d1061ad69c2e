package gateway

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
)

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; CI must install it", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newKey(t *testing.T) crypto.Signer {
	k, err := pki.GenerateKey(rand.Reader, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mkCA makes a CA with x509 directly, so tests can build what apimtls
// refuses to, such as a fifth level.
func mkCA(t *testing.T, parent *ca, cn string) *ca {
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: -1, KeyUsage: x509.KeyUsageCertSign}
	p, signer := tmpl, key
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{c, key}
}

// client writes a client certificate and key issued by parent into dir
// and returns the two paths.
func client(t *testing.T, dir, name string, parent *ca, edit func(*x509.Certificate)) (string, string) {
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 1, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	signer := parent.key
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.cert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pki.EncodeCertificate(der), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// startGateway runs the gateway on a free loopback port until the test
// ends and returns its URL and the path of the CA that signed its
// certificate.
func startGateway(t *testing.T, dir string, truststore ...*x509.Certificate) (string, string, *lockedLog) {
	t.Helper()
	report := pki.ValidateTruststore(pki.EncodeCertificates(truststore...), pki.ValidateOptions{Now: time.Now()})
	serverCert, serverCA, err := LocalhostCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caPath, pki.EncodeCertificates(serverCA), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Truststore: report, ServerCert: serverCert, Log: log.New(logs, "", 0)}
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "https://localhost:" + port + "/", caPath, logs
}

// TestGatewayWithCurlAndOpenSSL drives the gateway with the real curl and
// openssl s_client binaries.
func TestGatewayWithCurlAndOpenSSL(t *testing.T) {
	curl := requireTool(t, "curl")
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	root := mkCA(t, nil, "Root")
	issuing := mkCA(t, root, "Issuing")
	other := mkCA(t, nil, "Other Root")
	l2 := mkCA(t, root, "L2")
	l3 := mkCA(t, l2, "L3")
	l4 := mkCA(t, l3, "L4")
	l5 := mkCA(t, l4, "L5")
	url, serverCA, logs := startGateway(t, dir, issuing.cert, root.cert, l2.cert, l3.cert, l4.cert, l5.cert)

	goodCert, goodKey := client(t, dir, "good", issuing, nil)
	otherCert, otherKey := client(t, dir, "stranger", other, nil)
	expiredCert, expiredKey := client(t, dir, "expired", issuing, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().AddDate(-1, 0, 0), time.Now().AddDate(0, 0, -1)
	})
	sha1Cert, sha1Key := client(t, dir, "sha1", issuing, func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA1 })
	deepCert, deepKey := client(t, dir, "deep", l5, nil)

	for _, tc := range []struct {
		name       string
		cert, key  string
		wantStatus string // curl's %{http_code}
		wantExit   int
		wantLog    string
	}{
		{"accepted", goodCert, goodKey, "200", 0, "accept CN=good"},
		{"no certificate", "", "", "000", 35, "no client certificate, handshake ended"},
		{"another CA", otherCert, otherKey, "403", 0, pki.ReasonNoIssuer},
		{"expired", expiredCert, expiredKey, "403", 0, pki.ReasonExpired},
		{"SHA-1 signed", sha1Cert, sha1Key, "403", 0, pki.ReasonInsecureSig},
		{"five CA levels", deepCert, deepKey, "403", 0, pki.ReasonChainTooLong},
	} {
		t.Run("curl "+tc.name, func(t *testing.T) {
			args := []string{"-sS", "-o", filepath.Join(dir, "body"), "-w", "%{http_code}", "--cacert", serverCA}
			if tc.cert != "" {
				args = append(args, "--cert", tc.cert, "--key", tc.key)
			}

			cmd := exec.Command(curl, append(args, url)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if tc.name == "SHA-1 signed" {
				// OpenSSL's default security level will not even load a
				// SHA-1 certificate; lower it so the server decides.
				conf := filepath.Join(dir, "seclevel0.cnf")
				os.WriteFile(conf, []byte("openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\nCipherString = DEFAULT@SECLEVEL=0\n"), 0o644)
				cmd.Env = append(os.Environ(), "OPENSSL_CONF="+conf)
			}
			out, err := cmd.Output()
			exit := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				exit = ee.ExitCode()
			}
			if string(out) != tc.wantStatus || exit != tc.wantExit {
				t.Fatalf("curl: status %s exit %d, want %s and %d\n%s", out, exit, tc.wantStatus, tc.wantExit, stderr.String())
			}
			body, _ := os.ReadFile(filepath.Join(dir, "body"))
			if tc.wantStatus == "403" && strings.TrimSpace(string(body)) != `{"message":"Forbidden"}` {
				t.Errorf("403 body %q", body)
			}
			if tc.wantStatus == "200" && !strings.Contains(string(body), `"clientCertPem"`) {
				t.Errorf("200 body lacks the clientCert context: %s", body)
			}
			waitFor(t, logs, tc.wantLog)
		})
	}

	sClient := func(extra ...string) string {
		host := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")
		args := append([]string{"s_client", "-connect", strings.Replace(host, "localhost", "127.0.0.1", 1), "-servername", "localhost", "-CAfile", serverCA, "-ign_eof"}, extra...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	t.Run("openssl s_client accepted", func(t *testing.T) {
		out := sClient("-cert", goodCert, "-key", goodKey)
		if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, "Verify return code: 0 (ok)") {
			t.Fatalf("s_client with a good certificate:\n%s", out)
		}
	})
	t.Run("openssl s_client without a certificate", func(t *testing.T) {
		out := sClient()
		if strings.Contains(out, "HTTP/1.1") || !strings.Contains(out, "alert") {
			t.Fatalf("s_client without a certificate got through:\n%s", out)
		}
	})
	t.Run("openssl s_client another CA", func(t *testing.T) {
		out := sClient("-cert", otherCert, "-key", otherKey)
		if !strings.Contains(out, "HTTP/1.1 403") {
			t.Fatalf("s_client with a stranger's certificate:\n%s", out)
		}
	})
}

// lockedLog is the gateway's log as the test reads it: the server's
// goroutines write it while the test reads, so every access holds the lock.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func waitFor(t *testing.T, logs *lockedLog, want string) {
	t.Helper()
	for range 50 {
		if strings.Contains(logs.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("gateway log lacks %q:\n%s", want, logs.String())
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	root := mkCA(t, nil, "Root")
	url, serverCA, _ := startGateway(t, dir, root.cert)
	pool := x509.NewCertPool()
	data, _ := os.ReadFile(serverCA)
	pool.AppendCertsFromPEM(data)
	load := func(cert, key string) *tls.Certificate {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return &pair
	}
	good := load(client(t, dir, "good", root, nil))
	stranger := load(client(t, dir, "stranger", mkCA(t, nil, "Other"), nil))

	forbidsAll := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer forbidsAll.Close()
	open := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))
	defer open.Close()

	for _, tc := range []struct {
		name  string
		opts  ProbeOptions
		want  []bool
		cause string
	}{
		{"gateway, trusted client", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good}, []bool{true, true}, "refused during the TLS handshake"},
		{"gateway, untrusted client", ProbeOptions{URL: url, RootCAs: pool, ClientCert: stranger}, []bool{true, false}, "refused with HTTP 403"},
		{"server answering 403 to all", ProbeOptions{URL: forbidsAll.URL, Insecure: true, ClientCert: good}, []bool{true, false}, "refused with HTTP 403"},
		{"server without mTLS", ProbeOptions{URL: open.URL, Insecure: true, ClientCert: good}, []bool{false, true}, "accepted with HTTP 200"},
		{"default endpoint still open", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good, DefaultEndpoint: open.URL, Insecure: true}, []bool{true, true, false}, "answers with HTTP 200"},
		{"default endpoint closed", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good, DefaultEndpoint: forbidsAll.URL, Insecure: true}, []bool{true, true, true}, "refused with HTTP 403"},
		{"nothing listening", ProbeOptions{URL: "https://127.0.0.1:1/", Insecure: true}, []bool{false}, "no answer"},
		{"server certificate not trusted", ProbeOptions{URL: url}, []bool{false}, "no answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Timeout = 5 * time.Second
			res := Probe(context.Background(), tc.opts)
			var got []bool
			var observed []string
			for _, c := range res.Checks {
				got = append(got, c.Pass)
				observed = append(observed, c.Observed)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || !strings.Contains(strings.Join(observed, "|"), tc.cause) {
				t.Fatalf("checks %v (%q), want %v with %q", got, observed, tc.want, tc.cause)
			}
			allPass := true
			for _, p := range tc.want {
				allPass = allPass && p
			}
			if res.Pass != allPass {
				t.Fatalf("Pass = %v, want %v", res.Pass, allPass)
			}
		})
	}
}

func TestClientCertContext(t *testing.T) {
	root := mkCA(t, nil, "Root")
	c := root.cert
	cc := ClientCertOf(c)
	if !strings.HasSuffix(cc.Validity.NotAfter, " GMT") || len(strings.Fields(cc.Validity.NotAfter)) != 5 {
		t.Fatalf("date %q is not in API Gateway's format", cc.Validity.NotAfter)
	}
	back, err := pki.DecodeCertificate([]byte(cc.ClientCertPem))
	if err != nil || !back.Equal(c) {
		t.Fatalf("clientCertPem does not hold the certificate: %v", err)
	}
	if cc.SubjectDN != "CN=Root" || !strings.Contains(cc.SerialNumber, ":") {
		t.Fatalf("context %+v", cc)
	}
}
