package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func initPKI(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	for _, args := range [][]string{{"ca", "init"}, {"client", "issue", "alice"}, {"truststore", "build"}} {
		var out bytes.Buffer
		if code := Run(context.Background(), append([]string{"apimtls", "--dir", dir}, args...), &out, &out); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out.String())
		}
	}
	return dir
}

// TestSecondServeKeepsTheFirstCA: while one serve runs, another pointed
// at the same serve-ca.pem must be refused and leave the file alone, or the
// first one's clients stop trusting it.
func TestSecondServeKeepsTheFirstCA(t *testing.T) {
	dir := initPKI(t)
	ctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var firstErr bytes.Buffer
	go func() {
		done <- Run(ctx, []string{"apimtls", "--dir", dir, "serve", "--listen", "127.0.0.1:0"}, pw, &firstErr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if !strings.HasPrefix(line, "serving ") {
		stop()
		t.Fatalf("first serve: %q %v\n%s", line, err, firstErr.String())
	}
	go io.Copy(io.Discard, pr)
	caPath := filepath.Join(dir, serveCAFile)
	first, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"apimtls", "--dir", dir, "serve", "--listen", "127.0.0.1:0"}, &out, &errb)
	if code != exitFailed || !strings.Contains(errb.String(), "in use by another running apimtls") || strings.Contains(out.String(), "serving") {
		t.Errorf("second serve: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if now, _ := os.ReadFile(caPath); !bytes.Equal(now, first) {
		t.Error("the second serve replaced the first one's CA")
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("first serve: exit %d\n%s", code, firstErr.String())
	}

	// Once the first has stopped, the file is free again.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	out.Reset()
	errb.Reset()
	if code := Run(cancelled, []string{"apimtls", "--dir", dir, "serve", "--listen", "127.0.0.1:0"}, &out, &errb); code != 0 {
		t.Errorf("serve after the first stopped: exit %d\n%s", code, errb.String())
	}
}

// TestServeChecksOutputsFirst: an --url-file that cannot be written fails
// the command before it says it is serving.
func TestServeChecksOutputsFirst(t *testing.T) {
	dir := initPKI(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nonexistent", "url")
	code := Run(cancelled, []string{"apimtls", "--dir", dir, "serve", "--listen", "127.0.0.1:0", "--url-file", missing}, &out, &errb)
	if code != exitFailed || strings.Contains(out.String(), "serving") || !strings.Contains(errb.String(), "does not exist") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, serveCAFile)); err == nil {
		t.Error("serve wrote its CA before refusing")
	}
}

// TestProbeReportsOnlyWhatItSaw: a listener that accepts and closes is
// not a pass but "could not tell" (exit 1, with the reason), and a
// negative timeout is a usage error.
func TestProbeReportsOnlyWhatItSaw(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"probe", "-k", "https://" + l.Addr().String() + "/"}, exitFailed, "????  without a client certificate: could not tell"},
		{[]string{"probe", "-k", "https://" + l.Addr().String() + "/", "-o", "json"}, exitFailed, `"verdict": "could not tell"`},
		{[]string{"probe", "-k", "https://nosuch.invalid/"}, exitFailed, "the name does not resolve"},
		{[]string{"probe", "--timeout", "-1s", "https://localhost/"}, exitUsage, "--timeout -1s is out of range"},
		{[]string{"probe", "--timeout", "0s", "https://localhost/"}, exitUsage, "--timeout 0s is out of range"},
	} {
		var out bytes.Buffer
		code := Run(context.Background(), append([]string{"apimtls", "--dir", t.TempDir()}, tc.args...), &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), "PASS") {
			t.Errorf("%q: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.want, out.String())
		}
	}
}
