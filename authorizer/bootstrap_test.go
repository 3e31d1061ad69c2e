package authorizer_test

import (
	"archive/zip"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// bootstrapDirs are removed by TestMain once every test has run.
var bootstrapDirs []string

// runtimeAPI is a small Lambda Runtime API: it hands out queued events on
// GET .../invocation/next and collects what the function posts back.
type runtimeAPI struct {
	events    chan [2]string // request ID, body
	mu        sync.Mutex
	responses map[string]string
	errors    map[string]string
	done      chan string
	firstNext chan time.Time
	once      sync.Once
}

func newRuntimeAPI() (*runtimeAPI, *httptest.Server) {
	r := &runtimeAPI{events: make(chan [2]string, 16), responses: map[string]string{}, errors: map[string]string{},
		done: make(chan string, 16), firstNext: make(chan time.Time, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, req *http.Request) {
		r.once.Do(func() { r.firstNext <- time.Now() })
		select {
		case ev := <-r.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", ev[0])
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:apimtls-authorizer")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5e1b4151-5ac6c58239c1e5b4aa2f9a5f")
			io.WriteString(w, ev[1])
		case <-req.Context().Done():
		}
	})
	record := func(into map[string]string) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			id := req.PathValue("id")
			r.mu.Lock()
			into[id] = string(body)
			r.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			r.done <- id
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", record(r.responses))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", record(r.errors))
	return r, httptest.NewServer(mux)
}

var packaged struct {
	sync.Mutex
	path string
}

// buildPackagedBootstrap builds apimtls, runs `apimtls authorizer package`
// and unpacks the bootstrap from the zip, as Lambda does; once per test
// binary.
func buildPackagedBootstrap(t *testing.T) string {
	t.Helper()
	packaged.Lock()
	defer packaged.Unlock()
	if packaged.path == "" {
		packaged.path = packageBootstrap(t)
	}
	return packaged.path
}

func packageBootstrap(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	// Not t.TempDir: the bootstrap outlives the first test that builds it.
	dir, err := os.MkdirTemp("", "apimtls-bootstrap-")
	if err != nil {
		t.Fatal(err)
	}
	bootstrapDirs = append(bootstrapDirs, dir)
	exe := filepath.Join(dir, "apimtls")
	if out, err := exec.Command(goBin, "build", "-o", exe, "github.com/apimtls/apimtls").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	zipPath := filepath.Join(dir, "authorizer.zip")
	// This machine's architecture, to run it here: without --arch the
	// package would be arm64, cross-compiled from this checkout.
	cmd := exec.Command(exe, "authorizer", "package", "--arch", runtime.GOARCH, "--out", zipPath)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("authorizer package: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode()&0o111 == 0 {
		t.Fatalf("zip holds %v, want one executable bootstrap", zr.File)
	}
	rc, _ := zr.File[0].Open()
	defer rc.Close()
	root := filepath.Join(dir, "task")
	os.Mkdir(root, 0o755)
	boot := filepath.Join(root, "bootstrap")
	f, err := os.OpenFile(boot, os.O_CREATE|os.O_WRONLY|os.O_EXCL, zr.File[0].Mode())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(f, rc)
	f.Close()
	return boot
}

// bootstrapRun is the packaged bootstrap running under the Runtime API.
type bootstrapRun struct {
	t      *testing.T
	rt     *runtimeAPI
	stderr *syncBuffer
	n      int
}

// startBootstrap starts the packaged bootstrap as Lambda does, configured
// for w's bucket plus env, and waits for its first GET next.
func startBootstrap(t *testing.T, w *world, env ...string) *bootstrapRun {
	t.Helper()
	boot := buildPackagedBootstrap(t)
	rt, srv := newRuntimeAPI()
	t.Cleanup(srv.Close)

	cmd := exec.Command(boot)
	cmd.Env = append(append(miniotest.Shared(t).Env(),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=apimtls-authorizer", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "_HANDLER=bootstrap",
		"APIMTLS_TRUSTSTORE_URI=s3://"+w.bucket+"/truststore.pem",
		"APIMTLS_CRL_URI=s3://"+w.bucket+"/crl/"), env...)
	b := &bootstrapRun{t: t, rt: rt, stderr: &syncBuffer{}}
	cmd.Stderr = b.stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case first := <-rt.firstNext:
		t.Logf("init duration (start to first GET next): %v", first.Sub(started))
	case <-time.After(20 * time.Second):
		t.Fatalf("bootstrap never asked for an event; stderr:\n%s", b.stderr.String())
	}
	return b
}

// invoke sends one event and returns the function's decision.
func (b *bootstrapRun) invoke(file string, cert *x509.Certificate) (bool, map[string]any) {
	t := b.t
	t.Helper()
	b.n++
	id := fmt.Sprintf("req-%d", b.n)
	sent := time.Now()
	b.rt.events <- [2]string{id, string(event(t, file, cert))}
	select {
	case got := <-b.rt.done:
		if got != id {
			t.Fatalf("answer for %s, want %s", got, id)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no answer to %s; stderr:\n%s", id, b.stderr.String())
	}
	b.rt.mu.Lock()
	resp, errBody := b.rt.responses[id], b.rt.errors[id]
	b.rt.mu.Unlock()
	if errBody != "" {
		t.Fatalf("%s: function error %s", id, errBody)
	}
	var out any
	if err := json.Unmarshal([]byte(resp), &out); err != nil {
		t.Fatalf("%s: response %q: %v", id, resp, err)
	}
	allow, ctx := outcome(t, out)
	t.Logf("%s %s: %v in %v", id, file, ctx["reason"], time.Since(sent))
	return allow, ctx
}

// logs waits until the function has logged at least n denies, then
// returns its standard error. Deny lines are written before the answer is
// posted, and copied from the pipe soon after.
func (b *bootstrapRun) logs(n int) string {
	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if logs = b.stderr.String(); strings.Count(logs, `"msg":"deny"`) >= n {
			break
		}
	}
	return logs
}

func TestPackagedBootstrapUnderRuntimeAPI(t *testing.T) {
	w := newWorld(t)
	b := startBootstrap(t, w)
	cases := []struct {
		file string
		cert *x509.Certificate
		want bool
	}{
		{"rest-request.json", w.good, true},
		{"http-v2-request.json", w.good, true},
		{"rest-request.json", w.revoked, false},
		{"http-v2-request.json", w.revoked, false},
		{"http-v2-request.json", nil, false},
	}
	for _, tc := range cases {
		if allow, ctx := b.invoke(tc.file, tc.cert); allow != tc.want {
			t.Fatalf("%s: allow=%v %v, want %v", tc.file, allow, ctx, tc.want)
		}
	}
	// The denies were logged as JSON lines with their reasons.
	logs := b.logs(3)
	if strings.Count(logs, `"msg":"deny"`) != 3 || !strings.Contains(logs, `"reason":"revoked"`) || !strings.Contains(logs, `"reason":"no_client_cert"`) {
		t.Fatalf("deny logs:\n%s", logs)
	}
	// An event that is not an authorizer event is an error, never an allow.
	b.rt.events <- [2]string{"bad", `{"hello":"world"}`}
	<-b.rt.done
	b.rt.mu.Lock()
	defer b.rt.mu.Unlock()
	if b.rt.errors["bad"] == "" || b.rt.responses["bad"] != "" {
		t.Fatalf("garbage event: response %q, error %q", b.rt.responses["bad"], b.rt.errors["bad"])
	}
}

// Items 4 and 5 of issue 21 through the packaged bootstrap reading MinIO:
// a CRL put back with a lower number is refused (crl_rollback) by a warm
// environment that saw the newer one, and an OpenSSL CA-only CRL in the
// issuing CA's place is no CRL for its clients (crl_missing); a partition
// counts for the certificates that name it.
func TestPackagedBootstrapRollbackAndScope(t *testing.T) {
	w := newWorld(t)
	key := "crl/" + w.issuingID + ".crl"
	victim := w.issuing.Client(t, "device-revoked-in-2", revtest.ClientOptions{})
	const partition = "http://crl.example.test/issuing/3.crl"
	inPartition := w.issuing.Client(t, "device-in-partition", revtest.ClientOptions{CRLURLs: []string{partition}})
	revokedInPartition := w.issuing.Client(t, "device-revoked-in-partition", revtest.ClientOptions{CRLURLs: []string{partition}})
	one := w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 1}, w.revoked)
	two := w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 2}, w.revoked, victim)
	w.put(key, two)
	b := startBootstrap(t, w, authorizer.EnvCacheTTL+"=0s")
	steps := []struct {
		name string
		put  []byte // the issuing CA's CRL object, before the request
		file string
		cert *x509.Certificate
		want revocation.Reason
	}{
		{"CRL 2, the good client", nil, "rest-request.json", w.good, revocation.OK},
		{"CRL 2, revoked in 2", nil, "http-v2-request.json", victim, revocation.Revoked},
		{"CRL 1 put back, revoked in 2", one, "rest-request.json", victim, revocation.CRLRollback},
		{"CRL 1 put back, revoked in 2", nil, "http-v2-request.json", victim, revocation.CRLRollback},
		{"CRL 1 put back, the good client", nil, "http-v2-request.json", w.good, revocation.CRLRollback},
		{"CRL 2 again", two, "rest-request.json", w.good, revocation.OK},
		{"CA-only CRL (openssl), the good client", w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 3, IDP: "onlyCA = TRUE"}), "rest-request.json", w.good, revocation.CRLMissing},
		{"CA-only CRL (openssl), revoked in 2", nil, "http-v2-request.json", victim, revocation.CRLMissing},
		{"partition (openssl), in it", w.issuing.OpenSSLCRL(t, revtest.OpenSSLCRL{Number: 4, IDP: "fullname = URI:" + partition}, revokedInPartition), "http-v2-request.json", inPartition, revocation.OK},
		{"partition (openssl), revoked in it", nil, "rest-request.json", revokedInPartition, revocation.Revoked},
		{"partition (openssl), not in it", nil, "rest-request.json", w.good, revocation.CRLMissing},
	}
	denies := 0
	for _, s := range steps {
		if s.put != nil {
			w.put(key, s.put)
		}
		allow, ctx := b.invoke(s.file, s.cert)
		if allow != (s.want == revocation.OK) || ctx["reason"] != string(s.want) {
			t.Fatalf("%s (%s): allow=%v %v, want %s", s.name, s.file, allow, ctx, s.want)
		}
		if !allow {
			denies++
		}
	}
	logs := b.logs(denies)
	for _, r := range []revocation.Reason{revocation.CRLRollback, revocation.CRLMissing, revocation.Revoked} {
		if !strings.Contains(logs, `"reason":"`+string(r)+`"`) {
			t.Errorf("no deny logged with reason %s:\n%s", r, logs)
		}
	}
	if strings.Count(logs, `"msg":"deny"`) != denies {
		t.Errorf("%d deny lines, want %d:\n%s", strings.Count(logs, `"msg":"deny"`), denies, logs)
	}
}
