package rollout

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/s3store"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// env is the fake control plane with AWS's quotas on a test clock that
// apigw waits by too, and an in-memory object store in place of S3.
type env struct {
	t       *testing.T
	fake    *fakeapigw.Fake
	clock   *fakeapigw.TestClock
	objects *memObjects
	r       *Rollout
	events  *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: fakeapigw.NewTestClock(t0), objects: &memObjects{data: map[string][][]byte{}}, events: &recorder{}}
	e.fake = fakeapigw.New(func(_ context.Context, caller, bucket, key, version string) ([]byte, error) {
		if e.objects.denied[caller] {
			return nil, fakeapigw.ErrAccessDenied
		}
		data, _, err := e.objects.Pull(context.Background(), bucket, key, version)
		return data, err
	})
	e.fake.Clock = e.clock
	e.fake.UpdatingPolls = 2
	t.Cleanup(e.fake.Close)
	creds := credentials.NewStaticCredentialsProvider("AKIDCALLER", "secret", "")
	ep := aws.String(e.fake.URL())
	api := &apigw.Client{
		V1:    apigateway.New(apigateway.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
		V2:    apigatewayv2.New(apigatewayv2.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
		ACM:   acm.New(acm.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
		Clock: e.clock,
	}
	e.r = &Rollout{API: api, Objects: e.objects, Validate: func(data []byte) []string {
		if strings.Contains(string(data), "BROKEN") {
			return []string{"[pem] not a certificate"}
		}
		return nil
	}, Events: e.events}
	e.fake.AddCertificate(&fakeapigw.Certificate{Arn: publicCert, Type: "AMAZON_ISSUED", Status: "ISSUED"})
	e.fake.AddCertificate(&fakeapigw.Certificate{Arn: importedCert, Type: "IMPORTED", Status: "ISSUED"})
	e.fake.AddCertificate(&fakeapigw.Certificate{Arn: ownerCert, Type: "AMAZON_ISSUED", Status: "ISSUED"})
	return e
}

const (
	publicCert   = "arn:aws:acm:eu-west-1:111122223333:certificate/public"
	importedCert = "arn:aws:acm:eu-west-1:111122223333:certificate/imported"
	ownerCert    = "arn:aws:acm:eu-west-1:111122223333:certificate/owner"
)

// domain puts an AVAILABLE Regional TLS_1_2 domain in place.
func (e *env) domain(name string, rest bool, mutate ...func(*fakeapigw.Domain)) {
	d := &fakeapigw.Domain{Name: name, REST: rest, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: publicCert}
	for _, m := range mutate {
		m(d)
	}
	e.fake.AddDomain(d)
}

// push stores a new version of a truststore and returns it.
func (e *env) push(key string, data []byte) apigw.Truststore {
	return apigw.Truststore{URI: "s3://truststores/" + key, Version: e.objects.put("truststores", key, data)}
}

// updates counts the domain updates and creations the fake received.
func (e *env) updates(domain string) int {
	n := 0
	for _, r := range e.fake.MutatingRequests() {
		if strings.HasSuffix(r.Path, "/domainnames/"+domain) || (strings.HasSuffix(r.Path, "/domainnames") && strings.Contains(r.Body, domain)) {
			n++
		}
	}
	return n
}

// changes are the calls that changed something (ACM's reads are POSTs).
func (e *env) changes() []fakeapigw.Request {
	var out []fakeapigw.Request
	for _, r := range e.fake.MutatingRequests() {
		if r.Path != "/" {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) throttled() int {
	n := 0
	for _, w := range e.events.waits() {
		if w.Reason == "throttled" {
			n++
		}
	}
	return n
}

// memObjects is a versioned object store in memory.
type memObjects struct {
	mu     sync.Mutex
	data   map[string][][]byte
	risks  []string
	denied map[string]bool
}

func (m *memObjects) put(bucket, key string, data []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := bucket + "/" + key
	m.data[k] = append(m.data[k], data)
	return fmt.Sprintf("v%d", len(m.data[k]))
}

func (m *memObjects) Pull(_ context.Context, bucket, key, version string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.data[bucket+"/"+key]
	if len(vs) == 0 {
		return nil, "", fmt.Errorf("read s3://%s/%s: %w", bucket, key, s3store.ErrNotFound)
	}
	if version == "" {
		version = fmt.Sprintf("v%d", len(vs))
	}
	var n int
	if _, err := fmt.Sscanf(version, "v%d", &n); err != nil || n < 1 || n > len(vs) {
		return nil, "", fmt.Errorf("read s3://%s/%s version %s: %w", bucket, key, version, s3store.ErrNotFound)
	}
	return vs[n-1], version, nil
}

func (m *memObjects) Versions(_ context.Context, bucket, key string) ([]s3store.Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []s3store.Version
	vs := m.data[bucket+"/"+key]
	for i := len(vs); i >= 1; i-- {
		out = append(out, s3store.Version{VersionID: fmt.Sprintf("v%d", i), IsLatest: i == len(vs)})
	}
	return out, nil
}

func (m *memObjects) ReadRisks(context.Context, string, string, string) ([]string, error) {
	return m.risks, nil
}

// recorder keeps every event.
type recorder struct {
	mu    sync.Mutex
	all   []apigw.Wait
	notes []string
}

func (r *recorder) Status(string, string) {}
func (r *recorder) Done()                 {}
func (r *recorder) Wait(w apigw.Wait) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, w)
}
func (r *recorder) Note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, s)
}
func (r *recorder) waits() []apigw.Wait {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apigw.Wait(nil), r.all...)
}

// caPEM is a self-signed CA certificate, valid around t0, as the fake's
// own truststore checks want it; ca=false makes a leaf, which it warns on.
func caPEM(t *testing.T, cn string, ca bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour), BasicConstraintsValid: true, IsCA: ca,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
