package authorizer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/cli"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
)

// truthTable is every way a client certificate can stand, and the one
// decision serve, the authorizer (payloads 1.0 and 2.0) and probe --client
// must all come to. A row is one line: a name, how the world is arranged
// (a method of truthWorld), and the reason (revocation.OK: allowed).
var truthTable = []struct {
	name    string
	arrange func(*truthWorld)
	want    revocation.Reason
}{
	{"valid", (*truthWorld).valid, revocation.OK},
	{"revoked by serial", (*truthWorld).revokedBySerial, revocation.Revoked},
	{"superseded by a renewal", (*truthWorld).superseded, revocation.Revoked},
	{"superseded, kept, then key compromised", (*truthWorld).supersededKeyCompromised, revocation.Revoked},
	{"superseded, kept for an overlap", (*truthWorld).supersededKept, revocation.OK},
	{"issued under a revoked intermediate", (*truthWorld).underRevokedCA, revocation.Revoked},
	{"CRL missing", (*truthWorld).crlMissing, revocation.CRLMissing},
	{"CRL expired", (*truthWorld).crlExpired, revocation.CRLExpired},
	{"CRL rolled back to a lower number", (*truthWorld).crlRolledBack, revocation.CRLRollback},
	{"CRL scoped to CA certificates", (*truthWorld).crlOnlyCAs, revocation.CRLMissing},
	{"CRL of another partition", (*truthWorld).crlOtherPartition, revocation.CRLMissing},
	{"partner CA via OCSP: good", (*truthWorld).partnerGood, revocation.OK},
	{"partner CA via OCSP: revoked", (*truthWorld).partnerRevoked, revocation.Revoked},
	{"partner CA via OCSP: unknown", (*truthWorld).partnerUnknown, revocation.OCSPUnknown},
}

// TestRevocationTruthTable: for every row, serve (the CLI command, real
// TLS), the packaged handler with API Gateway's own event JSON for REST
// (1.0) and HTTP (2.0) reading the PKI from MinIO, and probe --client with
// a good client beside it agree, and agree with the table.
func TestRevocationTruthTable(t *testing.T) {
	for _, row := range truthTable {
		t.Run(row.name, func(t *testing.T) {
			w := newTruthWorld(t)
			row.arrange(w)
			w.publish()
			w.start()
			got := w.decide()
			if w.later != nil {
				w.later()
				got = w.decideAfterChange(got)
			}
			for who, reason := range got {
				if reason != row.want {
					t.Errorf("%s: %s, want %s", who, reason, row.want)
				}
			}
			w.checkProbe(row.want)
		})
	}
}

// truthWorld is one PKI (root, issuing CA "iss" with the good client,
// CA "devices" with the row's client), published to a MinIO bucket as crl
// push does and to a CRL directory that serve reads.
type truthWorld struct {
	t        *testing.T
	s        *pki.Store
	dir      string // the PKI directory
	crlDir   string // what serve reads, as the bucket's crl/ prefix
	api      *s3.Client
	bucket   string
	partner  *revtest.CA
	external bool
	caCerts  map[string]*x509.Certificate // once published
	// subject is the certificate the row presents: a client of the
	// inventory by name, or files.
	subject subject
	// crl replaces a CA's CRL as ca crl signs it; missing leaves it out.
	crl     map[string][]byte
	missing map[string]bool
	// later, when set, changes what is published after a first round of
	// decisions (a rollback needs the newer CRL seen first).
	later func()

	h       *authorizer.Handler
	url     string
	serveCA string
	stop    func()
}

type subject struct {
	name          string // in the inventory
	chain, key    string // else these files
	expectRevoked bool   // probe --expect-revoked: the operator knows it is
}

func newTruthWorld(t *testing.T) *truthWorld {
	root := t.TempDir()
	w := &truthWorld{t: t, dir: filepath.Join(root, "pki"), crlDir: filepath.Join(root, "crl"), crl: map[string][]byte{}, missing: map[string]bool{}}
	if err := os.Mkdir(w.crlDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := pki.OpenStore(w.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w.s = s
	for _, ca := range []pki.CAParams{
		{Name: "root", CommonName: "Truth Root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1},
		{Name: "iss", Parent: "root", CommonName: "Truth Issuing", KeyType: x509cert.ECDSAP256, MaxPathLen: -1},
		{Name: "devices", Parent: "root", CommonName: "Truth Devices", KeyType: x509cert.ECDSAP256, MaxPathLen: -1},
	} {
		if _, err := s.CreateCA(ca); err != nil {
			t.Fatal(err)
		}
	}
	w.issue("good", "iss")
	srv := miniotest.Shared(t)
	w.api = s3Client(srv.Endpoint)
	w.bucket = miniotest.Bucket("apimtls-truth")
	if _, err := w.api.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(w.bucket)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *truthWorld) issue(name, ca string) *pki.Record {
	w.t.Helper()
	res, err := w.s.IssueClient(pki.ClientParams{Name: name, CA: ca, KeyType: x509cert.ECDSAP256, Days: 90})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Record
}

func (w *truthWorld) revoke(kind pki.Kind, ref string, reason pki.Reason) {
	w.t.Helper()
	if _, err := w.s.Revoke(kind, ref, reason); err != nil {
		w.t.Fatal(err)
	}
}

// keep copies a client's current chain and key aside: what a device (or
// whoever copied it) still holds after a renewal.
func (w *truthWorld) keep(name string) subject {
	w.t.Helper()
	l := w.s.Layout()
	dir := w.t.TempDir()
	out := subject{chain: filepath.Join(dir, "chain.pem"), key: filepath.Join(dir, "key.pem")}
	for from, to := range map[string]string{l.ClientChain(name): out.chain, l.ClientKey(name): out.key} {
		data, err := os.ReadFile(from)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
	return out
}

func (w *truthWorld) renew(name string, p pki.RenewParams) {
	w.t.Helper()
	cur, err := w.s.Lookup(pki.KindClient, name)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.s.RenewClients([]*pki.Record{cur}, p); err != nil {
		w.t.Fatal(err)
	}
}

// The rows.

func (w *truthWorld) valid() {
	w.issue("dev", "devices")
	w.subject = subject{name: "dev"}
}

func (w *truthWorld) revokedBySerial() {
	rec := w.issue("dev", "devices")
	w.revoke(pki.KindClient, rec.Serial, pki.ReasonUnspecified)
	w.subject = subject{name: "dev"}
}

func (w *truthWorld) superseded() {
	w.issue("dev", "devices")
	w.subject = w.keep("dev")
	w.renew("dev", pki.RenewParams{})
}

func (w *truthWorld) supersededKeyCompromised() {
	w.issue("dev", "devices")
	w.subject = w.keep("dev")
	w.renew("dev", pki.RenewParams{ReuseKey: true, KeepPrevious: 7 * 24 * time.Hour})
	w.revoke(pki.KindClient, "dev", pki.ReasonKeyCompromise)
}

func (w *truthWorld) supersededKept() {
	w.issue("dev", "devices")
	w.subject = w.keep("dev")
	w.renew("dev", pki.RenewParams{KeepPrevious: 7 * 24 * time.Hour})
}

func (w *truthWorld) underRevokedCA() {
	w.issue("dev", "devices")
	w.revoke(pki.KindIntermediate, "devices", pki.ReasonKeyCompromise)
	w.subject = subject{name: "dev"}
}

func (w *truthWorld) crlMissing() {
	w.valid()
	w.missing["devices"] = true
}

func (w *truthWorld) crlExpired() {
	w.valid()
	now := time.Now()
	w.crl["devices"] = w.signCRL("devices", now.Add(-48*time.Hour), now.Add(-24*time.Hour), 100, nil)
}

func (w *truthWorld) crlRolledBack() {
	rec := w.issue("dev", "devices")
	first, err := w.s.SignCRL("devices", nil, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	w.revoke(pki.KindClient, rec.Serial, pki.ReasonKeyCompromise)
	w.subject = subject{name: "dev"}
	w.later = func() { w.putCRL("devices", first.DER) }
}

// crlOnlyCAs publishes, for the client's CA, only a CRL whose issuing
// distribution point says it lists CA certificates alone (as OpenSSL's
// -crl_... and many CAs write an ARL): it says nothing about a leaf,
// whatever it lists.
func (w *truthWorld) crlOnlyCAs() {
	rec := w.issue("dev", "devices")
	w.subject = subject{name: "dev"}
	w.crl["devices"] = w.signCRL("devices", time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour), 100,
		idp(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddUint8(0xff) })
		}), rec)
}

// crlOtherPartition publishes, for the client's CA, only one partition of
// its CRL, which the certificate's distribution point does not name.
func (w *truthWorld) crlOtherPartition() {
	w.valid()
	w.crl["devices"] = w.signCRL("devices", time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour), 100,
		idp(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddBytes([]byte("http://crl.example/devices-2.crl"))
					})
				})
			})
		}))
}

func (w *truthWorld) partnerGood()    { w.partnerClient("good", false) }
func (w *truthWorld) partnerRevoked() { w.partnerClient("revoked", true) }
func (w *truthWorld) partnerUnknown() { w.partnerClient("unknown", false) }

// partnerClient makes a partner CA that publishes no CRL here but answers
// OCSP (openssl ocsp), and one client of it that the responder knows as
// good, revoked, or not at all.
func (w *truthWorld) partnerClient(standing string, expectRevoked bool) {
	responder := revtest.ReserveOCSP(w.t)
	w.partner = revtest.NewCA(w.t, "Truth Partner", nil)
	cert, key := w.partner.ClientWithKey(w.t, "partner-"+standing, revtest.ClientOptions{OCSPServer: []string{responder.URL}})
	var good, revoked []*x509.Certificate
	switch standing {
	case "good":
		good = append(good, cert)
	case "revoked":
		revoked = append(revoked, cert)
	}
	responder.Start(w.t, w.partner, good, revoked)
	w.external = true
	dir := w.t.TempDir()
	w.subject = subject{chain: filepath.Join(dir, "chain.pem"), key: filepath.Join(dir, "key.pem"), expectRevoked: expectRevoked}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		w.t.Fatal(err)
	}
	os.WriteFile(w.subject.chain, revtest.PEM(cert), 0o600)
	os.WriteFile(w.subject.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// idp is an issuing distribution point extension with the fields body
// writes.
func idp(body func(*cryptobyte.Builder)) []pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, body)
	return []pkix.Extension{{Id: []int{2, 5, 29, 28}, Critical: true, Value: b.BytesOrPanic()}}
}

// signCRL signs a CRL for CA name with its own key, listing revoked, with
// the extensions of ext (nil: none).
func (w *truthWorld) signCRL(name string, thisUpdate, nextUpdate time.Time, number int64, ext []pkix.Extension, revoked ...*pki.Record) []byte {
	w.t.Helper()
	issuer, _, err := w.s.LoadIssuer(name, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	tmpl.ExtraExtensions = ext
	for _, r := range revoked {
		sn, _ := new(big.Int).SetString(r.Serial, 16)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: thisUpdate, ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		w.t.Fatal(err)
	}
	return der
}

// Publishing and running.

// cas is every CA of the world, with its certificate.
func (w *truthWorld) cas() map[string]*x509.Certificate {
	w.t.Helper()
	if w.caCerts != nil {
		return w.caCerts
	}
	recs, err := w.s.CAs()
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]*x509.Certificate{}
	for _, r := range recs {
		c, err := w.s.Certificate(r)
		if err != nil {
			w.t.Fatal(err)
		}
		out[r.Name] = c
	}
	return out
}

// publish signs every CA's CRL as ca crl does (or takes the row's), and
// writes truststore and CRLs to the bucket and serve's directory. It
// closes the inventory, as a command does when it ends, so that probe can
// open it.
func (w *truthWorld) publish() {
	w.t.Helper()
	var bundle []*x509.Certificate
	w.caCerts = w.cas()
	for name, cert := range w.caCerts {
		bundle = append(bundle, cert)
		if w.missing[name] {
			continue
		}
		der, ok := w.crl[name]
		if !ok {
			crl, err := w.s.SignCRL(name, nil, 0)
			if err != nil {
				w.t.Fatal(err)
			}
			der = crl.DER
		}
		w.putCRL(name, der)
	}
	if w.partner != nil {
		bundle = append(bundle, w.partner.Cert)
	}
	if err := w.s.Close(); err != nil {
		w.t.Fatal(err)
	}
	ts := revtest.PEM(bundle...)
	w.put("truststore.pem", ts)
	if err := os.WriteFile(filepath.Join(w.dir, "truth-truststore.pem"), ts, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// putCRL publishes CA name's CRL, replacing the one before.
func (w *truthWorld) putCRL(name string, der []byte) {
	w.t.Helper()
	w.put("crl/"+revocation.KeyID(w.cas()[name])+".crl", der)
	if err := os.WriteFile(filepath.Join(w.crlDir, name+".crl"), der, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *truthWorld) put(key string, data []byte) {
	w.t.Helper()
	if _, err := w.api.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		w.t.Fatal(err)
	}
}

// start runs apimtls serve on the published truststore and CRL directory,
// and makes the authorizer's handler on the bucket, with no CRL cache so
// that each decision reads the bucket (a conditional GET).
func (w *truthWorld) start() {
	w.t.Helper()
	env := map[string]string{
		authorizer.EnvTruststoreURI: "s3://" + w.bucket + "/truststore.pem",
		authorizer.EnvCRLURI:        "s3://" + w.bucket + "/crl/",
		authorizer.EnvCacheTTL:      "0s",
	}
	args := []string{"apimtls", "serve", "--dir", w.dir, "--truststore", filepath.Join(w.dir, "truth-truststore.pem"), "--crl-dir", w.crlDir,
		"--listen", "127.0.0.1:0", "--url-file", filepath.Join(w.dir, "url.txt"), "--server-ca-out", filepath.Join(w.dir, "serve-ca.pem")}
	if w.external {
		env[authorizer.EnvExternal] = "ocsp"
		args = append(args, "--external-revocation", "ocsp")
	}
	cfg, err := authorizer.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		w.t.Fatal(err)
	}
	w.h = authorizer.NewHandler(cfg, w.api, slog.New(slog.NewJSONHandler(io.Discard, nil)))

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, args, io.Discard, &stderr) }()
	w.stop = func() { cancel(); <-done }
	w.t.Cleanup(w.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(w.dir, "url.txt"))
		if err == nil && len(data) > 0 {
			w.url = strings.TrimSpace(string(data))
			break
		}
		select {
		case code := <-done:
			w.t.Fatalf("serve exited %d before listening:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	w.serveCA = filepath.Join(w.dir, "serve-ca.pem")
	if reason := w.serveDecision(w.pair(subject{name: "good"})); reason != revocation.OK {
		w.t.Fatalf("serve refused the good client: %s", reason)
	}
}

// pair loads a subject's certificate and key.
func (w *truthWorld) pair(s subject) tls.Certificate {
	w.t.Helper()
	chain, key := s.chain, s.key
	if s.name != "" {
		chain, key = w.s.Layout().ClientChain(s.name), w.s.Layout().ClientKey(s.name)
	}
	p, err := tls.LoadX509KeyPair(chain, key)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// serveDecision is serve's answer to one request with the pair: OK for
// 200, else the reason its 403 carries.
func (w *truthWorld) serveDecision(p tls.Certificate) revocation.Reason {
	w.t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(w.serveCA)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		w.t.Fatalf("serve's CA %s: %v", w.serveCA, err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{p}}}}
	resp, err := c.Get(w.url)
	if err != nil {
		w.t.Fatalf("serve: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return revocation.OK
	case http.StatusForbidden:
		return revocation.Reason(resp.Header.Get(gateway.ReasonHeader))
	}
	return revocation.Reason(fmt.Sprintf("HTTP %d", resp.StatusCode))
}

// authorizerDecision is the handler's answer for an event of payload file.
func (w *truthWorld) authorizerDecision(file string, cert *x509.Certificate) revocation.Reason {
	w.t.Helper()
	resp, err := w.h.Handle(context.Background(), event(w.t, file, cert))
	if err != nil {
		w.t.Fatalf("Handle: %v", err)
	}
	allow, ctx := outcome(w.t, resp)
	if allow {
		return revocation.OK
	}
	r, _ := ctx["reason"].(string)
	return revocation.Reason(r)
}

// decide is every decider's answer for the subject.
func (w *truthWorld) decide() map[string]revocation.Reason {
	p := w.pair(w.subject)
	out := map[string]revocation.Reason{"serve": w.serveDecision(p)}
	for _, file := range payloads {
		out["authorizer "+file] = w.authorizerDecision(file, p.Leaf)
	}
	return out
}

// decideAfterChange decides again once serve has read the changed CRL
// directory (within a second or two); the handler reads the bucket on
// every decision.
func (w *truthWorld) decideAfterChange(before map[string]revocation.Reason) map[string]revocation.Reason {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := w.decide()
		if got["serve"] != before["serve"] || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkProbe runs apimtls probe against serve with the subject and the
// good client: a PASS for an allowed subject, a PASS with the reason
// revoked for a revoked one, and never a PASS for a refusal that is not
// revocation, whose reason it reports.
func (w *truthWorld) checkProbe(want revocation.Reason) {
	w.t.Helper()
	args := []string{"apimtls", "probe", w.url, "--dir", w.dir, "--ca-file", w.serveCA, "--good-client", "good", "-o", "json"}
	if w.subject.name != "" {
		args = append(args, "--client", w.subject.name)
	} else {
		args = append(args, "--cert", w.subject.chain, "--key", w.subject.key)
		if w.subject.expectRevoked {
			args = append(args, "--expect-revoked")
		}
	}
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, &stdout, &stderr)
	var res gateway.ProbeResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		w.t.Fatalf("probe (exit %d): %v\n%s%s", code, err, stdout.String(), stderr.String())
	}
	var client *gateway.Check
	for i, c := range res.Checks {
		if strings.HasPrefix(c.Name, "with the") && c.Name != "with the good client certificate" {
			client = &res.Checks[i]
		}
	}
	if client == nil {
		w.t.Fatalf("probe made no check with the subject: %s", stdout.String())
	}
	switch {
	case want == revocation.OK || want == revocation.Revoked:
		if !res.Pass || code != 0 {
			w.t.Errorf("probe: %s (exit %d), want pass: %s", res.Verdict, code, stdout.String())
		}
		if want == revocation.Revoked && client.Reason != string(revocation.Revoked) {
			w.t.Errorf("probe: the refusal's reason is %q, want revoked", client.Reason)
		}
	default:
		if res.Pass || code == 0 {
			w.t.Errorf("probe passed a refusal for %s: %s", want, stdout.String())
		}
		if client.Reason != string(want) {
			w.t.Errorf("probe: the refusal's reason is %q, want %s", client.Reason, want)
		}
	}
}
