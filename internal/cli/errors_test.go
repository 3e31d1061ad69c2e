package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

func TestErrorCodes(t *testing.T) {
	wrap := func(err error) error { return withHint(fmt.Errorf("doing it: %w", err), "a hint") }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{usagef("bad flag"), codeUsage},
		{fmt.Errorf("flag provided but not defined: -x"), codeUsage},
		{wrap(pki.ErrLocked), codeLocked},
		{wrap(outfile.ErrBusy), codeLocked},
		{wrap(&pki.NotFoundError{Kind: pki.KindRoot, Name: "x"}), codeNotFound},
		{wrap(apigw.ErrNotFound), codeNotFound},
		{wrap(s3store.ErrNoSuchBucket), codeNotFound},
		{wrap(&pki.ExistsError{Kind: pki.KindClient, Name: "x"}), codeConflict},
		{wrap(&outfile.RefusedError{Path: "k", Reason: "key"}), codeConflict},
		{wrap(apigw.ErrConflict), codeConflict},
		{wrap(x509cert.ErrWrongPassphrase), codeInvalidInput},
		{wrap(&x509cert.InvalidTruststoreError{Report: &x509cert.TruststoreReport{}}), codeInvalidInput},
		{wrap(apigw.ErrThrottled), codeAWS},
		{wrap(s3store.ErrEndpointDown), codeAWS},
		// The packages' own kinds (#22): none is "failed" any more.
		{wrap(apigw.ErrReferenced), codeConflict},
		{wrap(&sharedstore.ConflictError{Key: "k", Attempts: 5}), codeConflict},
		{wrap(fmt.Errorf("client x: %w", sharedstore.ErrDifferentRecord)), codeConflict},
		{wrap(sharedstore.ErrSerialInUse), codeConflict},
		{wrap(sharedstore.ErrMigrateConflicts), codeConflict},
		{wrap(&sharedstore.PendingError{Kind: pki.KindClient, Name: "x"}), codeConflict},
		{wrap(sharedstore.ErrNotFound), codeNotFound},
		{wrap(&sharedstore.DamagedError{URI: "s3://b/k", Reason: "not JSON"}), codeInvalidInput},
		{wrap(&rollout.PreflightError{Problems: []string{"p"}}), codeInvalidInput},
		{wrap(&rollout.WarningsError{Domain: "d", Count: 1}), codeInvalidInput},
		{wrap(&rollout.InvalidError{Name: "ts.pem", Problems: []string{"p"}}), codeInvalidInput},
		{wrap(fmt.Errorf("s3://b/k %w", rollout.ErrNoVersion)), codeNotFound},
		{wrap(apigw.ErrReadBack), codeAWS},
		{wrap(s3store.ErrNotSettled), codeAWS},
		{wrap(authorizer.ErrNeedsZip), codeNotFound},
		{fmt.Errorf("something else"), codeFailed},
	} {
		if got := errorCode(tc.err); got != tc.want {
			t.Errorf("%v: code %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestJSONErrors runs failing commands with -o json: standard error holds
// exactly one JSON document with the stable code, and text mode is
// unchanged.
func TestJSONErrors(t *testing.T) {
	dir := initPKI(t)
	work := filepath.Dir(dir)
	right, wrong := filepath.Join(work, "right.pass"), filepath.Join(work, "wrong.pass")
	os.WriteFile(right, []byte("correct horse battery\n"), 0o600)
	os.WriteFile(wrong, []byte("wrong horse battery\n"), 0o600)
	var setup bytes.Buffer
	if code := Run(context.Background(), []string{"apimtls", "--dir", dir, "ca", "init", "--name", "enc", "--encrypt", "--passphrase-file", right}, &setup, &setup); code != 0 {
		t.Fatalf("encrypted CA: %s", setup.String())
	}
	lock, err := outfile.Acquire(filepath.Join(dir, serveCAFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		args []string
		code string
		exit int
	}{
		{[]string{"ca", "show"}, codeUsage, exitUsage},
		{[]string{"clinet", "list"}, codeUsage, exitUsage},
		{[]string{"ca", "show", "nosuch"}, codeNotFound, exitFailed},
		{[]string{"serve", "--listen", "127.0.0.1:0"}, codeLocked, exitFailed},
		{[]string{"ca", "init"}, codeConflict, exitFailed},
		{[]string{"truststore", "build", "--out", pki.Layout{Dir: dir}.CAKey("root")}, codeConflict, exitFailed},
		{[]string{"client", "issue", "c1", "--ca", "enc", "--passphrase-file", wrong}, codeInvalidInput, exitFailed},
	} {
		// A cancelled context stops a serve that wrongly starts; the
		// others must not see it, or a passphrase read is "interrupted".
		ctx := context.Background()
		if tc.args[0] == "serve" {
			ctx = cancelled
		}
		for _, jsonArgs := range [][]string{{"-o", "json"}, {"--output=json"}} {
			var out, errb bytes.Buffer
			args := append(append([]string{"apimtls", "--dir", dir}, jsonArgs...), tc.args...)
			code := Run(ctx, args, &out, &errb)
			var doc struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			dec := json.NewDecoder(&errb)
			if err := dec.Decode(&doc); err != nil || dec.More() {
				t.Errorf("%q: stderr is not one JSON document (%v):\n%s", tc.args, err, errb.String())
				continue
			}
			if code != tc.exit || doc.Error.Code != tc.code || doc.Error.Message == "" {
				t.Errorf("%q: exit %d code %q message %q, want exit %d code %q", tc.args, code, doc.Error.Code, doc.Error.Message, tc.exit, tc.code)
			}
		}
		var out, errb bytes.Buffer
		Run(ctx, append([]string{"apimtls", "--dir", dir}, tc.args...), &out, &errb)
		if !strings.HasPrefix(errb.String(), "error: ") {
			t.Errorf("%q in text mode: %q", tc.args, errb.String())
		}
	}
}

func TestUnknownCommandSuggests(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clinet", "list"}, "hint: did you mean: apimtls client?"},
		{[]string{"client", "lst"}, "hint: did you mean: apimtls client list?"},
		{[]string{"truststore", "biuld"}, "hint: did you mean: apimtls truststore build?"},
		{[]string{"qiuckstart"}, "hint: did you mean: apimtls quickstart?"},
		{[]string{"zzz"}, "hint: the commands here are: quickstart, ca, client"},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"apimtls"}, tc.args...), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), "unknown command") || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d\n%s", tc.args, code, errb.String())
		}
	}
}
