package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"apimtls": func() { os.Exit(runMain()) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script: the real
// command, with real openssl, in a fresh directory each.
func TestScripts(t *testing.T) {
	var minio *miniotest.Server
	if _, err := miniotest.Binary(); err == nil || os.Getenv("CI") == "true" {
		minio = miniotest.Shared(t)
		t.Cleanup(miniotest.StopShared)
	}
	var buckets atomic.Int64
	var fake *fakeapigw.Fake
	if minio != nil {
		fake = startFake(t, minio)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("APIMTLS_DIR", env.WorkDir+"/pki")
			env.Setenv("NO_COLOR", "1")
			env.Setenv("GOVERSION", runtime.Version())
			if minio != nil {
				for _, kv := range minio.Env() {
					k, v, _ := strings.Cut(kv, "=")
					env.Setenv(k, v)
				}
				n := buckets.Add(1)
				env.Setenv("BUCKET", fmt.Sprintf("apimtls-script-%d-%d", os.Getpid()%100000, n))
				env.Setenv("DOMAIN", fmt.Sprintf("api%d.example.com", n))
				for _, svc := range []string{"API_GATEWAY", "APIGATEWAYV2", "ACM"} {
					env.Setenv("AWS_ENDPOINT_URL_"+svc, fake.URL())
				}
				env.Setenv("AWS_ENDPOINT_URL_S3", minio.Endpoint)
			}
			for _, tool := range []string{"openssl"} {
				if _, err := exec.LookPath(tool); err != nil && os.Getenv("CI") == "true" {
					return fmt.Errorf("%s is not installed; CI must install it", tool)
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "minio" {
				return minio != nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"mode":     cmdMode,
			"json":     cmdJSON,
			"waitfile": cmdWaitFile,
			"fake":     func(ts *testscript.TestScript, neg bool, args []string) { cmdFake(ts, neg, args, fake) },
			"jsonenv": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: jsonenv VAR PATH")
				}
				ts.Setenv(args[0], jsonAt(ts, args[1]))
			},
		},
	})
}

// exits N command args...: run the command and require exit code N.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// mode PATH PERM: the file's permission bits are exactly PERM (octal).
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode PATH PERM")
	}
	info, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	if got := uint64(info.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s has mode %04o, want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// json PATH VALUE: stdout parses as JSON and the value at PATH (keys and
// indexes separated by dots, "len" for a length) prints as VALUE.
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: json PATH VALUE")
	}
	if got := jsonAt(ts, args[0]); (got == args[1]) == neg {
		ts.Fatalf("json %s = %q, want %q", args[0], got, args[1])
	}
}

// jsonAt returns the value at path in stdout's JSON, printed with fmt.
func jsonAt(ts *testscript.TestScript, path string) string {
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	for _, part := range strings.Split(path, ".") {
		switch cur := v.(type) {
		case map[string]any:
			if part == "len" {
				v = float64(len(cur))
				continue
			}
			v = cur[part]
		case []any:
			if part == "len" {
				v = float64(len(cur))
				continue
			}
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(cur) {
				ts.Fatalf("json: no element %q", part)
			}
			v = cur[i]
		default:
			ts.Fatalf("json: %q is not inside an object or array", part)
		}
	}
	return fmt.Sprint(v)
}

// waitfile VAR FILE: wait up to 20 s for FILE to exist and be non-empty,
// then set VAR to its first line. Background servers announce themselves
// this way (serve --url-file).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile VAR FILE")
	}
	path := ts.MkAbs(args[1])
	for range 200 {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			line, _, _ := strings.Cut(string(data), "\n")
			ts.Setenv(args[0], strings.TrimSpace(line))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear within 20s", args[1])
}
