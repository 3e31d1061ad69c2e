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

	"github.com/apimtls/apimtls/internal/miniotest"
)

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

// buildPackagedBootstrap builds apimtls, runs `apimtls authorizer package`
// and unpacks the bootstrap from the zip, as Lambda does.
func buildPackagedBootstrap(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	dir := t.TempDir()
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

func TestPackagedBootstrapUnderRuntimeAPI(t *testing.T) {
	w := newWorld(t)
	boot := buildPackagedBootstrap(t)
	rt, srv := newRuntimeAPI()
	defer srv.Close()

	cmd := exec.Command(boot)
	cmd.Env = append(miniotest.Shared(t).Env(),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=apimtls-authorizer", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "_HANDLER=bootstrap",
		"APIMTLS_TRUSTSTORE_URI=s3://"+w.bucket+"/truststore.pem",
		"APIMTLS_CRL_URI=s3://"+w.bucket+"/crl/")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	select {
	case first := <-rt.firstNext:
		t.Logf("init duration (start to first GET next): %v", first.Sub(started))
	case <-time.After(20 * time.Second):
		t.Fatalf("bootstrap never asked for an event; stderr:\n%s", stderr.String())
	}

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
	for i, tc := range cases {
		id := fmt.Sprintf("req-%d", i)
		sent := time.Now()
		rt.events <- [2]string{id, string(event(t, tc.file, tc.cert))}
		select {
		case got := <-rt.done:
			if got != id {
				t.Fatalf("answer for %s, want %s", got, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no answer to %s; stderr:\n%s", id, stderr.String())
		}
		rt.mu.Lock()
		resp, errBody := rt.responses[id], rt.errors[id]
		rt.mu.Unlock()
		if errBody != "" {
			t.Fatalf("%s: function error %s", id, errBody)
		}
		var out any
		if err := json.Unmarshal([]byte(resp), &out); err != nil {
			t.Fatalf("%s: response %q: %v", id, resp, err)
		}
		allow, ctx := outcome(t, out)
		if allow != tc.want {
			t.Fatalf("%s (%s): allow=%v %v, want %v", id, tc.file, allow, ctx, tc.want)
		}
		t.Logf("%s %s: %v in %v", id, tc.file, ctx["reason"], time.Since(sent))
	}
	// The denies were logged as JSON lines with their reasons. They are
	// written before the answer is posted, and copied from the pipe soon
	// after.
	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if logs = stderr.String(); strings.Count(logs, `"msg":"deny"`) >= 3 {
			break
		}
	}
	if strings.Count(logs, `"msg":"deny"`) != 3 || !strings.Contains(logs, `"reason":"revoked"`) || !strings.Contains(logs, `"reason":"no_client_cert"`) {
		t.Fatalf("deny logs:\n%s", logs)
	}
	// An event that is not an authorizer event is an error, never an allow.
	rt.events <- [2]string{"bad", `{"hello":"world"}`}
	<-rt.done
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.errors["bad"] == "" || rt.responses["bad"] != "" {
		t.Fatalf("garbage event: response %q, error %q", rt.responses["bad"], rt.errors["bad"])
	}
}
