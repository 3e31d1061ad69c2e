package sharedstore_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

// These tests run pki itself on the shared store (pki.OpenShared), real
// certificates signed by real CAs, against MinIO: what the commands do
// with --store.

func openShared(t testing.TB, st *sharedstore.Store, dir string) *pki.Store {
	t.Helper()
	s, err := pki.OpenShared(dir, st.Remote(context.Background()), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyCAKey gives another operator's PKI directory the key of CA name, as
// a team hands an issuing key to a CI runner.
func copyCAKey(t testing.TB, from, to, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(from, "ca", name, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(to, "ca", name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "ca", name, "key.pem"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sharedCAs makes root and issuing in dir, on the shared store.
func sharedCAs(t testing.TB, s *pki.Store) {
	t.Helper()
	if _, err := s.CreateCA(pki.CAParams{Name: "root", CommonName: "Team Root", MaxPathLen: -1, KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(pki.CAParams{Name: "issuing", CommonName: "Team Issuing", Parent: "root", MaxPathLen: -1, KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
}

// verifyClient checks rec's certificate, read from the shared store,
// chains to the shared root through the shared intermediate.
func verifyClient(t testing.TB, s *pki.Store, rec *pki.Record) {
	t.Helper()
	root, err := s.Lookup(pki.KindRoot, "root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := s.Lookup(pki.KindRoot, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := s.Certificate(root)
	ic, _ := s.Certificate(issuing)
	c, err := s.Certificate(rec)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(rc)
	inter.AddCert(ic)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("%s: %v", rec.Name, err)
	}
}

// allObjects returns every object of the bucket, key -> body.
func allObjects(t testing.TB, c *s3.Client, bucket string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(g.Body)
			g.Body.Close()
			if strings.HasSuffix(aws.ToString(o.Key), ".gz") { // the listing snapshot
				zr, err := gzip.NewReader(bytes.NewReader(b.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				b.Reset()
				b.ReadFrom(zr)
			}
			out[aws.ToString(o.Key)] = b.Bytes()
		}
	}
	return out
}

// Two operators on one shared store: what one issues the other sees; a
// CA key stays on the machine that made it; names, revocations, CRL
// numbers and renewals are shared; no private key reaches the bucket.
func TestSharedPKITwoOperators(t *testing.T) {
	st, client, _ := newStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, st, dirA)
	sharedCAs(t, a)
	alice, err := a.IssueClient(pki.ClientParams{Name: "alice", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "clients", "alice", "key.pem")); err != nil {
		t.Fatalf("alice's key is not in the issuing operator's directory: %v", err)
	}

	b := openShared(t, st, dirB)
	recs, err := b.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(recs); got != "root issuing alice" {
		t.Fatalf("operator B lists %q", got)
	}
	verifyClient(t, b, recs[2])
	_, err = b.IssueClient(pki.ClientParams{Name: "bob", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err == nil || !strings.Contains(err.Error(), "not on this machine") {
		t.Fatalf("B issued without the CA key, or said %v", err)
	}
	if k := (pki.Layout{Dir: dirB}).KeyLocation(recs[1]); !k.Missing {
		t.Fatalf("B's key location of issuing: %+v, want missing", k)
	}
	copyCAKey(t, dirA, dirB, "issuing")
	if _, err := b.IssueClient(pki.ClientParams{Name: "bob", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	var ex *pki.ExistsError
	if _, err := a.IssueClient(pki.ClientParams{Name: "bob", CA: "issuing", KeyType: x509cert.ECDSAP256}); !errors.As(err, &ex) {
		t.Fatalf("A issued a name B holds: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "clients", "bob")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused issue left clients/bob in A: %v", err)
	}

	// Revoked by B, seen by A; a CRL from either lists it, numbers shared.
	if _, err := b.Revoke(pki.KindClient, "alice", pki.Reason("keyCompromise")); err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Lookup(pki.KindClient, "alice"); r.Status != pki.StatusRevoked {
		t.Fatalf("A sees alice %s", r.Status)
	}
	if again, err := a.Revoke(pki.KindClient, alice.Record.Serial, pki.Reason("superseded")); err != nil || !again.Already {
		t.Fatalf("second revocation: %+v, %v", again, err)
	}
	crlA, err := a.SignCRL("issuing", nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crlB, err := b.SignCRL("issuing", nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if crlA.Number != 1 || crlB.Number != 2 {
		t.Fatalf("CRL numbers %d then %d, want 1 then 2", crlA.Number, crlB.Number)
	}
	list, err := x509.ParseRevocationList(crlB.DER)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.RevokedCertificateEntries) != 1 || x509cert.SerialHexInt(list.RevokedCertificateEntries[0].SerialNumber) != alice.Record.Serial {
		t.Fatalf("B's CRL does not list exactly alice: %v", list.RevokedCertificateEntries)
	}

	// Renewed by B: the name moves, the old record is superseded and
	// linked, and A sees the new certificate under the name.
	bob, _ := b.Lookup(pki.KindClient, "bob")
	res, err := b.RenewClients([]*pki.Record{bob}, pki.RenewParams{})
	if err != nil || res.Issued != 1 {
		t.Fatalf("renew: %+v, %v", res, err)
	}
	now, err := a.Lookup(pki.KindClient, "bob")
	if err != nil || now.Serial == bob.Serial || now.Renews != bob.Serial {
		t.Fatalf("A sees bob %+v, %v (old serial %s)", now, err, bob.Serial)
	}
	old, _ := a.LookupSerial(bob.Serial)
	if old.Status != pki.StatusSuperseded || old.SupersededBy != now.Serial {
		t.Fatalf("old bob: %s, superseded by %q", old.Status, old.SupersededBy)
	}
	verifyClient(t, a, now)
	// The renewal retired the old certificate: A's next CRL lists it
	// (superseded) beside alice.
	crlA, err = a.SignCRL("issuing", nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	list, err = x509.ParseRevocationList(crlA.DER)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, e := range list.RevokedCertificateEntries {
		listed[x509cert.SerialHexInt(e.SerialNumber)] = e.ReasonCode
	}
	if code, ok := listed[bob.Serial]; !ok || code != 4 || len(listed) != 2 {
		t.Fatalf("the CRL after bob's renewal lists %v, want alice and the old bob (reason 4, superseded)", listed)
	}

	for key, body := range allObjects(t, client, st.Bucket) {
		if bytes.Contains(body, []byte("PRIVATE KEY")) {
			t.Fatalf("s3://%s/%s holds a private key", st.Bucket, key)
		}
	}
}

func names(recs []*pki.Record) string {
	var n []string
	for _, r := range recs {
		n = append(n, r.Name)
	}
	return strings.Join(n, " ")
}

// Two operators renew one client at the same moment: exactly one renewal
// is recorded, the other is told it lost.
func TestSharedPKIRenewRace(t *testing.T) {
	st, _, _ := newStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, st, dirA)
	sharedCAs(t, a)
	copyCAKey(t, dirA, dirB, "issuing")
	b := openShared(t, st, dirB)
	for round := range 5 {
		name := fmt.Sprintf("carol-%d", round)
		if _, err := a.IssueClient(pki.ClientParams{Name: name, CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
			t.Fatal(err)
		}
		rec, _ := a.Lookup(pki.KindClient, name)
		var wg sync.WaitGroup
		results := make([]*pki.BulkResult, 2)
		for i, s := range []*pki.Store{a, b} {
			wg.Go(func() {
				r, _ := s.RenewClients([]*pki.Record{rec}, pki.RenewParams{})
				results[i] = r
			})
		}
		wg.Wait()
		if got := results[0].Issued + results[1].Issued; got != 1 {
			t.Fatalf("round %d: %d renewals recorded (%+v, %+v)", round, got, results[0].Failed, results[1].Failed)
		}
		all, err := a.List(func(r *pki.Record) bool { return r.Name == name })
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 {
			t.Fatalf("round %d: %d records named %s, want the old and one new", round, len(all), name)
		}
	}
}

// A bulk run on the shared store issues exactly what is missing when run
// again, here or by another operator, and counts the rest as skipped.
func TestSharedPKIBulkRerun(t *testing.T) {
	st, _, _ := newStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, st, dirA)
	sharedCAs(t, a)
	items := func(n int) []pki.BulkItem {
		var out []pki.BulkItem
		for i := 1; i <= n; i++ {
			out = append(out, pki.BulkItem{Source: fmt.Sprintf("item %d", i), Params: pki.ClientParams{Name: fmt.Sprintf("dev-%d", i)}})
		}
		return out
	}
	first, err := a.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: items(30), BatchSize: 7})
	if err != nil || first.Issued != 30 {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	again, err := a.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: items(40)})
	if err != nil || again.Issued != 10 || again.Skipped != 30 {
		t.Fatalf("re-run here: issued %d, skipped %d, failed %v, %v", again.Issued, again.Skipped, again.Failed, err)
	}
	copyCAKey(t, dirA, dirB, "issuing")
	b := openShared(t, st, dirB)
	other, err := b.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: items(45)})
	if err != nil || other.Issued != 5 || other.Skipped != 40 {
		t.Fatalf("run by B: issued %d, skipped %d, failed %v, %v", other.Issued, other.Skipped, other.Failed, err)
	}
	clients, err := b.List(func(r *pki.Record) bool { return r.Kind == pki.KindClient })
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range clients {
		if seen[r.Name] {
			t.Fatalf("%s recorded twice", r.Name)
		}
		seen[r.Name] = true
	}
	if len(clients) != 45 {
		t.Fatalf("%d clients recorded, want 45", len(clients))
	}
	for _, d := range []string{dirA, dirB} {
		left, _ := os.ReadDir(filepath.Join(d, ".staging"))
		if len(left) != 0 {
			t.Fatalf("%s/.staging holds %d entries after the runs", d, len(left))
		}
	}
}

// pkiHelper is the test binary re-run as one operator on the shared
// store, through pki: SHARED_COUNT clients issued one by one and as many
// in bulk, a race for five shared names, every third own client revoked,
// two CRLs signed. One line per success. With SHARED_CRASH_AT it issues
// "victim" and kills itself at that step of the shared store's write.
func pkiHelper() int {
	st := &sharedstore.Store{API: newClient(os.Getenv("SHARED_ENDPOINT")), Bucket: os.Getenv("SHARED_BUCKET"), Prefix: "team/"}
	if at := os.Getenv("SHARED_CRASH_AT"); at != "" {
		st.Hook = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fail := func(err error) int {
		out.Flush()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := pki.OpenShared(os.Getenv("SHARED_DIR"), st.Remote(context.Background()), true)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	if os.Getenv("SHARED_CRASH_AT") != "" {
		_, err := s.IssueClient(pki.ClientParams{Name: "victim", CA: "issuing", KeyType: x509cert.ECDSAP256})
		return fail(fmt.Errorf("not killed: %v", err))
	}
	w := os.Getenv("SHARED_WORKER")
	count, _ := strconv.Atoi(os.Getenv("SHARED_COUNT"))
	var mine []string
	for i := range count {
		is, err := s.IssueClient(pki.ClientParams{Name: fmt.Sprintf("w%s-%d", w, i), CA: "issuing", KeyType: x509cert.ECDSAP256})
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "created %s %s\n", is.Record.Serial, is.Record.Name)
		mine = append(mine, is.Record.Serial)
		if i < 5 {
			name := fmt.Sprintf("shared-%d", i)
			is, err := s.IssueClient(pki.ClientParams{Name: name, CA: "issuing", KeyType: x509cert.ECDSAP256})
			var ex *pki.ExistsError
			var pe *sharedstore.PendingError
			switch {
			case err == nil:
				fmt.Fprintf(out, "created %s %s\n", is.Record.Serial, name)
			case errors.As(err, &ex), errors.As(err, &pe):
				fmt.Fprintf(out, "lost %s\n", name)
			default:
				return fail(err)
			}
		}
	}
	var items []pki.BulkItem
	for i := range count {
		items = append(items, pki.BulkItem{Source: "item", Params: pki.ClientParams{Name: fmt.Sprintf("w%s-bulk-%d", w, i)}})
	}
	res, err := s.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: items, BatchSize: 4})
	if err != nil || len(res.Failed) > 0 {
		return fail(fmt.Errorf("bulk: %v %v", err, res.Failed))
	}
	for name, serial := range res.Serials {
		fmt.Fprintf(out, "created %s %s\n", serial, name)
	}
	for i, serial := range mine {
		if i%3 == 0 {
			if _, err := s.Revoke(pki.KindClient, serial, pki.Reason("keyCompromise")); err != nil {
				return fail(err)
			}
			fmt.Fprintf(out, "revoked %s\n", serial)
		}
	}
	for range 2 {
		crl, err := s.SignCRL("issuing", nil, time.Hour)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "crl %d\n", crl.Number)
	}
	return 0
}

func pkiHelperCmd(endpoint, bucket, dir, worker string, count int, crashAt string) *exec.Cmd {
	return reexec("SHAREDSTORE_HELPER=pki", "SHARED_ENDPOINT="+endpoint, "SHARED_BUCKET="+bucket,
		"SHARED_DIR="+dir, "SHARED_WORKER="+worker, "SHARED_COUNT="+strconv.Itoa(count), "SHARED_CRASH_AT="+crashAt)
}

// Eight apimtls operators, each a process with its own PKI directory and
// a copy of the issuing key, issue (singly and in bulk), race for names,
// revoke and sign CRLs against one prefix at once: the final listing is
// exactly what they reported, every certificate verifies, no serial or
// name twice, every CRL number handed out once.
func TestSharedPKIEightProcesses(t *testing.T) {
	st, _, endpoint := newStore(t)
	admin := t.TempDir()
	sharedCAs(t, openShared(t, st, admin))
	const procs, count = 8, 6
	lines := runProcs(t, procs, func(p int) *exec.Cmd {
		dir := t.TempDir()
		copyCAKey(t, admin, dir, "issuing")
		return pkiHelperCmd(endpoint, st.Bucket, dir, strconv.Itoa(p), count, "")
	})
	created := map[string]string{}
	revoked := map[string]bool{}
	crls := map[string]bool{}
	lost := 0
	for _, l := range lines {
		f := strings.Fields(l)
		switch f[0] {
		case "created":
			if _, dup := created[f[1]]; dup {
				t.Fatalf("serial %s reported twice", f[1])
			}
			created[f[1]] = f[2]
		case "revoked":
			revoked[f[1]] = true
		case "crl":
			if crls[f[1]] {
				t.Fatalf("CRL number %s handed out twice", f[1])
			}
			crls[f[1]] = true
		case "lost":
			lost++
		}
	}
	if want := procs*count*2 + 5; len(created) != want || lost != procs*5-5 {
		t.Fatalf("%d created (want %d), %d lost (want %d)", len(created), want, lost, procs*5-5)
	}
	if len(crls) != 2*procs {
		t.Fatalf("%d CRL numbers, want %d", len(crls), 2*procs)
	}
	reader := openShared(t, st, t.TempDir())
	clients, err := reader.List(func(r *pki.Record) bool { return r.Kind == pki.KindClient })
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != len(created) {
		t.Fatalf("%d clients listed, %d reported created", len(clients), len(created))
	}
	byName := map[string]bool{}
	for _, r := range clients {
		if created[r.Serial] != r.Name {
			t.Fatalf("listed %s %s, reported %q", r.Serial, r.Name, created[r.Serial])
		}
		if byName[r.Name] {
			t.Fatalf("name %s listed twice", r.Name)
		}
		byName[r.Name] = true
		if (r.Status == pki.StatusRevoked) != revoked[r.Serial] {
			t.Fatalf("%s is %s; reported revoked: %v", r.Name, r.Status, revoked[r.Serial])
		}
		verifyClient(t, reader, r)
	}
}

// An issuance killed before its record (the commit point) leaves no
// record and, once the next process opens the directory, no staged key;
// killed after it, the next process moves the files into place.
func TestSharedPKIKilledMidIssue(t *testing.T) {
	for _, at := range []string{"cert", "record"} {
		t.Run(at, func(t *testing.T) {
			st, _, endpoint := newStore(t)
			dir := t.TempDir()
			sharedCAs(t, openShared(t, st, dir))
			cmd := pkiHelperCmd(endpoint, st.Bucket, dir, "0", 0, at)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper was not killed: %v: %s", err, stderr.String())
			}
			staged, _ := os.ReadDir(filepath.Join(dir, ".staging"))
			if len(staged) != 1 {
				t.Fatalf("%d staged entries after the kill, want the victim's batch", len(staged))
			}
			defer func(d time.Duration) { pki.RecoverySettle = d }(pki.RecoverySettle)
			pki.RecoverySettle = 200 * time.Millisecond
			s := openShared(t, st, dir)
			if left, _ := os.ReadDir(filepath.Join(dir, ".staging")); len(left) != 0 {
				t.Fatalf("%d staged entries left after recovery", len(left))
			}
			_, keyErr := os.Stat(filepath.Join(dir, "clients", "victim", "key.pem"))
			rec, err := s.Lookup(pki.KindClient, "victim")
			switch at {
			case "record":
				if err != nil || keyErr != nil {
					t.Fatalf("committed issue not finished: lookup %v, key %v", err, keyErr)
				}
				verifyClient(t, s, rec)
			case "cert":
				// Killed before its record: recovery here knows the
				// process is dead and gave the name back (after letting its
				// requests settle); only the unlisted certificate is left.
				var nf *pki.NotFoundError
				if !errors.As(err, &nf) || !errors.Is(keyErr, os.ErrNotExist) {
					t.Fatalf("uncommitted issue: lookup %v (want not found), key %v (want none)", err, keyErr)
				}
				kinds := findingKinds(t, st)
				if kinds["pending-claim"] != 0 || kinds["orphan-cert"] != 1 {
					t.Fatalf("check found %v, want only the orphan certificate", kinds)
				}
				again := openShared(t, st, dir)
				if _, err := again.IssueClient(pki.ClientParams{Name: "victim", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// lossyAPI writes records but loses the answer, as a connection that
// drops after the request was sent; with blind, it cannot read those
// records back either.
type lossyAPI struct {
	sharedstore.API
	blind bool
	mu    sync.Mutex
	lost  map[string]bool
}

var errLost = errors.New("connection reset by peer")

func (l *lossyAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := l.API.PutObject(ctx, in, o...)
	if err == nil && strings.Contains(aws.ToString(in.Key), "/records/") {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.lost == nil {
			l.lost = map[string]bool{}
		}
		l.lost[aws.ToString(in.Key)] = true
		return nil, errLost
	}
	return out, err
}

func (l *lossyAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	l.mu.Lock()
	lost := l.lost[aws.ToString(in.Key)]
	l.mu.Unlock()
	if l.blind && lost {
		return nil, errLost
	}
	return l.API.GetObject(ctx, in, o...)
}

// An issuance whose record was written but whose answer was lost is an
// issuance: asked again, the store says so and the files are kept. When
// the store cannot even be asked, the files stay staged and the next run
// on the directory settles it; never a record whose key was removed.
func TestSharedPKILostAnswer(t *testing.T) {
	st, client, _ := newStore(t)
	dir := t.TempDir()
	sharedCAs(t, openShared(t, st, dir))

	lossy := *st
	lossy.API = &lossyAPI{API: client}
	s := openShared(t, &lossy, dir)
	if _, err := s.IssueClient(pki.ClientParams{Name: "lost-1", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatalf("a recorded issuance whose answer was lost failed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "clients", "lost-1", "key.pem")); err != nil {
		t.Fatal(err)
	}
	res, err := s.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256},
		Items: []pki.BulkItem{{Source: "a", Params: pki.ClientParams{Name: "lost-2"}}, {Source: "b", Params: pki.ClientParams{Name: "lost-3"}}}})
	if err != nil || res.Issued != 2 {
		t.Fatalf("bulk with lost answers: %+v, %v", res, err)
	}

	blind := *st
	blind.API = &lossyAPI{API: client, blind: true}
	b := openShared(t, &blind, dir)
	_, err = b.IssueClient(pki.ClientParams{Name: "lost-4", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err == nil || !strings.Contains(err.Error(), "is not known") {
		t.Fatalf("an issuance of unknown outcome: %v", err)
	}
	if staged, _ := os.ReadDir(filepath.Join(dir, ".staging")); len(staged) != 1 {
		t.Fatalf("%d staged entries kept, want the unsettled one", len(staged))
	}
	// The next run that can ask settles it: it was recorded, so it is
	// moved into place with its key.
	openShared(t, st, dir)
	if _, err := os.Stat(filepath.Join(dir, "clients", "lost-4", "key.pem")); err != nil {
		t.Fatalf("the unsettled issuance was not finished: %v", err)
	}
	if staged, _ := os.ReadDir(filepath.Join(dir, ".staging")); len(staged) != 0 {
		t.Fatalf("%d staged entries left", len(staged))
	}
}

// A record or name claim written by hand (0 bytes, garbage) does not stop
// the team: listings go on without it and say so, store check reports it,
// and no CRL is signed until it is repaired, since it could be a
// revocation.
func TestSharedPKIDamagedObjects(t *testing.T) {
	st, client, _ := newStore(t)
	ctx := context.Background()
	a := openShared(t, st, t.TempDir())
	sharedCAs(t, a)
	if _, err := a.IssueClient(pki.ClientParams{Name: "fine", CA: "issuing", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(st.Prefix + key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("records/0123456789abcdef0123456789abcdef.json", "")
	put("names/ca/junk", "not json")

	var warned []string
	a.Warn = func(m string) { warned = append(warned, m) }
	recs, err := a.List(nil)
	if err != nil || len(recs) != 3 {
		t.Fatalf("List with a damaged record: %d records, %v", len(recs), err)
	}
	cas, err := a.CAs()
	if err != nil || len(cas) != 2 {
		t.Fatalf("CAs with a damaged claim: %d, %v", len(cas), err)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "records/0123456789abcdef0123456789abcdef.json") {
		t.Fatalf("warnings: %q", warned)
	}
	// No certificate of that serial is in the store, so no CA signed one:
	// the CRL is signed without it, and says so (docs/team.md, "Damaged
	// records and CRLs"; before issue 21 one such object stopped every
	// CA's CRL).
	warned = nil
	crl, err := a.SignCRL("issuing", nil, time.Hour)
	if err != nil || crl.Revoked != 0 {
		t.Fatalf("a CRL past a damaged record with no certificate: %+v, %v", crl, err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "left off the CRL") || !strings.Contains(warned[0], "0123456789abcdef0123456789abcdef") {
		t.Fatalf("warnings: %q", warned)
	}
	kinds := findingKinds(t, st)
	if kinds["damaged-record"] != 1 || kinds["damaged-claim"] != 1 {
		t.Fatalf("check found %v", kinds)
	}
}

// Two operators run the same bulk job at once: together they issue each
// name once, and neither reports the other's in-flight names as failures.
func TestSharedPKISameBulkTwice(t *testing.T) {
	st, _, _ := newStore(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openShared(t, st, dirA)
	sharedCAs(t, a)
	copyCAKey(t, dirA, dirB, "issuing")
	b := openShared(t, st, dirB)
	var items []pki.BulkItem
	for i := range 120 {
		items = append(items, pki.BulkItem{Source: fmt.Sprint(i), Params: pki.ClientParams{Name: fmt.Sprintf("twin-%d", i)}})
	}
	results := make([]*pki.BulkResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range []*pki.Store{a, b} {
		wg.Go(func() {
			results[i], errs[i] = s.IssueBulk(pki.BulkParams{Common: pki.ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: items, BatchSize: 10})
		})
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil || len(r.Failed) != 0 || r.Issued+r.Skipped != len(items) {
			t.Fatalf("operator %d: issued %d, skipped %d, failed %v, %v", i, r.Issued, r.Skipped, r.Failed, errs[i])
		}
	}
	if got := results[0].Issued + results[1].Issued; got != len(items) {
		t.Fatalf("%d issued between them, want %d", got, len(items))
	}
}

// A revocation undone by rewriting its record by hand (what anyone with
// s3:PutObject on records/ can do) is caught by the next CRL, which
// refuses to drop it; so is an older CRL copied over the newest.
func TestSharedPKINoUnrevocation(t *testing.T) {
	st, client, _ := newStore(t)
	ctx := context.Background()
	a := openShared(t, st, t.TempDir())
	sharedCAs(t, a)
	is, err := a.IssueClient(pki.ClientParams{Name: "mallory", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.SignCRL("issuing", nil, time.Hour) // CRL 1: empty
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(pki.KindClient, "mallory", pki.Reason("keyCompromise")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignCRL("issuing", nil, time.Hour); err != nil { // CRL 2 lists mallory
		t.Fatal(err)
	}
	key := st.Prefix + "records/" + is.Record.Serial + ".json"
	active := *is.Record
	active.Status, active.RevokedAt, active.RevocationReason = pki.StatusActive, nil, ""
	body, _ := json.Marshal(&active)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.SignCRL("issuing", nil, time.Hour)
	if !errors.Is(err, pki.ErrUnrevoked) || !strings.Contains(err.Error(), is.Record.Serial) {
		t.Fatalf("signed a CRL that un-revokes mallory: %v", err)
	}
	// Revoked again, it signs; then CRL 1 (empty) copied over the newest
	// kept CRL is refused as not the CRL of that number.
	if _, err := a.Revoke(pki.KindClient, is.Record.Serial, pki.Reason("keyCompromise")); err != nil {
		t.Fatal(err)
	}
	latest, err := a.SignCRL("issuing", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caRec, _ := a.Lookup(pki.KindRoot, "issuing")
	over := fmt.Sprintf("%scrls/%s/%020d.crl", st.Prefix, caRec.Serial, latest.Number)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(over), Body: bytes.NewReader(first.DER)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignCRL("issuing", nil, time.Hour); err == nil || !strings.Contains(err.Error(), "is not one it signed") {
		t.Fatalf("accepted an older CRL kept under a newer number: %v", err)
	}
}

// findingKinds runs store check and counts its findings by kind.
func findingKinds(t *testing.T, st *sharedstore.Store) map[string]int {
	t.Helper()
	rep, err := st.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
	}
	return kinds
}

// Whoever may write to the store cannot make apimtls read, export or move
// a local key through a record: a record whose folder is not the one
// apimtls derives from its kind and name is damaged, and a certificate
// that no CA of the store signed is refused before any key is paired with
// it. (Found by the second review: a planted record for device-1 with the
// folder ca/root had client export --all put the root's key in the tar.)
func TestSharedPKIPlantedRecords(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	a := openShared(t, st, dir)
	sharedCAs(t, a)
	dev, err := a.IssueClient(pki.ClientParams{Name: "device-1", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := a.Lookup(pki.KindRoot, "root")
	rootCert, _ := a.Certificate(root)

	planted := []struct {
		name, folder string
		pub          any
		why          string
	}{
		{"evil-1", "ca/root", rootCert.PublicKey, "folder"},
		{"evil-2", "clients/evil-2", rootCert.PublicKey, "signed"},
	}
	for _, p := range planted {
		rec, _ := newCert(pki.KindClient, p.name, dev.Record.IssuerSerial)
		serial, _ := new(big.Int).SetString(rec.Serial, 16)
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: p.name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p.pub, testKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		rec.Subject, rec.SHA256 = c.Subject.String(), x509cert.Fingerprint(c)
		rec.NotBefore, rec.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
		rec.Issuer, rec.Dir = "issuing", p.folder
		rec.Files = []string{p.folder + "/key.pem", p.folder + "/cert.pem"}
		if _, err := st.Create(ctx, rec, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
			t.Fatal(err)
		}
	}
	// Neither is listed as valid: the one in ca/root for its folder, the
	// other because no CA of the store signed its certificate (issue 21:
	// client list showed it active); the warning names both, and store
	// check reports both, with why.
	var warned []string
	a.Warn = func(m string) { warned = append(warned, m) }
	recs, err := a.List(func(r *pki.Record) bool { return r.Kind == pki.KindClient })
	if err != nil {
		t.Fatal(err)
	}
	if got := names(recs); got != "device-1" {
		t.Fatalf("listed %q", got)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `folder "ca/root"`) || !strings.Contains(warned[0], "not signed by the CA its record names") {
		t.Fatalf("warnings %q", warned)
	}
	briefs, err := a.ListBrief(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range briefs {
		if strings.HasPrefix(b.Name, "evil-") {
			t.Fatalf("client list shows the planted %s", b.Name)
		}
	}
	rep, err := st.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, f := range rep.Findings {
		if f.Kind == "damaged-record" {
			reasons[f.Serial] = f.Reason
		}
	}
	if len(reasons) != 2 {
		t.Fatalf("store check found %+v, want the two planted records", rep.Findings)
	}
	for serial, why := range reasons {
		if !strings.Contains(why, `folder "ca/root"`) && !strings.Contains(why, "not signed by the CA its record names") {
			t.Errorf("store check says %s is damaged because %q", serial, why)
		}
	}
	// Looked up by name, it is still refused before any key is paired
	// with it.
	evil2, err := a.Lookup(pki.KindClient, "evil-2")
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, evil2)
	if _, err := a.Lookup(pki.KindClient, "evil-1"); err == nil {
		t.Fatal("looked up a record whose folder is ca/root")
	}
	if _, err := os.Stat(filepath.Join(dir, "ca", "root", "key.pem")); err != nil {
		t.Fatal(err)
	}
	// Even with a key file planted at clients/evil-2, the export refuses.
	os.MkdirAll(filepath.Join(dir, "clients", "evil-2"), 0o700)
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "ca", "root", "key.pem"))
	os.WriteFile(filepath.Join(dir, "clients", "evil-2", "key.pem"), keyPEM, 0o600)
	if _, err := a.ExportClient(recs[1]); err == nil || !strings.Contains(err.Error(), "not signed by the CA its record names") {
		t.Fatalf("exported a planted certificate: %v", err)
	}
}

// A record the dead process had in flight when it died, landing while the
// next run recovers, is rolled forward with its key: recovery waits for
// such requests before deciding (found by the second review: it removed
// the staged key of a certificate whose record then arrived).
func TestSharedPKIRecordLandsDuringRecovery(t *testing.T) {
	st, _, endpoint := newStore(t)
	dir := t.TempDir()
	sharedCAs(t, openShared(t, st, dir))
	cmd := pkiHelperCmd(endpoint, st.Bucket, dir, "0", 0, "cert") // killed before its record
	if err := cmd.Run(); err == nil {
		t.Fatal("helper was not killed")
	}
	// The record it was about to write, as pki writes it.
	batches, _ := filepath.Glob(filepath.Join(dir, ".staging", "shared-*", "*", "cert.pem"))
	if len(batches) != 1 {
		t.Fatalf("%d staged certificates", len(batches))
	}
	data, _ := os.ReadFile(batches[0])
	block, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := openShared(t, st, t.TempDir()).Lookup(pki.KindRoot, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	rec := &pki.Record{Serial: x509cert.SerialHex(c), Kind: pki.KindClient, Name: "victim", Subject: c.Subject.String(),
		Issuer: "issuing", IssuerSerial: issuing.Serial, KeyType: x509cert.ECDSAP256, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		SHA256: x509cert.Fingerprint(c), Status: pki.StatusActive, Dir: "clients/victim",
		Files: []string{"clients/victim/key.pem", "clients/victim/cert.pem", "clients/victim/chain.pem"}, CreatedAt: time.Now().UTC()}
	recJSON, _ := json.Marshal(rec)
	landed := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // well inside the settle time below
		_, err := st.API.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(st.Bucket),
			Key: aws.String(st.Prefix + "records/" + rec.Serial + ".json"), Body: bytes.NewReader(recJSON), IfNoneMatch: aws.String("*")})
		landed <- err
	}()
	defer func(d time.Duration) { pki.RecoverySettle = d }(pki.RecoverySettle)
	pki.RecoverySettle = 2 * time.Second
	s := openShared(t, st, dir)
	if err := <-landed; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "clients", "victim", "key.pem")); err != nil {
		t.Fatalf("the key of a certificate whose record landed during recovery is gone: %v", err)
	}
	if got, err := s.Lookup(pki.KindClient, "victim"); err != nil || got.Serial != rec.Serial {
		t.Fatalf("victim: %+v, %v", got, err)
	}
}

// Another operator took a higher CRL number before this one listed, and
// kept a CRL made before a revocation this one has: published last, it
// would un-revoke. The signer sees it and signs again above it. (Second
// review.)
func TestSharedPKICRLAboveAnOlderListing(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	a := openShared(t, st, dir)
	sharedCAs(t, a)
	x, err := a.IssueClient(pki.ClientParams{Name: "x", CA: "issuing", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(pki.KindClient, "x", pki.Reason("keyCompromise")); err != nil {
		t.Fatal(err)
	}
	ca, _ := a.Lookup(pki.KindRoot, "issuing")
	caCert, _ := a.Certificate(ca)
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "ca", "issuing", "key.pem"))
	key, err := x509cert.DecodeKey(keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	var high uint64
	st.Hook = func(step string) {
		if step != "crl-kept" || high != 0 {
			return
		}
		// The other operator: a higher number, an empty CRL (its listing
		// was made before x was revoked).
		n, err := st.NextCRLNumber(ctx, ca.Serial)
		if err != nil {
			t.Fatal(err)
		}
		high = n
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: new(big.Int).SetUint64(n), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, caCert, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutCRL(ctx, ca.Serial, n, der); err != nil {
			t.Fatal(err)
		}
	}
	crl, err := a.SignCRL("issuing", nil, time.Hour)
	st.Hook = nil
	if err != nil {
		t.Fatal(err)
	}
	list, _ := x509.ParseRevocationList(crl.DER)
	if crl.Number <= high || len(list.RevokedCertificateEntries) != 1 || x509cert.SerialHexInt(list.RevokedCertificateEntries[0].SerialNumber) != x.Record.Serial {
		t.Fatalf("CRL %d (the other's was %d) lists %d entries: want a CRL above it listing x", crl.Number, high, len(list.RevokedCertificateEntries))
	}
}
