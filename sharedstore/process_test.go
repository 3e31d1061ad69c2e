package sharedstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
)

// helperMain is the test binary re-run as one operator: it issues
// SHARED_COUNT clients of its own, races the others for ten shared names,
// revokes, and bumps the CA's CRL number, printing one line per success.
// With SHARED_CRASH_AT it kills itself at that step of its first issue.
func helperMain() int {
	ctx := context.Background()
	st := &sharedstore.Store{API: newClient(os.Getenv("SHARED_ENDPOINT")), Bucket: os.Getenv("SHARED_BUCKET"), Prefix: "team/"}
	if at := os.Getenv("SHARED_CRASH_AT"); at != "" {
		st.Hook = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	w := os.Getenv("SHARED_WORKER")
	ca := os.Getenv("SHARED_CA")
	count, _ := strconv.Atoi(os.Getenv("SHARED_COUNT"))
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fail := func(err error) int {
		out.Flush()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mine []string
	for i := range count {
		rec, pemData := newCert(pki.KindClient, fmt.Sprintf("w%s-%d", w, i), ca)
		if _, err := st.Create(ctx, rec, pemData); err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "created %s %s\n", rec.Serial, rec.Name)
		mine = append(mine, rec.Serial)
		if i < 10 {
			name := fmt.Sprintf("shared-%d", i)
			rec, pemData := newCert(pki.KindClient, name, ca)
			_, err := st.Create(ctx, rec, pemData)
			var ex *pki.ExistsError
			var pe *sharedstore.PendingError
			switch {
			case err == nil:
				fmt.Fprintf(out, "created %s %s\n", rec.Serial, name)
			case errors.As(err, &ex), errors.As(err, &pe):
				fmt.Fprintf(out, "lost %s\n", name)
			default:
				return fail(err)
			}
		}
	}
	for i, serial := range mine {
		if i%3 == 0 {
			if _, rev, err := st.Revoke(ctx, serial, "keyCompromise"); err != nil || !rev {
				return fail(fmt.Errorf("revoke own %s: %v, revoked=%v", serial, err, rev))
			}
			fmt.Fprintf(out, "revoked %s\n", serial)
		}
	}
	// Everyone revokes the shared names at once: exactly one flips each.
	for i := range 10 {
		r, err := st.Get(ctx, pki.KindClient, fmt.Sprintf("shared-%d", i))
		var pe *sharedstore.PendingError
		if errors.As(err, &pe) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		for {
			_, rev, err := st.Revoke(ctx, r.Serial, "superseded")
			var ce *sharedstore.ConflictError
			if errors.As(err, &ce) {
				fmt.Fprintln(out, "conflict")
				continue
			}
			if err != nil {
				return fail(err)
			}
			if rev {
				fmt.Fprintf(out, "revoked %s\n", r.Serial)
			}
			break
		}
	}
	for range 10 {
		n, err := st.NextCRLNumber(ctx, ca)
		var ce *sharedstore.ConflictError
		if errors.As(err, &ce) {
			fmt.Fprintln(out, "conflict")
			continue
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "crl %d\n", n)
	}
	return 0
}

func helperCmd(endpoint, bucket, worker, ca string, count int, crashAt string) *exec.Cmd {
	return reexec("SHAREDSTORE_HELPER=1", "SHARED_ENDPOINT="+endpoint, "SHARED_BUCKET="+bucket,
		"SHARED_WORKER="+worker, "SHARED_CA="+ca, "SHARED_COUNT="+strconv.Itoa(count), "SHARED_CRASH_AT="+crashAt)
}

// reexec is the test binary run again as a helper process, with env.
func reexec(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// runProcs runs n helper processes at once and returns every line they
// printed; any that fails fails the test.
func runProcs(t *testing.T, n int, cmd func(p int) *exec.Cmd) []string {
	t.Helper()
	var (
		mu    sync.Mutex
		lines []string
		errs  []string
		wg    sync.WaitGroup
	)
	for p := range n {
		c := cmd(p)
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			c.Stdout, c.Stderr = &stdout, &stderr
			err := c.Run()
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, strings.Split(strings.TrimSpace(stdout.String()), "\n")...)
			if err != nil {
				errs = append(errs, fmt.Sprintf("process %d: %v: %s", p, err, stderr.String()))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	return lines
}

// Eight operating-system processes issue, race for names, revoke and bump
// one CRL number against one prefix: every success they report is in the
// final listing, nothing else is, no serial or name twice, each shared
// revocation flipped once, every CRL number handed out once.
func TestEightProcesses(t *testing.T) {
	ctx := context.Background()
	st, _, endpoint := newStore(t)
	caRec, caPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, caRec, caPEM); err != nil {
		t.Fatal(err)
	}
	const procs, count = 8, 25
	lines := runProcs(t, procs, func(p int) *exec.Cmd {
		return helperCmd(endpoint, st.Bucket, strconv.Itoa(p), caRec.Serial, count, "")
	})
	created := map[string]string{} // serial -> name
	revoked := map[string]int{}
	crl := map[uint64]bool{}
	for _, l := range lines {
		f := strings.Fields(l)
		switch f[0] {
		case "created":
			if _, dup := created[f[1]]; dup {
				t.Fatalf("serial %s reported created twice", f[1])
			}
			created[f[1]] = f[2]
		case "revoked":
			revoked[f[1]]++
		case "crl":
			n, _ := strconv.ParseUint(f[1], 10, 64)
			if crl[n] {
				t.Fatalf("CRL number %d handed out twice", n)
			}
			crl[n] = true
		}
	}
	if want := procs*count + 10; len(created) != want {
		t.Fatalf("%d creations reported, want %d (%d own + one winner per shared name)", len(created), want, procs*count)
	}
	recs, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(created)+1 {
		t.Fatalf("List has %d records, want %d", len(recs), len(created)+1)
	}
	names := map[string]bool{}
	for _, r := range recs {
		if names[r.Name] {
			t.Fatalf("name %s listed twice", r.Name)
		}
		names[r.Name] = true
		if r.Kind == pki.KindRoot {
			continue
		}
		if created[r.Serial] != r.Name {
			t.Fatalf("listed %s %s, which no process reported creating", r.Serial, r.Name)
		}
		if want := revoked[r.Serial] > 0; want != (r.Status == pki.StatusRevoked) {
			t.Fatalf("%s status %s, reported revoked %d times", r.Name, r.Status, revoked[r.Serial])
		}
		if revoked[r.Serial] > 1 {
			t.Fatalf("%s revoked %d times: two writers both won", r.Name, revoked[r.Serial])
		}
	}
	final, err := st.CRLNumber(ctx, caRec.Serial)
	if err != nil || final != uint64(len(crl)) {
		t.Fatalf("CRL number %d (%v), but %d numbers were handed out", final, err, len(crl))
	}
	for n := uint64(1); n <= final; n++ {
		if !crl[n] {
			t.Fatalf("CRL number %d never handed out but the counter is at %d", n, final)
		}
	}
	rep, err := st.Check(ctx)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("Check after a clean run: %+v, %v", rep, err)
	}
}

// A process killed after claiming a name, and one killed after writing the
// certificate: neither leaves a listed record; Check reports the claims
// and the orphan certificate; once stale, the next issue of the name takes
// the claim over and succeeds.
func TestKilledMidIssue(t *testing.T) {
	ctx := context.Background()
	st, _, endpoint := newStore(t)
	for i, at := range []string{"claimed", "cert"} {
		cmd := helperCmd(endpoint, st.Bucket, "k"+strconv.Itoa(i), fmt.Sprintf("%032x", 1), 1, at)
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper crashing at %s: %v, want killed", at, err)
		}
	}
	recs, err := st.List(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("after two killed issues List = %d records, %v; want none", len(recs), err)
	}
	rep, err := st.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
		if f.Stale {
			t.Fatalf("a claim seconds old reported stale: %+v", f)
		}
	}
	if kinds["pending-claim"] != 2 || kinds["orphan-cert"] != 1 || kinds["missing-cert"] != 0 {
		t.Fatalf("Check findings %+v; want 2 pending claims, 1 orphan certificate", rep.Findings)
	}
	var pe *sharedstore.PendingError
	if _, err := st.Get(ctx, pki.KindClient, "wk0-0"); !errors.As(err, &pe) {
		t.Fatalf("Get of a name whose issue was killed: %v, want PendingError", err)
	}
	root, rootPEM := newCert(pki.KindRoot, "root", "")
	if _, err := st.Create(ctx, root, rootPEM); err != nil {
		t.Fatal(err)
	}
	rec, pemData := newCert(pki.KindClient, "wk0-0", root.Serial)
	if _, err := st.Create(ctx, rec, pemData); !errors.As(err, &pe) {
		t.Fatalf("Create over a fresh claim: %v, want PendingError (the other issue may be alive)", err)
	}
	// Stale: a later clock.
	var notes []string
	later := &sharedstore.Store{API: st.API, Bucket: st.Bucket, Prefix: st.Prefix,
		Now:   func() time.Time { return time.Now().Add(sharedstore.DefaultStaleAfter + time.Minute) },
		Notes: func(s string) { notes = append(notes, s) }}
	for _, name := range []string{"wk0-0", "wk1-0"} {
		rec, pemData := newCert(pki.KindClient, name, root.Serial)
		res, err := later.Create(ctx, rec, pemData)
		if err != nil || res.TookOver == "" {
			t.Fatalf("Create of %s over a stale claim: %+v, %v", name, res, err)
		}
		got, err := st.Get(ctx, pki.KindClient, name)
		if err != nil || got.Serial != rec.Serial {
			t.Fatalf("Get %s after the takeover: %v, %v", name, got, err)
		}
	}
	if len(notes) != 2 {
		t.Fatalf("takeovers said %q", notes)
	}
	rep, err = st.Check(ctx)
	if err != nil || rep.Records != 3 || len(rep.Findings) != 1 || rep.Findings[0].Kind != "orphan-cert" {
		t.Fatalf("Check after repair: %+v, %v; want 3 records (the root and the two) and only the orphan certificate", rep, err)
	}
}
