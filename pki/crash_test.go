package pki

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// The helper process: the test binary re-run with PKI_TEST_HELPER set issues
// clients into a store, and kills itself at PKI_CRASH_AT if that is set.
func TestMain(m *testing.M) {
	if os.Getenv("PKI_TEST_HELPER") == "issue" {
		os.Exit(helperIssue())
	}
	if os.Getenv("PKI_TEST_HELPER") == "bulk" {
		os.Exit(helperBulk())
	}
	if os.Getenv("PKI_TEST_HELPER") == "renew" {
		os.Exit(helperRenew())
	}
	os.Exit(m.Run())
}

func helperIssue() int {
	dir, prefix := os.Getenv("PKI_DIR"), os.Getenv("PKI_PREFIX")
	count, _ := strconv.Atoi(os.Getenv("PKI_COUNT"))
	if at := os.Getenv("PKI_CRASH_AT"); at != "" {
		crashHook = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	for i := range count {
		// One process per issue would measure process start-up; one
		// store per issue still interleaves with the other processes.
		s, err := OpenStore(dir, true)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_, err = s.IssueClient(ClientParams{Name: fmt.Sprintf("%s-%d", prefix, i), CA: "root", KeyType: x509cert.ECDSAP256})
		s.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func helperCmd(t *testing.T, dir, prefix string, count int, crashAt string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PKI_TEST_HELPER=issue", "PKI_DIR="+dir, "PKI_PREFIX="+prefix,
		"PKI_COUNT="+strconv.Itoa(count), "PKI_CRASH_AT="+crashAt)
	return cmd
}

func killedBySignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// TestKillAtEveryStep kills an issuing process at each step of a commit and
// checks that the next open leaves either no trace of the client or all of
// it, never part.
func TestKillAtEveryStep(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := s.Dir
	s.Close()
	for i, tc := range []struct {
		step    string
		present bool
	}{
		{"file:" + keyFile, false},
		{"file:" + certFile, false},
		{"file:" + chainFile, false},
		{"staged", false},
		{"committed", true},
		{"renamed", true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			prefix := fmt.Sprintf("kill%d", i)
			err := helperCmd(t, dir, prefix, 1, tc.step).Run()
			if !killedBySignal(err) {
				t.Fatalf("helper was not killed at %s: %v", tc.step, err)
			}
			if !pendingWork(dir) && tc.step != "renamed" {
				t.Fatalf("a kill at %s left nothing staged: the hook is not where the test thinks", tc.step)
			}
			recs := checkConsistent(t, dir)
			if got := recs[prefix+"-0"] != nil; got != tc.present {
				t.Fatalf("after a kill at %s the client is present=%v, want %v", tc.step, got, tc.present)
			}
		})
	}
}

// TestKillAtRandomMoments kills bulk issuance at arbitrary times.
func TestKillAtRandomMoments(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := s.Dir
	s.Close()
	total := 0
	for round := range 8 {
		cmd := helperCmd(t, dir, fmt.Sprintf("r%d", round), 500, "")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The random moment falls while the helper is issuing: after its
		// first client is in place (a busy machine, or the race detector,
		// can take longer than any fixed delay to start the process).
		first := filepath.Join(dir, clientsDir, fmt.Sprintf("r%d-0", round))
		for deadline := time.Now().Add(30 * time.Second); !exists(first) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		recs := checkConsistent(t, dir)
		total = len(recs)
	}
	if total < 2 {
		t.Fatalf("only %d records after 8 rounds: the helper never issued, so nothing was tested", total)
	}
}

// TestConcurrentProcesses runs several processes issuing at once: no serial
// reused, no record lost, no file without a record.
func TestConcurrentProcesses(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := s.Dir
	s.Close()
	const procs, each = 4, 25
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = helperCmd(t, dir, fmt.Sprintf("p%d", i), each, "")
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	recs := checkConsistent(t, dir)
	if len(recs) != procs*each+1 {
		t.Fatalf("%d records, want %d", len(recs), procs*each+1)
	}
	for p := range procs {
		for i := range each {
			if recs[fmt.Sprintf("p%d-%d", p, i)] == nil {
				t.Errorf("client p%d-%d lost", p, i)
			}
		}
	}
}
