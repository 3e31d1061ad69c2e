package authorizer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.StopShared()
	for _, dir := range bootstrapDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func s3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:           miniotest.Region,
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, ""),
		RetryMaxAttempts: 1,
	})
}

// countingS3 counts the GETs the handler makes and the 304s it gets.
type countingS3 struct {
	authorizer.S3API
	gets, notModified atomic.Int32
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.gets.Add(1)
	out, err := c.S3API.GetObject(ctx, in, opts...)
	if err != nil && strings.Contains(err.Error(), "304") {
		c.notModified.Add(1)
	}
	return out, err
}

// world is a PKI published to a MinIO bucket as apimtls publishes it.
type world struct {
	t                 *testing.T
	api               *s3.Client
	bucket            string
	root, issuing     *revtest.CA
	rootID, issuingID string
	good, revoked     *x509.Certificate
	clock             time.Time
	logs              *syncBuffer
	counting          *countingS3
	h                 *authorizer.Handler
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the JSON log lines written since the last call.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	s.b.Reset()
	return out
}

func newWorld(t *testing.T) *world {
	srv := miniotest.Shared(t)
	w := &world{t: t, api: s3Client(srv.Endpoint), clock: revtest.Now, logs: &syncBuffer{}}
	w.bucket = miniotest.Bucket("apimtls-authz")
	if _, err := w.api.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(w.bucket)}); err != nil {
		t.Fatal(err)
	}
	w.root = revtest.NewCA(t, "root", nil)
	w.issuing = revtest.NewCA(t, "issuing", w.root)
	w.rootID, w.issuingID = revocation.KeyID(w.root.Cert), revocation.KeyID(w.issuing.Cert)
	w.good = w.issuing.Client(t, "device-good", revtest.ClientOptions{})
	w.revoked = w.issuing.Client(t, "device-revoked", revtest.ClientOptions{})
	w.put("truststore.pem", revtest.PEM(w.root.Cert, w.issuing.Cert))
	w.put("crl/"+w.rootID+".crl", w.root.CRL(t, revtest.CRLOptions{}))
	w.put("crl/"+w.issuingID+".crl", w.issuing.CRL(t, revtest.CRLOptions{}, w.revoked))
	w.counting = &countingS3{S3API: w.api}
	w.h = w.handler(w.counting, nil)
	return w
}

func (w *world) config(env map[string]string) authorizer.Config {
	base := map[string]string{
		authorizer.EnvTruststoreURI: "s3://" + w.bucket + "/truststore.pem",
		authorizer.EnvCRLURI:        "s3://" + w.bucket + "/crl/",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := authorizer.ConfigFromEnv(func(k string) string { return base[k] })
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func (w *world) handler(api authorizer.S3API, env map[string]string) *authorizer.Handler {
	h := authorizer.NewHandler(w.config(env), api, slog.New(slog.NewJSONHandler(w.logs, nil)))
	h.Now = func() time.Time { return w.clock }
	return h
}

func (w *world) put(key string, data []byte) {
	w.t.Helper()
	if _, err := w.api.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		w.t.Fatal(err)
	}
}

// event loads an aws-lambda-go sample event and puts the certificate in it
// as API Gateway does: PEM with its newlines, in the payload's place.
func event(t *testing.T, file string, cert *x509.Certificate) json.RawMessage {
	t.Helper()
	return eventB(t, file, cert)
}

func mustJSON(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}

func eventB(t testing.TB, file string, cert *x509.Certificate) json.RawMessage {
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	rc := ev["requestContext"].(map[string]any)
	holder := rc["identity"]
	if ev["version"] == "2.0" {
		holder = rc["authentication"]
	}
	cc := holder.(map[string]any)["clientCert"].(map[string]any)
	if cert == nil {
		delete(holder.(map[string]any), "clientCert")
	} else {
		cc["clientCertPem"] = string(revtest.PEM(cert))
		cc["serialNumber"] = cert.SerialNumber.Text(16)
	}
	out, _ := json.Marshal(ev)
	return out
}

var payloads = []string{"rest-request.json", "http-v2-request.json"}

// outcome reads a response of any form as allow/deny plus context.
func outcome(t *testing.T, resp any) (bool, map[string]any) {
	t.Helper()
	data, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		IsAuthorized   *bool          `json:"isAuthorized"`
		PrincipalID    string         `json:"principalId"`
		Context        map[string]any `json:"context"`
		PolicyDocument struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.IsAuthorized != nil {
		return *r.IsAuthorized, r.Context
	}
	st := r.PolicyDocument.Statement
	if r.PrincipalID == "" || r.PolicyDocument.Version != "2012-10-17" || len(st) != 1 || len(st[0].Resource) != 1 ||
		strings.Contains(st[0].Resource[0], "*") || st[0].Action[0] != "execute-api:Invoke" {
		t.Fatalf("malformed policy response %s", data)
	}
	return st[0].Effect == "Allow", r.Context
}

func (w *world) decide(h *authorizer.Handler, file string, cert *x509.Certificate) (bool, map[string]any) {
	w.t.Helper()
	resp, err := h.Handle(context.Background(), event(w.t, file, cert))
	if err != nil {
		w.t.Fatalf("Handle: %v", err)
	}
	return outcome(w.t, resp)
}

// expectDeny checks a deny and its one log line.
func (w *world) expectDeny(h *authorizer.Handler, file string, cert *x509.Certificate, reason revocation.Reason) {
	w.t.Helper()
	w.logs.lines(w.t)
	allow, ctx := w.decide(h, file, cert)
	if allow || ctx["reason"] != string(reason) {
		w.t.Fatalf("%s: allow=%v reason=%v, want deny %s", file, allow, ctx["reason"], reason)
	}
	lines := w.logs.lines(w.t)
	if len(lines) != 1 || lines[0]["msg"] != "deny" || lines[0]["reason"] != string(reason) || lines[0]["level"] != "WARN" {
		w.t.Fatalf("deny log lines %v, want one with reason %s", lines, reason)
	}
}

func TestGoodAllowedRevokedDenied(t *testing.T) {
	w := newWorld(t)
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) {
			allow, ctx := w.decide(w.h, p, w.good)
			if !allow {
				t.Fatalf("good client denied: %v", ctx)
			}
			want := revocation.Describe(w.good)
			if ctx["subject"] != want.Subject || ctx["issuer"] != want.Issuer || ctx["serialNumber"] != want.SerialNumber ||
				ctx["fingerprintSha256"] != want.FingerprintSHA256 || ctx["notAfter"] != want.NotAfter || ctx["reason"] != "ok" {
				t.Fatalf("context %v, want %+v", ctx, want)
			}
			w.expectDeny(w.h, p, w.revoked, revocation.Revoked)
		})
	}
	// HTTP API payload 2.0 with the IAM policy form.
	h := w.handler(w.api, map[string]string{authorizer.EnvHTTPResponse: "policy"})
	resp, err := h.Handle(context.Background(), event(t, "http-v2-request.json", w.good))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(resp)
	if !bytes.Contains(data, []byte(`"Effect":"Allow"`)) || !bytes.Contains(data, []byte(`abcdef123/test/GET/request`)) {
		t.Fatalf("policy form: %s", data)
	}
}

func TestCacheTTLAndConditionalGet(t *testing.T) {
	w := newWorld(t)
	if allow, _ := w.decide(w.h, payloads[0], w.good); !allow {
		t.Fatal("good client denied")
	}
	// truststore + the CRLs of the issuing CA and of the root
	if n := w.counting.gets.Load(); n != 3 {
		t.Fatalf("cold invocation made %d GETs, want 3", n)
	}
	// Revoke the good client. Inside the TTL nothing is asked of S3 and the
	// cached CRL still allows it: that is the price of the TTL.
	w.put("crl/"+w.issuingID+".crl", w.issuing.CRL(t, revtest.CRLOptions{Number: 2}, w.revoked, w.good))
	w.clock = w.clock.Add(59 * time.Second)
	if allow, _ := w.decide(w.h, payloads[1], w.good); !allow {
		t.Fatal("denied inside the TTL: the cache was not used")
	}
	if n := w.counting.gets.Load(); n != 3 {
		t.Fatalf("warm invocation inside the TTL made %d GETs, want none", n-3)
	}
	// After the TTL: conditional GETs; unchanged objects answer 304, the
	// changed CRL is fetched and the revocation seen.
	w.clock = w.clock.Add(2 * time.Second)
	w.expectDeny(w.h, payloads[0], w.good, revocation.Revoked)
	if n, nm := w.counting.gets.Load(), w.counting.notModified.Load(); n != 5 || nm != 1 {
		t.Fatalf("after the TTL: %d GETs (%d not modified), want 2 GETs and 1 not modified (the truststore)", n-3, nm)
	}
}

func TestBadCRLsDenied(t *testing.T) {
	w := newWorld(t)
	foreign := revtest.NewCA(t, "issuing", nil)
	key := "crl/" + w.issuingID + ".crl"
	for _, tc := range []struct {
		name string
		data []byte
		want revocation.Reason
	}{
		{"corrupt", []byte("this is not a CRL"), revocation.CRLInvalid},
		{"truncated", w.issuing.CRL(t, revtest.CRLOptions{})[:100], revocation.CRLInvalid},
		{"expired", w.issuing.CRL(t, revtest.CRLOptions{ThisUpdate: revtest.Now.Add(-8 * 24 * time.Hour), NextUpdate: revtest.Now.Add(-time.Minute)}), revocation.CRLExpired},
		{"foreign-signed", foreign.CRL(t, revtest.CRLOptions{}), revocation.CRLBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.put(key, tc.data)
			h := w.handler(w.api, nil)
			for _, p := range payloads {
				w.expectDeny(h, p, w.good, tc.want)
			}
			// Soft-fail lets the good client through and says so.
			soft := w.handler(w.api, map[string]string{authorizer.EnvSoftFail: "1"})
			allow, ctx := w.decide(soft, payloads[0], w.good)
			if !allow || ctx["softFailed"] != string(tc.want) {
				t.Fatalf("soft-fail: allow=%v %v", allow, ctx)
			}
			w.logs.lines(t)
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := w.api.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
		w.expectDeny(w.handler(w.api, nil), payloads[1], w.good, revocation.CRLMissing)
	})
}

func TestRefusals(t *testing.T) {
	w := newWorld(t)
	stranger := revtest.NewCA(t, "issuing", nil).Client(t, "stranger", revtest.ClientOptions{})
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) {
			w.expectDeny(w.h, p, stranger, revocation.UnknownIssuer)
			w.expectDeny(w.h, p, nil, revocation.NoClientCert)
			garbage := bytes.Replace(event(t, p, w.good), []byte("MII"), []byte("XYZ"), 1)
			w.logs.lines(t)
			resp, err := w.h.Handle(context.Background(), garbage)
			if allow, ctx := outcome(t, resp); err != nil || allow || ctx["reason"] != string(revocation.BadCertificate) {
				t.Fatalf("garbage PEM: %v %v", ctx, err)
			}
		})
	}
	t.Run("empty truststore", func(t *testing.T) {
		w.put("empty.pem", []byte("\n"))
		h := w.handler(w.api, map[string]string{authorizer.EnvTruststoreURI: "s3://" + w.bucket + "/empty.pem"})
		w.expectDeny(h, payloads[0], w.good, revocation.EmptyTruststore)
	})
	t.Run("S3 down", func(t *testing.T) {
		h := w.handler(s3Client("http://127.0.0.1:1"), nil)
		for _, p := range payloads {
			w.expectDeny(h, p, w.good, revocation.EmptyTruststore)
		}
	})
	t.Run("not an authorizer event", func(t *testing.T) {
		for _, ev := range []string{`not json`, `{}`, `{"type":"TOKEN","authorizationToken":"x","methodArn":"arn"}`, `{"version":"2.0"}`} {
			resp, err := w.h.Handle(context.Background(), json.RawMessage(ev))
			if err == nil || resp != nil {
				t.Fatalf("%s: %v, %v; want an error", ev, resp, err)
			}
		}
	})
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := authorizer.ConfigFromEnv(env(map[string]string{
		authorizer.EnvTruststoreURI: "s3://b/ts.pem", authorizer.EnvCRLURI: "s3://b/crl/",
		authorizer.EnvExternal: "crl,ocsp", authorizer.EnvCacheTTL: "30", authorizer.EnvSoftFail: "1",
	}))
	if err != nil || cfg.TruststoreBucket != "b" || cfg.TruststoreKey != "ts.pem" || cfg.CRLPrefix != "crl/" ||
		!cfg.ExternalCRL || !cfg.ExternalOCSP || cfg.CacheTTL != 30*time.Second || !cfg.SoftFail || !cfg.SimpleResponse {
		t.Fatalf("%+v, %v", cfg, err)
	}
	_, err = authorizer.ConfigFromEnv(env(map[string]string{
		authorizer.EnvTruststoreURI: "https://b/ts.pem", authorizer.EnvCRLURI: "s3://b/crl",
		authorizer.EnvExternal: "ldap", authorizer.EnvCacheTTL: "forever", authorizer.EnvSoftFail: "yes",
	}))
	for _, name := range []string{authorizer.EnvTruststoreURI, authorizer.EnvCRLURI, authorizer.EnvExternal, authorizer.EnvCacheTTL, authorizer.EnvSoftFail} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
