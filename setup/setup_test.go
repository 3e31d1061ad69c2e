package setup

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/awstest"
	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.StopShared()
	os.Exit(code)
}

var (
	ctx = context.Background()
)

const certArn = awstest.CertArn

type env struct {
	t     *testing.T
	fake  *fakeapigw.Fake
	store *s3store.Client
	raw   *s3.Client
	r     *Runner
	in    Input
}

// newEnv: the fake control plane (AWS's quotas, IAM propagation and Lambda
// states) on a test clock, MinIO for S3, an empty PKI directory, an HTTP API
// with routes, and no domain, bucket or authorizer yet.
func newEnv(t *testing.T) *env {
	t.Helper()
	a := awstest.New(t)
	f, store, raw, ro := a.Fake, a.Store, a.Raw, a.Rollout
	f.AddRoutes("h1", "GET /pets", "POST /pets")
	bucket := miniotest.Bucket("apimtls-setup")
	e := &env{t: t, fake: f, store: store, raw: raw, r: &Runner{Rollout: ro, Bucket: store}}
	e.in = Input{Dir: filepath.Join(t.TempDir(), "pki"), Domain: "api.example.com", Bucket: bucket, CertificateArn: certArn,
		APIIDs: []string{"h1"}, Clients: []string{"alice"}, Authorizer: true, CreateBucket: true, Region: "eu-west-1",
		Package: bootstrapZip(t), Arch: "arm64", Wait: rollout.Wait{Timeout: time.Hour}}
	return e
}

func bootstrapZip(t *testing.T) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	h := &zip.FileHeader{Name: "bootstrap"}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("bootstrap"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (e *env) run() (*Result, error) {
	return e.r.Run(ctx, e.in)
}

func ran(res *Result) []string {
	var out []string
	for _, s := range res.Steps {
		if s.State == StateRan {
			out = append(out, s.Name)
		}
	}
	return out
}

func names(res *Result) []string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Name)
	}
	return out
}

// versions counts the truststore's versions in the bucket.
func (e *env) versions() int {
	v, err := e.store.Versions(ctx, e.in.Bucket, "truststore.pem")
	if errors.Is(err, s3store.ErrNoSuchBucket) {
		return -1
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return len(v)
}

// finished checks the end state of a complete setup, and that nothing
// was made twice.
func (e *env) finished() {
	t := e.t
	t.Helper()
	last, err := pki.LastPush(e.in.Dir)
	if err != nil || last == nil {
		t.Fatalf("no push recorded: %v", err)
	}
	d := e.fake.Domain("api.example.com")
	if d.TruststoreURI != "s3://"+e.in.Bucket+"/truststore.pem" || d.TruststoreVersion != last.VersionID || len(d.Mappings) != 1 {
		t.Fatalf("domain %s %s (pushed %s), %d mappings", d.TruststoreURI, d.TruststoreVersion, last.VersionID, len(d.Mappings))
	}
	if n := e.versions(); n != 1 {
		t.Fatalf("%d truststore versions in the bucket, want 1", n)
	}
	if !e.fake.API("h1").DisableDefault {
		t.Fatal("default endpoint of h1 still on")
	}
	if a := e.fake.Authorizers("h1"); len(a) != 1 {
		t.Fatalf("%d authorizers", len(a))
	}
	fn, ok := e.fake.Function("apimtls-authorizer-h1")
	if !ok || len(fn.Policy) != 1 {
		t.Fatalf("function %v, %d permissions", ok, len(fn.Policy))
	}
	for k, v := range e.fake.StageAuth("h1", "$default") {
		if !strings.HasPrefix(v, "CUSTOM:") {
			t.Fatalf("%s served as %s", k, v)
		}
	}
	if _, err := os.Stat(pki.Layout{Dir: e.in.Dir}.ClientCert("alice")); err != nil {
		t.Fatal(err)
	}
}

func TestSetupFromNothingThenNothingToDo(t *testing.T) {
	e := newEnv(t)
	res, err := e.run()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ran(res), ","), strings.Join(names(res), ","); got != want {
		t.Fatalf("ran %q, want every step %q", got, want)
	}
	e.finished()
	// A plan alone (dry run) reads the state once; a run that finds
	// nothing to do reads no more than that: its plan is its check.
	reads := len(e.fake.Requests())
	dry := e.in
	dry.DryRun = true
	if _, err := e.r.Run(ctx, dry); err != nil {
		t.Fatal(err)
	}
	planReads := len(e.fake.Requests()) - reads
	before := len(e.fake.MutatingRequests())
	reads = len(e.fake.Requests())
	res, err = e.run()
	if err != nil {
		t.Fatal(err)
	}
	if runReads := len(e.fake.Requests()) - reads; runReads > planReads {
		t.Fatalf("a run with nothing to do made %d control-plane requests, its plan alone %d: steps were checked twice", runReads, planReads)
	}
	t.Logf("control-plane requests: plan %d, run with nothing to do %d", planReads, len(e.fake.Requests())-reads)
	if res.Changed || len(ran(res)) != 0 || !strings.Contains(res.Summary, "nothing to do") {
		t.Fatalf("second run: changed %v, ran %q\n%s", res.Changed, ran(res), res.Summary)
	}
	if n := len(e.fake.MutatingRequests()) - before; n != 0 {
		t.Fatalf("second run made %d changes at AWS", n)
	}
	e.finished()
}

func TestSetupDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.in.DryRun = true
	res, err := e.run()
	if err != nil {
		t.Fatal(err)
	}
	if len(e.fake.MutatingRequests()) != 0 || e.versions() != -1 || res.Changed {
		t.Fatalf("dry run changed things: %d requests, bucket versions %d", len(e.fake.MutatingRequests()), e.versions())
	}
	if _, err := os.Stat(e.in.Dir); !os.IsNotExist(err) {
		t.Fatalf("dry run made the PKI directory: %v", err)
	}
	for _, s := range res.Steps {
		if s.State != StateTodo {
			t.Fatalf("step %q is %s in a plan from nothing", s.Name, s.State)
		}
	}
	// Half-done: the dry run plans only what is left and changes nothing.
	e.in.DryRun = false
	e.in.Authorizer = false
	if _, err := e.run(); err != nil {
		t.Fatal(err)
	}
	e.in.DryRun, e.in.Authorizer = true, true
	before := len(e.fake.MutatingRequests())
	res, err = e.run()
	if err != nil {
		t.Fatal(err)
	}
	last := res.Steps[len(res.Steps)-1]
	if last.State != StateTodo || res.Steps[0].State != StateDone || len(e.fake.MutatingRequests()) != before || e.versions() != 1 {
		t.Fatalf("plan %+v; %d new requests", res.Steps, len(e.fake.MutatingRequests())-before)
	}
}

var errCrash = errors.New("crash injected")

// A crash after each step; the next run finishes without repeating a
// finished step or making anything twice.
func TestSetupResumesAfterACrashInEachStep(t *testing.T) {
	all := []string{"root CA root", "issuing CA issuing", "client alice", "truststore build", "bucket ", "truststore push", "domain api.example.com",
		"default endpoint of h1", "revocation authorizer on h1"}
	for k := range all {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			e := newEnv(t)
			all[4] = "bucket " + e.in.Bucket
			n := 0
			e.r.AfterStep = func(name string) error {
				if n++; n == k+1 {
					return errCrash
				}
				return nil
			}
			res, err := e.run()
			var se *StepError
			if !errors.As(err, &se) || se.Step != all[k] || strings.Join(names(res), ",") != strings.Join(all, ",") {
				t.Fatalf("crash after %q: err %v, steps %q", all[k], err, names(res))
			}
			e.r.AfterStep = nil
			res, err = e.run()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(ran(res), ","), strings.Join(all[k+1:], ","); got != want {
				t.Fatalf("re-run ran %q, want only %q", got, want)
			}
			e.finished()
		})
	}
}

// A failure says which step and why, and the next run continues there.
func TestSetupFailureNamesTheStep(t *testing.T) {
	e := newEnv(t)
	e.in.CertificateArn = ""
	res, err := e.run()
	var se *StepError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "give --certificate-arn") {
		t.Fatalf("err %v", err)
	}
	if res == nil || res.Steps[0].State != StateRan {
		t.Fatalf("steps before the failure should have run: %+v", res)
	}
	e.in.CertificateArn = certArn
	res, err = e.run()
	if err != nil {
		t.Fatal(err)
	}
	if ran(res)[0] != "domain api.example.com" {
		t.Fatalf("re-run ran %q", ran(res))
	}
	e.finished()
}

// With a URL, setup ends with a probe: here a local gateway serving what
// setup published stands in for the domain, and one that trusts another
// CA fails the probe and the run.
func TestSetupEndsWithAProbe(t *testing.T) {
	e := newEnv(t)
	if _, err := e.run(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pki.Layout{Dir: e.in.Dir}.Truststore())
	if err != nil {
		t.Fatal(err)
	}
	good, goodCA := serveWith(t, data)
	e.in.ProbeURL, e.in.ProbeRootCAs = good, goodCA
	res, err := e.run()
	if err != nil || res.Probe == nil || !res.Probe.Pass || res.Changed {
		t.Fatalf("probe of the set-up endpoint: %v, %+v", err, res.Probe)
	}
	other := x509cert.EncodeCertificates(otherCA(t))
	bad, badCA := serveWith(t, other)
	e.in.ProbeURL, e.in.ProbeRootCAs = bad, badCA
	res, err = e.run()
	var se *StepError
	if !errors.As(err, &se) || res.Probe == nil || res.Probe.Pass {
		t.Fatalf("a gateway that refuses alice passed the probe: %v", err)
	}
}

// serveWith runs the local gateway with a truststore and returns its URL
// and the pool that verifies it.
func serveWith(t *testing.T, truststore []byte) (string, *x509.CertPool) {
	t.Helper()
	report := x509cert.ValidateTruststore(truststore, x509cert.ValidateOptions{Now: time.Now()})
	cert, ca, err := gateway.LocalhostCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&gateway.Server{Truststore: report, ServerCert: cert}).Serve(sctx, l) }()
	t.Cleanup(func() { stop(); <-done })
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "https://localhost:" + port + "/", pool
}

func otherCA(t *testing.T) *x509.Certificate {
	t.Helper()
	s, err := pki.OpenStore(filepath.Join(t.TempDir(), "other"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	is, err := s.CreateCA(pki.CAParams{Name: "other", CommonName: "Other Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1})
	if err != nil {
		t.Fatal(err)
	}
	return is.Cert
}

// Every API the domain already routes to loses its default endpoint, not
// only those named with --api-id.
func TestSetupClosesEveryMappedAPI(t *testing.T) {
	e := newEnv(t)
	if _, err := e.run(); err != nil {
		t.Fatal(err)
	}
	e.fake.AddAPI(&fakeapigw.API{ID: "h2", Stages: map[string]bool{"$default": true}})
	e.fake.Map("api.example.com", "h2", "$default")
	res, err := e.run()
	if err != nil {
		t.Fatal(err)
	}
	if !e.fake.API("h2").DisableDefault || !slices.Contains(ran(res), "default endpoint of h2") {
		t.Fatalf("h2, mapped to the domain, still bypasses it; ran %q", ran(res))
	}
}

// A domain CloudFormation manages: the plan warns that pointing it at the
// truststore drifts from the stack's template, and the run still makes the
// change (a warning, not a refusal); once in place, no warning.
func TestSetupWarnsOfDrift(t *testing.T) {
	e := newEnv(t)
	e.fake.AddDomain(&fakeapigw.Domain{Name: "api.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: certArn})
	e.fake.SetTags("api.example.com", map[string]string{apigw.TagStackName: "edge-api", apigw.TagLogicalID: "ApiDomain"})
	e.fake.Map("api.example.com", "h1", "$default")
	step := func(res *Result) Step {
		for _, s := range res.Steps {
			if s.Name == "domain api.example.com" {
				return s
			}
		}
		t.Fatalf("no domain step in %q", names(res))
		return Step{}
	}
	e.in.DryRun = true
	res, err := e.run()
	if err != nil {
		t.Fatal(err)
	}
	if s := step(res); s.State != StateTodo || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "api.example.com is managed by CloudFormation (stack edge-api, resource ApiDomain)") ||
		!strings.Contains(res.Summary, "\n  warning: api.example.com is managed by CloudFormation") {
		t.Fatalf("plan: domain step %+v, warnings %q, summary:\n%s", s, res.Warnings, res.Summary)
	}
	e.in.DryRun = false
	if res, err = e.run(); err != nil {
		t.Fatal(err)
	}
	if s := step(res); s.State != StateRan {
		t.Fatalf("run's domain step: %+v", s)
	}
	if d := e.fake.Domain("api.example.com"); d.TruststoreURI == "" {
		t.Fatal("the warning kept setup from pointing the domain")
	}
	if res, err = e.run(); err != nil || len(res.Warnings) != 0 {
		t.Fatalf("a finished setup warns %q (%v)", res.Warnings, err)
	}
}
