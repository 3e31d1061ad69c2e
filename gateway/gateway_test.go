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

	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
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
	k, err := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
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
	keyPEM, err := x509cert.EncodeKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, x509cert.EncodeCertificate(der), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// certPool is the pool of the CA certificates in file.
func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(data) {
		t.Fatalf("read CA certificates from %s: %v", file, err)
	}
	return pool
}

// keyPair loads a client certificate and its key.
func keyPair(t *testing.T, cert, key string) *tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

// startGateway runs the gateway on a free loopback port until the test
// ends and returns its URL and the path of the CA that signed its
// certificate.
func startGateway(t *testing.T, dir string, truststore ...*x509.Certificate) (string, string, *lockedLog) {
	t.Helper()
	return startCheckingGateway(t, dir, nil, truststore...)
}

// startCheckingGateway is startGateway with serve's revocation check
// (checker nil: none).
func startCheckingGateway(t *testing.T, dir string, checker *revocation.Checker, truststore ...*x509.Certificate) (string, string, *lockedLog) {
	t.Helper()
	report := x509cert.ValidateTruststore(x509cert.EncodeCertificates(truststore...), x509cert.ValidateOptions{Now: time.Now()})
	serverCert, serverCA, err := LocalhostCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caPath, x509cert.EncodeCertificates(serverCA), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Truststore: report, ServerCert: serverCert, Revocation: checker, Log: log.New(logs, "", 0)}
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
		{"another CA", otherCert, otherKey, "403", 0, x509cert.RefusalNoIssuer},
		{"expired", expiredCert, expiredKey, "403", 0, x509cert.RefusalExpired},
		{"SHA-1 signed", sha1Cert, sha1Key, "403", 0, x509cert.RefusalInsecureSig},
		{"five CA levels", deepCert, deepKey, "403", 0, x509cert.RefusalChainTooLong},
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
	pool := certPool(t, serverCA)
	load := func(cert, key string) *tls.Certificate { return keyPair(t, cert, key) }
	good := load(client(t, dir, "good", root, nil))
	stranger := load(client(t, dir, "stranger", mkCA(t, nil, "Other"), nil))

	forbidsAll := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer forbidsAll.Close()
	open := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))
	defer open.Close()
	// Asks for a certificate, takes none, and answers 403 without one.
	asks403 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	asks403.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	asks403.StartTLS()
	defer asks403.Close()
	plainHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plainHTTP.Close()
	closes := listener(t, func(c net.Conn) { c.Close() })
	silent := listener(t, func(c net.Conn) { <-t.Context().Done(); c.Close() })
	refused := freeAddr(t)

	P, F, U := VerdictPass, VerdictFail, VerdictUnknown
	for _, tc := range []struct {
		name    string
		opts    ProbeOptions
		want    []string
		cause   string
		verdict string
	}{
		{"gateway, trusted client", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good}, []string{P, P}, "refused during the TLS handshake", P},
		{"gateway, untrusted client", ProbeOptions{URL: url, RootCAs: pool, ClientCert: stranger}, []string{P, F}, "refused with HTTP 403", F},
		{"asks for a certificate, 403 without", ProbeOptions{URL: asks403.URL, Insecure: true, ClientCert: good}, []string{P, P}, "refused with HTTP 403", P},
		{"403 to all, never asks", ProbeOptions{URL: forbidsAll.URL, Insecure: true, ClientCert: good}, []string{F, F}, "answered with HTTP 403", F},
		{"server without mTLS", ProbeOptions{URL: open.URL, Insecure: true, ClientCert: good}, []string{F, F}, "answered with HTTP 200", F},
		{"default endpoint still open", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good, DefaultEndpoint: open.URL, Insecure: true}, []string{P, P, F}, "answers with HTTP 200", F},
		{"default endpoint closed", ProbeOptions{URL: url, RootCAs: pool, ClientCert: good, DefaultEndpoint: forbidsAll.URL, Insecure: true}, []string{P, P, P}, "refused with HTTP 403", P},
		{"default endpoint does not resolve", ProbeOptions{URL: url, RootCAs: pool, DefaultEndpoint: "https://nosuch.invalid/", Insecure: true}, []string{P, U}, "could not tell", U},
		{"accepts TCP and closes", ProbeOptions{URL: "https://" + closes + "/", Insecure: true}, []string{U}, "could not tell", U},
		{"accepts TCP and says nothing", ProbeOptions{URL: "https://" + silent + "/", Insecure: true, Timeout: 300 * time.Millisecond}, []string{U}, "could not tell", U},
		{"not TLS", ProbeOptions{URL: strings.Replace(plainHTTP.URL, "http:", "https:", 1), Insecure: true}, []string{U}, "could not tell", U},
		{"connection refused", ProbeOptions{URL: "https://" + refused + "/", Insecure: true}, []string{U}, "could not tell", U},
		{"name does not resolve", ProbeOptions{URL: "https://nosuch.invalid/", Insecure: true}, []string{U}, "could not tell", U},
		{"server certificate not trusted", ProbeOptions{URL: url}, []string{U}, "could not tell", U},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Timeout == 0 {
				tc.opts.Timeout = 5 * time.Second
			}
			res := Probe(context.Background(), tc.opts)
			var got, observed, details []string
			for _, c := range res.Checks {
				got = append(got, c.Verdict)
				observed = append(observed, c.Observed)
				details = append(details, c.Detail)
				if c.Pass != (c.Verdict == VerdictPass) {
					t.Errorf("check %q: pass %v with verdict %s", c.Name, c.Pass, c.Verdict)
				}
				if c.Verdict == VerdictUnknown && c.Detail == "" {
					t.Errorf("check %q could not tell and gives no reason", c.Name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || !strings.Contains(strings.Join(observed, "|"), tc.cause) {
				t.Fatalf("checks %v (%q; %q), want %v with %q", got, observed, details, tc.want, tc.cause)
			}
			if res.Verdict != tc.verdict || res.Pass != (tc.verdict == VerdictPass) {
				t.Fatalf("verdict %s pass %v, want %s", res.Verdict, res.Pass, tc.verdict)
			}
		})
	}
}

// listener accepts TCP connections on 127.0.0.1 and hands each to handle.
func listener(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestClientCertContext(t *testing.T) {
	root := mkCA(t, nil, "Root")
	c := root.cert
	cc := ClientCertOf(c)
	if !strings.HasSuffix(cc.Validity.NotAfter, " GMT") || len(strings.Fields(cc.Validity.NotAfter)) != 5 {
		t.Fatalf("date %q is not in API Gateway's format", cc.Validity.NotAfter)
	}
	back, err := x509cert.DecodeCertificate([]byte(cc.ClientCertPem))
	if err != nil || !back.Equal(c) {
		t.Fatalf("clientCertPem does not hold the certificate: %v", err)
	}
	if cc.SubjectDN != "CN=Root" || !strings.Contains(cc.SerialNumber, ":") {
		t.Fatalf("context %+v", cc)
	}
}

// A certificate is outside input: its subject must not forge a log line
// or paint the terminal of whoever reads the serve log.
func TestLogEscapesCertificateStrings(t *testing.T) {
	dir := t.TempDir()
	root := mkCA(t, nil, "Root")
	other := mkCA(t, nil, "Other")
	url, caPath, logs := startGateway(t, dir, root.cert)
	evil := "mallory\n2026/12/01 12:00:00 accept CN=admin\x1b[31m"
	for _, issuer := range []*ca{root, other} {
		certFile, keyFile := client(t, dir, "evil", issuer, func(c *x509.Certificate) { c.Subject.CommonName = evil })
		pair := keyPair(t, certFile, keyFile)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, caPath), Certificates: []tls.Certificate{*pair}}}}
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitFor(t, logs, "reject")
	out := logs.String()
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\n2026/12/01 12:00:00 accept CN=admin") {
		t.Fatalf("a certificate's subject reached the log raw:\n%q", out)
	}
	if !strings.Contains(out, `mallory\n2026`) {
		t.Fatalf("the subject is not in the log, escaped:\n%q", out)
	}
}

// TestProbeRevokedNeedsEvidence: a revoked client's 403 passes only as a
// refusal for revocation. Every other way a 403 comes about (a truststore
// without the client's CA, a gateway refusing everyone, one that does not
// say why, a handshake refused) must not read "revocation is enforced".
func TestProbeRevokedNeedsEvidence(t *testing.T) {
	dir := t.TempDir()
	root := mkCA(t, nil, "Root")
	other := mkCA(t, nil, "Other")
	serveURL, serverCA, _ := startGateway(t, dir, root.cert)
	pool := certPool(t, serverCA)
	load := func(cert, key string) *tls.Certificate { return keyPair(t, cert, key) }
	good := load(client(t, dir, "good", root, nil))
	revoked := load(client(t, dir, "revoked", root, nil))
	foreign := load(client(t, dir, "foreign", other, nil))

	// mTLS servers that refuse CN=revoked in different ways.
	mtls := func(verify func([][]byte, [][]*x509.Certificate) error, h http.HandlerFunc) string {
		s := httptest.NewUnstartedServer(h)
		s.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, VerifyPeerCertificate: verify}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL
	}
	isRevoked := func(r *http.Request) bool { return r.TLS.PeerCertificates[0].Subject.CommonName == "revoked" }
	refuse := func(header, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !isRevoked(r) {
				return
			}
			if header != "" {
				w.Header().Set(ReasonHeader, header)
			}
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, body)
		}
	}
	silent := mtls(nil, refuse("", `{"message":"Forbidden"}`))
	saysHeader := mtls(nil, refuse("revoked", `{"message":"Forbidden"}`))
	saysBody := mtls(nil, refuse("", `{"message":"Forbidden","reason":"revoked"}`))
	saysMissing := mtls(nil, refuse("crl_missing", `{"message":"Forbidden"}`))
	refusesAll := mtls(nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ReasonHeader, "revoked")
		w.WriteHeader(http.StatusForbidden)
	})
	cutsHandshake := mtls(func(raw [][]byte, _ [][]*x509.Certificate) error {
		if c, err := x509.ParseCertificate(raw[0]); err == nil && c.Subject.CommonName == "revoked" {
			return errors.New("revoked")
		}
		return nil
	}, func(http.ResponseWriter, *http.Request) {})

	P, F, U := VerdictPass, VerdictFail, VerdictUnknown
	for _, tc := range []struct {
		name        string
		url         string
		good, cert  *tls.Certificate
		want        []string // verdicts: without a certificate, [good,] revoked
		wantReason  string
		wantVerdict string
	}{
		{"serve, truststore without the client's CA", serveURL, good, foreign, []string{P, P, F}, x509cert.RefusalNoIssuer, F},
		{"serve, truststore without the client's CA, no good client", serveURL, nil, foreign, []string{P, F}, x509cert.RefusalNoIssuer, F},
		{"says crl_missing", saysMissing, good, revoked, []string{P, P, F}, "crl_missing", F},
		{"says nothing", silent, good, revoked, []string{P, P, U}, "", U},
		{"says revoked, no good client", saysHeader, nil, revoked, []string{P, U}, "revoked", U},
		{"says revoked but refuses the good client too", refusesAll, good, revoked, []string{P, F, U}, "revoked", F},
		{"handshake cut", cutsHandshake, good, revoked, []string{P, P, F}, "", F},
		{"says revoked in the header", saysHeader, good, revoked, []string{P, P, P}, "revoked", P},
		{"says revoked in the body", saysBody, good, revoked, []string{P, P, P}, "revoked", P},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Probe(context.Background(), ProbeOptions{URL: tc.url, RootCAs: pool, Insecure: tc.url != serveURL, GoodCert: tc.good, ClientCert: tc.cert, ClientRevoked: true, Timeout: 5 * time.Second})
			var got []string
			for _, c := range res.Checks {
				got = append(got, c.Verdict)
			}
			last := res.Checks[len(res.Checks)-1]
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || last.Reason != tc.wantReason || res.Verdict != tc.wantVerdict {
				t.Fatalf("checks %v, reason %q, verdict %s; want %v, %q, %s\n%+v", got, last.Reason, res.Verdict, tc.want, tc.wantReason, tc.wantVerdict, res.Checks)
			}
			if last.Pass != strings.Contains(last.Detail, "revocation is enforced") {
				t.Errorf("verdict %s with detail %q", last.Verdict, last.Detail)
			}
		})
	}
}
