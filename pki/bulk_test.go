package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/x509cert"
)

func bulkItems(prefix string, n int) []BulkItem {
	items := make([]BulkItem, n)
	for i := range items {
		items[i] = BulkItem{Source: "item " + strconv.Itoa(i+1), Params: ClientParams{Name: fmt.Sprintf("%s-%d", prefix, i)}}
	}
	return items
}

// TestBulkIssueVerifies issues a few thousand clients at once and checks
// every certificate with Go's verifier, a sample with openssl verify, the
// serials unique and the names exactly those asked for.
func TestBulkIssueVerifies(t *testing.T) {
	s := newTestStore(t)
	s.Now = time.Now
	root := createRootCA(t, s, "root", nil)
	const n = 2000
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", n), BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != n || res.Skipped != 0 || len(res.Failed) != 0 {
		t.Fatalf("issued %d, skipped %d, failed %v; want %d issued", res.Issued, res.Skipped, res.Failed, n)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	s.Close()
	recs := checkConsistent(t, s.Dir)
	if len(recs) != n+1 {
		t.Fatalf("%d records, want %d", len(recs), n+1)
	}
	s, err = OpenStore(s.Dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serials := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("dev-%d", i)
		r := recs[name]
		if r == nil {
			t.Fatalf("%s missing", name)
		}
		if serials[r.Serial] {
			t.Fatalf("serial %s twice", r.Serial)
		}
		serials[r.Serial] = true
		c, err := s.Certificate(r)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject.CommonName != name {
			t.Fatalf("%s has CN %q", name, c.Subject.CommonName)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := os.Stat(s.Layout().ClientKey(name)); err != nil {
			t.Fatal(err)
		}
	}
	revtest.Tool(t, "openssl")
	caFile := s.Layout().CACert("root")
	for _, i := range []int{0, 1, n / 2, n - 1} {
		name := fmt.Sprintf("dev-%d", i)
		out := revtest.RunTool(t, "openssl", "verify", "-purpose", "sslclient", "-CAfile", caFile, s.Layout().ClientCert(name))
		if want := s.Layout().ClientCert(name) + ": OK"; out != want+"\n" && out != want {
			t.Fatalf("openssl verify %s: %s", name, out)
		}
		// The key on disk is the certificate's.
		revtest.RunTool(t, "openssl", "x509", "-in", s.Layout().ClientCert(name), "-noout", "-checkend", "0")
	}
	// A second run asks for more: it skips what exists and issues the rest.
	s.Close()
	s, err = OpenStore(s.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", n+10)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 10 || res.Skipped != n {
		t.Fatalf("re-run issued %d and skipped %d, want 10 and %d", res.Issued, res.Skipped, n)
	}
}

// TestBulkBadItems: a bad name and a name twice fail on their own line;
// the rest is issued.
func TestBulkBadItems(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	items := bulkItems("ok", 3)
	items = append(items,
		BulkItem{Source: "line 5", Params: ClientParams{Name: "bad/name"}},
		BulkItem{Source: "line 6", Params: ClientParams{Name: "ok-1"}},
		BulkItem{Source: "line 7", Params: ClientParams{Name: "bad-san", DNSNames: []string{"not a name"}}},
	)
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 3 || len(res.Failed) != 3 {
		t.Fatalf("issued %d, failed %+v", res.Issued, res.Failed)
	}
	want := map[string]bool{"line 5": true, "line 6": true, "line 7": true}
	for _, f := range res.Failed {
		if !want[f.Source] || f.Reason == "" {
			t.Errorf("unexpected failure %+v", f)
		}
		delete(want, f.Source)
	}
	s.Close()
	checkConsistent(t, s.Dir)
}

func helperBulk() int {
	dir := os.Getenv("PKI_DIR")
	count, _ := strconv.Atoi(os.Getenv("PKI_COUNT"))
	if at := os.Getenv("PKI_CRASH_AT"); at != "" {
		crashHook = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	s, err := OpenStore(dir, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", count), BatchSize: 50})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(res.Failed) > 0 {
		fmt.Fprintln(os.Stderr, res.Failed)
		return 1
	}
	fmt.Println(res.Issued, res.Skipped)
	return 0
}

func bulkCmd(dir string, count int, crashAt string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PKI_TEST_HELPER=bulk", "PKI_DIR="+dir, "PKI_COUNT="+strconv.Itoa(count), "PKI_CRASH_AT="+crashAt)
	return cmd
}

// checkExactly asserts the store holds exactly dev-0..dev-(n-1) besides root.
func checkExactly(t *testing.T, dir string, n int) {
	t.Helper()
	recs := checkConsistent(t, dir)
	if len(recs) != n+1 {
		t.Fatalf("%d records, want %d", len(recs), n+1)
	}
	for i := range n {
		if recs[fmt.Sprintf("dev-%d", i)] == nil {
			t.Fatalf("dev-%d missing", i)
		}
	}
}

// TestBulkKilled kills a bulk run at each step of a batch commit, and at
// random moments, then re-runs it: exactly the set asked for, nothing
// twice, nothing orphaned.
func TestBulkKilled(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := s.Dir
	s.Close()
	const n = 300
	for _, step := range []string{"batch-staged", "batch-committed"} {
		if err := bulkCmd(dir, n, step).Run(); !killedBySignal(err) {
			t.Fatalf("not killed at %s: %v", step, err)
		}
		if step == "batch-committed" {
			// Killed between the commit and the renames: the records
			// exist, their files are staged, and recovery rolls forward.
			entries, _ := os.ReadDir(filepath.Join(dir, stagingDir))
			if len(entries) == 0 {
				t.Fatal("nothing staged at batch-committed: the hook is not where the test thinks")
			}
		}
		checkConsistent(t, dir)
	}
	for round := range 5 {
		cmd := bulkCmd(dir, n*(round+2), "")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+round*37) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		checkConsistent(t, dir)
	}
	out, err := bulkCmd(dir, n*6, "").CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: %v: %s", err, out)
	}
	checkExactly(t, dir, n*6)
}

// TestBulkTwoProcesses runs the same bulk request twice at once: both
// finish, every name once.
func TestBulkTwoProcesses(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := s.Dir
	s.Close()
	const n = 600
	a, b := bulkCmd(dir, n, ""), bulkCmd(dir, n, "")
	var outA, outB []byte
	done := make(chan error, 1)
	go func() {
		var err error
		outB, err = b.CombinedOutput()
		done <- err
	}()
	outA, errA := a.CombinedOutput()
	if errA != nil {
		t.Fatalf("first: %v: %s", errA, outA)
	}
	if err := <-done; err != nil {
		t.Fatalf("second: %v: %s", err, outB)
	}
	var ia, sa, ib, sb int
	fmt.Sscan(string(outA), &ia, &sa)
	fmt.Sscan(string(outB), &ib, &sb)
	if ia+ib != n {
		t.Fatalf("issued %d + %d, want %d in all", ia, ib, n)
	}
	checkExactly(t, dir, n)
}

// Ctrl-C stops a bulk run: what was signed is recorded, the run says it
// was interrupted, and the same request again issues exactly the rest.
func TestBulkIssueInterrupted(t *testing.T) {
	s := newTestStore(t)
	s.Now = time.Now
	createRootCA(t, s, "root", nil)
	const n = 600
	ctx, cancel := context.WithCancel(context.Background())
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", n), BatchSize: 50, Context: ctx,
		Progress: func(p BulkProgress) {
			if p.Done == 100 { // two batches signed
				cancel()
			}
		}})
	if !errors.Is(err, ErrInterrupted) || res == nil || res.Issued == 0 || res.Issued >= n {
		t.Fatalf("interrupted run: %v, %+v; want ErrInterrupted with some but not all issued", err, res)
	}
	first := res.Issued
	res, err = s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", n), BatchSize: 50})
	if err != nil || res.Issued != n-first || res.Skipped != first {
		t.Fatalf("second run: %v, issued %d skipped %d after %d", err, res.Issued, res.Skipped, first)
	}
	s.Close()
	if recs := checkConsistent(t, s.Dir); len(recs) != n+1 {
		t.Fatalf("%d records, want %d", len(recs), n+1)
	}
}

// Progress reports every certificate, from the start, not once a batch:
// with RSA-4096 (3 a second) a batch of 500 is three minutes of nothing.
func TestBulkIssueProgressPerCertificate(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	if _, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", 3)}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var seen []int
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", n), BatchSize: 500,
		Progress: func(p BulkProgress) {
			if p.Total != n {
				t.Errorf("total %d, want %d", p.Total, n)
			}
			seen = append(seen, p.Done)
		}})
	if err != nil || res.Issued != n-3 {
		t.Fatalf("%v, %+v", err, res)
	}
	// the 3 already issued are skipped: the first report says so, then
	// one report for each certificate signed
	want := []int{3}
	for i := 4; i <= n; i++ {
		want = append(want, i)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("progress %v, want %v", seen, want)
	}
}
