package rotate

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/awstest"
	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/setup"
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
	clock *fakeapigw.TestClock
	r     *Runner
	in    Input
}

// newEnv: the fake control plane on a test clock and MinIO, brought by
// apimtls setup to a domain with mTLS, root, issuing CA and client alice;
// then a CSR-signed device "dev" of the issuing CA.
func newEnv(t *testing.T) *env {
	t.Helper()
	a := awstest.New(t)
	f, store, clock, ro := a.Fake, a.Store, a.Clock, a.Rollout
	bucket := miniotest.Bucket("apimtls-rotate")
	dir := filepath.Join(t.TempDir(), "pki")
	sr := &setup.Runner{Rollout: ro, Bucket: store}
	if _, err := sr.Run(ctx, setup.Input{Dir: dir, Domain: "api.example.com", Bucket: bucket, CertificateArn: certArn, APIIDs: []string{"h1"},
		Clients: []string{"alice"}, CreateBucket: true, Wait: rollout.Wait{Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fake: f, store: store, clock: clock, r: &Runner{Rollout: ro, Bucket: store},
		in: Input{Dir: dir, CA: setup.IssuingName, Domain: "api.example.com", Bucket: bucket, Wait: rollout.Wait{Timeout: time.Hour}}}
	e.device("dev")
	return e
}

// device signs a CSR-signed client of the issuing CA.
func (e *env) device(name string) {
	st, err := pki.OpenStore(e.in.Dir, true)
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	key, err := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	if err != nil {
		e.t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		e.t.Fatal(err)
	}
	parsed, err := x509.ParseCertificateRequest(der)
	if err != nil {
		e.t.Fatal(err)
	}
	csr, err := x509cert.CheckCSR(parsed)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := st.IssueClient(pki.ClientParams{Name: name, CA: setup.IssuingName, CSR: csr}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) run() (*Result, error) { return e.r.Run(ctx, e.in) }

// published is the truststore version the domain points at, as the fake
// holds it, read from the bucket.
func (e *env) published() []byte {
	e.t.Helper()
	d := e.fake.Domain("api.example.com")
	bucket, key, err := rollout.ParseURI(d.TruststoreURI)
	if err != nil {
		e.t.Fatal(err)
	}
	data, _, err := e.store.Pull(ctx, bucket, key, d.TruststoreVersion)
	if err != nil {
		e.t.Fatal(err)
	}
	return data
}

// accepted serves the published truststore with gateway.Server over real
// TLS and says whether the client's chain and key get through.
// accepted says whether serve, with the published truststore, accepts the
// client ref names: a client name (its current certificate) or a serial
// (any certificate, superseded ones included).
func (e *env) accepted(ref string) bool {
	t := e.t
	t.Helper()
	report, err := x509cert.CheckTruststore(e.published(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _, err := gateway.LocalhostCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- (&gateway.Server{Truststore: report, ServerCert: serverCert}).Serve(sctx, l) }()
	defer func() { stop(); <-done }()
	dir := e.recordDir(ref)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	resp, err := hc.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusForbidden:
		return false
	}
	t.Fatalf("serve answered %s", resp.Status)
	return false
}

func revoke(t *testing.T, dir, name string) {
	st, err := pki.OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Revoke(pki.KindClient, name, pki.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
}

// Phases 1-3: both the old client and its re-issue are accepted with the
// published truststore; --finish refuses while the device still holds a
// valid certificate of the old CA; after it, only the new client is.
func TestRotateWithoutRefusingAClient(t *testing.T) {
	e := newEnv(t)
	if !e.accepted("alice") {
		t.Fatal("alice refused before the rotation")
	}
	oldAlice := e.serialOf("alice")
	start := e.clock.Now()
	res, err := e.run()
	if err != nil {
		t.Fatal(err)
	}
	if res.Phase != PhaseReissued || len(res.Ran) != 3 || res.Successor != "issuing-2" {
		t.Fatalf("phase %d, ran %q, successor %s", res.Phase, res.Ran, res.Successor)
	}
	if waited := e.clock.Now().Sub(start); waited < DefaultSettle {
		t.Fatalf("the run took %s of the clock: it did not wait for the truststore to settle", waited)
	}
	if len(res.Reissued) != 1 || res.Reissued[0].Name != "alice" || res.Reissued[0].NewName != "alice" || res.Reissued[0].Serial != oldAlice || e.serialOf("alice") == oldAlice {
		t.Fatalf("reissued %+v", res.Reissued)
	}
	if len(res.Devices) != 1 || res.Devices[0].Name != "dev" || len(res.Dependents) != 1 {
		t.Fatalf("devices %+v, dependents %+v", res.Devices, res.Dependents)
	}
	if !e.accepted(oldAlice) || !e.accepted("alice") {
		t.Fatal("during the rotation both the old and the new client must be accepted")
	}
	// Nothing to do on a second run.
	before := len(e.fake.MutatingRequests())
	if res, err = e.run(); err != nil || res.Changed || len(e.fake.MutatingRequests()) != before {
		t.Fatalf("second run: %v, changed %v", err, res != nil && res.Changed)
	}

	e.in.Finish = true
	_, err = e.run()
	var de *DependentsError
	if !errors.As(err, &de) || len(de.Dependents) != 1 || de.Dependents[0].Name != "dev" || len(e.fake.MutatingRequests()) != before {
		t.Fatalf("--finish with a valid device of the old CA: %v", err)
	}
	if rec, _ := Load(e.in.Dir, "issuing"); rec.Phase != PhaseReissued {
		t.Fatalf("a refused finish recorded phase %d", rec.Phase)
	}
	revoke(t, e.in.Dir, "dev")
	if res, err = e.run(); err != nil || res.Phase != PhaseFinished {
		t.Fatalf("finish after the device was revoked: %v", err)
	}
	if e.accepted(oldAlice) || !e.accepted("alice") {
		t.Fatal("after --finish only the new client must be accepted")
	}
	if res.CRLUntil == nil || res.CRLUntil.Before(time.Now().AddDate(0, 11, 0)) {
		t.Fatalf("CRL kept until %v", res.CRLUntil)
	}
}

func TestFinishForceListsTheRefused(t *testing.T) {
	e := newEnv(t)
	e.in.Finish, e.in.Force, e.in.Settle = true, true, -1
	res, err := e.run()
	if err != nil || res.Phase != PhaseFinished || len(res.Refused) != 1 || res.Refused[0].Name != "dev" {
		t.Fatalf("%v: %+v", err, res)
	}
}

var errCrash = errors.New("crash injected")

// A crash after each phase (and after the re-issue of a client): the next
// run resumes there, making nothing twice.
func TestRotateResumesAfterACrashInEachPhase(t *testing.T) {
	steps := []string{PhaseNames[PhaseSuccessor], PhaseNames[PhasePublished], "reissue alice", PhaseNames[PhaseReissued], PhaseNames[PhaseFinished]}
	for k, step := range steps {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			revoke(t, e.in.Dir, "dev")
			oldAlice := e.serialOf("alice")
			e.in.Finish, e.in.Settle = true, time.Second
			e.r.AfterPhase = func(s string) error {
				if s == step {
					return errCrash
				}
				return nil
			}
			if _, err := e.run(); !errors.Is(err, errCrash) {
				t.Fatalf("crash after %q: %v", step, err)
			}
			e.r.AfterPhase = nil
			res, err := e.run()
			if err != nil || res.Phase != PhaseFinished {
				t.Fatalf("resume after %q: %v", step, err)
			}
			if k < len(steps)-1 && len(res.Ran) == 0 {
				t.Fatalf("resume after %q ran nothing", step)
			}
			st, err := pki.OpenStore(e.in.Dir, false)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			cas, _ := st.CAs()
			clients, _ := st.List(func(r *pki.Record) bool { return r.Kind == pki.KindClient && r.Name == "alice" })
			if len(cas) != 3 || len(clients) != 2 || len(res.Reissued) != 1 || res.Reissued[0].Serial != oldAlice {
				t.Fatalf("%d CAs, %d alice records, re-issues %+v: something was made twice or lost", len(cas), len(clients), res.Reissued)
			}
			if e.accepted(oldAlice) || !e.accepted("alice") {
				t.Fatal("after the resumed finish only the new client must be accepted")
			}
		})
	}
}

func TestNextName(t *testing.T) {
	for in, want := range map[string]string{"issuing": "issuing-2", "issuing-2": "issuing-3", "root-9": "root-10", "a-b": "a-b-2"} {
		if got := NextName(in); got != want {
			t.Errorf("NextName(%q) = %q, want %q", in, got, want)
		}
	}
}

// recordDir is the folder of a client's certificate, by name or serial.
func (e *env) recordDir(ref string) string {
	e.t.Helper()
	st, err := pki.OpenStore(e.in.Dir, false)
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Lookup(pki.KindClient, ref)
	if err != nil {
		if rec, err = st.LookupSerial(ref); err != nil || rec == nil {
			e.t.Fatalf("no client %s: %v", ref, err)
		}
	}
	return st.Layout().RecordDir(rec)
}

// serialOf is a client's current serial.
func (e *env) serialOf(name string) string {
	e.t.Helper()
	st, err := pki.OpenStore(e.in.Dir, false)
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Lookup(pki.KindClient, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.Serial
}

// A successor made by hand (here with an encrypted key, as one would for an
// encrypted or KMS-held CA) is adopted when named with --successor, and
// phase 3 signs with it through its passphrase; one that merely has the
// default name is not adopted.
func TestRotateAdoptsANamedSuccessor(t *testing.T) {
	e := newEnv(t)
	st, err := pki.OpenStore(e.in.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("a long enough passphrase")
	for _, name := range []string{"issuing-next", NextName(setup.IssuingName)} {
		if _, err := st.CreateCA(pki.CAParams{Name: name, Parent: setup.RootName, CommonName: name, KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Passphrase: pass}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if _, err := e.run(); err == nil || !strings.Contains(err.Error(), "was not made by this rotation") {
		t.Fatalf("a CA that only has the default name was adopted: %v", err)
	}
	// The refused run made nothing: naming another successor is allowed.
	e.in.Successor = "issuing-next"
	asked := 0
	e.in.SuccessorPassphrase = func() ([]byte, error) { asked++; return pass, nil }
	res, err := e.run()
	if err != nil || res.Phase != PhaseReissued || res.Successor != "issuing-next" || len(res.Reissued) != 1 || asked == 0 {
		t.Fatalf("named successor: %v, %+v, passphrase asked %d times", err, res, asked)
	}
	if !e.accepted("alice") {
		t.Fatal("alice, renewed from the adopted successor, is refused")
	}
}
