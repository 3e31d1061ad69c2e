// Package scripttest runs apimtls's end-to-end testscript files: the real
// command against real openssl and curl, a MinIO server and the in-process
// fake API Gateway control plane, with the custom script commands those
// files use (exits, mode, json, jsonenv, waitfile, fake).
package scripttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/s3store"
)

// Run runs the end-to-end CLI scripts in dir: the real command, with real
// openssl, MinIO and the fake control plane, in a fresh directory each.
// The test binary must register the command "apimtls" with testscript.Main.
func Run(t *testing.T, dir string) {
	var minio *miniotest.Server
	if _, err := miniotest.Binary(); err == nil || os.Getenv("CI") == "true" {
		minio = miniotest.Shared(t)
		t.Cleanup(miniotest.StopShared)
	}
	var buckets atomic.Int64
	var fake *fakeapigw.Fake
	var oneEndpoint string
	if minio != nil {
		fake = startFake(t, minio)
		oneEndpoint = startOneEndpoint(t, minio.Endpoint, fake.URL())
	}
	kmsFake := startKMS(t)
	tfMirror := terraformMirror()
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
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
				env.Setenv("BUCKET", miniotest.Bucket("apimtls-script"))
				env.Setenv("DOMAIN", fmt.Sprintf("api%d.example.com", n))
				for _, svc := range []string{"API_GATEWAY", "APIGATEWAYV2", "ACM", "LAMBDA", "IAM"} {
					env.Setenv("AWS_ENDPOINT_URL_"+svc, fake.URL())
				}
				env.Setenv("AWS_ENDPOINT_URL_S3", minio.Endpoint)
				env.Setenv("ONE_ENDPOINT", oneEndpoint)
			}
			setKMSEnv(env, kmsFake)
			if tfMirror != "" {
				if err := terraformOffline(env, tfMirror); err != nil {
					return err
				}
			}
			for _, tool := range []string{"openssl", "bash", "zsh", "fish"} {
				if _, err := exec.LookPath(tool); err != nil && os.Getenv("CI") == "true" {
					return fmt.Errorf("%s is not installed; CI must install it", tool)
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "minio":
				return minio != nil, nil
			case "terraform":
				return tfMirror != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"mode":     cmdMode,
			"json":     cmdJSON,
			"waitfile": cmdWaitFile,
			"fake":     func(ts *testscript.TestScript, neg bool, args []string) { cmdFake(ts, neg, args, fake) },
			"kms":      func(ts *testscript.TestScript, neg bool, args []string) { cmdKMS(ts, neg, args, kmsFake) },
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

// startFake runs the fake API Gateway control plane, reading truststores
// from the MinIO server as API Gateway reads them from S3.
var rawS3 *s3.Client // for scripts that must put what apimtls refuses to upload

// denyRead holds the buckets whose truststores the fake may not read, as
// when a bucket policy denies API Gateway's read on the caller's behalf.
var denyRead sync.Map

func startFake(t *testing.T, minio *miniotest.Server) *fakeapigw.Fake {
	client := s3.New(s3.Options{Region: miniotest.Region, BaseEndpoint: aws.String(minio.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, "")})
	rawS3 = client
	store := &s3store.Client{API: client, Region: miniotest.Region}
	f := fakeapigw.New(func(ctx context.Context, _, bucket, key, version string) ([]byte, error) {
		if _, denied := denyRead.Load(bucket); denied {
			return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, fakeapigw.ErrAccessDenied)
		}
		data, _, err := store.Pull(ctx, bucket, key, version)
		return data, err
	})
	f.UpdatingPolls = 2
	// The command under test runs in a subprocess that cannot share a test
	// clock, so waiting out AWS's quotas would take real time (30 s per
	// domain update). Scripts run without quotas; quota behaviour is covered
	// by the Go tests against this same fake with a TestClock.
	f.Quotas = fakeapigw.Quotas{}
	// Likewise IAM's propagation delay and Lambda's Pending state, covered
	// by the rollout tests on a TestClock.
	f.RolePropagation, f.FunctionSettle = 0, 0
	t.Cleanup(f.Close)
	return f
}

// fake configures the fake control plane from a script:
//
//	fake domain NAME http|rest [ENDPOINT [POLICY [CERT_ARN]]]
//	fake api ID http|rest STAGE[:auto]...
//	fake map DOMAIN API_ID STAGE
//	fake tags DOMAIN KEY=VALUE...  (tags on the domain, CloudFormation's aws:cloudformation:* among them)
//	fake cert ARN TYPE STATUS
//	fake throttle SUBSTR N     (the next N mutating calls on paths containing SUBSTR)
//	fake s3put BUCKET KEY FILE (straight into S3, bypassing push's checks)
//	fake conflict DOMAIN N     (the next N updates of DOMAIN meet ConflictException)
//	fake warn DOMAIN TEXT      (every truststore update of DOMAIN gets this warning)
//	fake busy DOMAIN           (the domain is UPDATING for a few polls)
//	fake mutations SUBSTR N    (exactly N mutating calls so far on paths containing SUBSTR)
//	fake sent TEXT             (some request body contains TEXT)
//	fake truststore DOMAIN URI VERSION
//	fake default-endpoint ID on|off
//	fake deployment API STAGE DESCRIPTION AGO (a deployment made AGO ago, e.g. 48h)
//	fake rule DOMAIN PRIORITY API STAGE        (a routing rule)
//	fake routing-mode DOMAIN MODE              (API_MAPPING_ONLY, ROUTING_RULE_ONLY, ...)
//	fake deny-read BUCKET                      (the fake may not read truststores in BUCKET)
//	fake routes API KEY...                     (routes or REST methods, as 'GET /pets')
//	fake served API STAGE ROUTE AUTH           (the stage serves ROUTE as NONE or CUSTOM)
//	fake function NAME present|absent
//	fake no-routing-rules DOMAIN               (ListRoutingRules of DOMAIN answers 404, as on moto)
//	fake authorizer-ids API NONE|SET           (no route names an authorizer, or every one does)
//	fake deployments API N                     (exactly N CreateDeployment calls on API so far)
//	fake stage-ttl API STAGE TTL               (the stage serves the apimtls authorizer with this TTL)
func cmdFake(ts *testscript.TestScript, neg bool, args []string, f *fakeapigw.Fake) {
	if f == nil {
		ts.Fatalf("no fake control plane: MinIO is missing")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: fake VERB ...")
	}
	arg := func(i int, def string) string {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	switch args[0] {
	case "domain":
		f.AddDomain(&fakeapigw.Domain{Name: args[1], REST: args[2] == "rest", EndpointType: arg(3, "REGIONAL"), SecurityPolicy: arg(4, "TLS_1_2"),
			CertificateArn: arg(5, "arn:aws:acm:us-east-1:111122223333:certificate/public")})
	case "api":
		a := &fakeapigw.API{ID: args[1], REST: args[2] == "rest", Stages: map[string]bool{}}
		for _, st := range args[3:] {
			name, auto := strings.CutSuffix(st, ":auto")
			a.Stages[name] = auto
		}
		f.AddAPI(a)
	case "map":
		f.Map(args[1], args[2], args[3])
	case "tags":
		tags := map[string]string{}
		for _, kv := range args[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				ts.Fatalf("fake tags: %q is not KEY=VALUE", kv)
			}
			tags[k] = v
		}
		f.SetTags(args[1], tags)
	case "cert":
		f.AddCertificate(&fakeapigw.Certificate{Arn: args[1], Type: args[2], Status: args[3]})
	case "s3put":
		_, err := rawS3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(args[1]), Key: aws.String(args[2]),
			Body: strings.NewReader(ts.ReadFile(args[3]))})
		ts.Check(err)
	case "throttle":
		n, _ := strconv.Atoi(args[2])
		f.Throttle(args[1], n)
	case "conflict":
		n, _ := strconv.Atoi(args[2])
		f.Conflict(args[1], n)
	case "warn":
		f.SetWarning(args[1], strings.Join(args[2:], " "))
	case "busy":
		f.MarkUpdating(args[1], 3)
	case "mutations":
		want, _ := strconv.Atoi(args[2])
		var got []string
		for _, r := range f.MutatingRequests() {
			if strings.Contains(r.Path, args[1]) {
				got = append(got, r.Method+" "+r.Path)
			}
		}
		if (len(got) == want) == neg {
			ts.Fatalf("%d mutating requests, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
		}
	case "sent":
		text := strings.Join(args[1:], " ")
		found := false
		for _, r := range f.Requests() {
			found = found || strings.Contains(r.Body, text)
		}
		if found == neg {
			ts.Fatalf("sent %q: %v", text, found)
		}
	case "truststore":
		d := f.Domain(args[1])
		if got := fmt.Sprintf("%s %s", d.TruststoreURI, d.TruststoreVersion); (got == args[2]+" "+arg(3, "")) == neg {
			ts.Fatalf("domain %s truststore is %q, want %q", args[1], got, args[2]+" "+arg(3, ""))
		}
	case "default-endpoint":
		a := f.API(args[1])
		if got := map[bool]string{true: "off", false: "on"}[a.DisableDefault]; (got == args[2]) == neg {
			ts.Fatalf("API %s default endpoint is %s", args[1], got)
		}
	case "deployment":
		if len(args) != 5 {
			ts.Fatalf("usage: fake deployment API STAGE DESCRIPTION AGO")
		}
		ago, err := time.ParseDuration(args[4])
		ts.Check(err)
		f.Deploy(args[1], args[2], args[3], time.Now().Add(-ago))
	case "rule":
		if len(args) != 5 {
			ts.Fatalf("usage: fake rule DOMAIN PRIORITY API STAGE")
		}
		prio, err := strconv.Atoi(args[2])
		ts.Check(err)
		f.AddRoutingRule(args[1], fakeapigw.RoutingRule{Priority: prio, APIID: args[3], Stage: args[4]})
	case "routing-mode":
		f.SetRoutingMode(args[1], args[2])
	case "routes":
		f.AddRoutes(args[1], args[2:]...)
	case "served":
		got := f.StageAuth(args[1], args[2])[args[3]]
		if (strings.HasPrefix(got, args[4]) && got != "") == neg {
			ts.Fatalf("stage %s of %s serves %s as %q, want %s", args[2], args[1], args[3], got, args[4])
		}
	case "function":
		_, ok := f.Function(args[1])
		if (ok == (args[2] == "present")) == neg {
			ts.Fatalf("function %s present: %v", args[1], ok)
		}
	case "deny-read":
		denyRead.Store(args[1], true)
	case "no-routing-rules":
		f.DisableRoutingRules(args[1])
	case "authorizer-ids":
		for k, v := range f.RouteAuthorizerIDs(args[1]) {
			if (v == "") != (args[2] == "NONE") {
				ts.Fatalf("route %s of %s names authorizer %q", k, args[1], v)
			}
		}
	case "deployments":
		want, _ := strconv.Atoi(args[2])
		if got := len(f.API(args[1]).Deployments); (got == want) == neg {
			ts.Fatalf("%d deployments of %s, want %d", got, args[1], want)
		}
	case "stage-ttl":
		want, _ := strconv.Atoi(args[3])
		found := false
		for _, a := range f.Authorizers(args[1]) {
			if a.Name != "apimtls-revocation" {
				continue
			}
			z, ok := f.StageAuthorizer(args[1], args[2], a.ID)
			found = ok && z.TTL == want
		}
		if found == neg {
			ts.Fatalf("stage %s of %s does not serve the authorizer with TTL %d", args[2], args[1], want)
		}
	default:
		ts.Fatalf("fake: unknown verb %q", args[0])
	}
}

// terraformMirror is a directory holding the hashicorp/aws provider for
// terraform init to install from, offline (APIMTLS_TF_PLUGIN_DIR, else
// /opt/tf-plugins, in the layout of terraform providers mirror or of an
// unpacked plugin directory), when terraform is on the PATH too; "" when
// either is missing. The condition [terraform] says whether it was found.
func terraformMirror() string {
	if _, err := exec.LookPath("terraform"); err != nil {
		return ""
	}
	dir := os.Getenv("APIMTLS_TF_PLUGIN_DIR")
	if dir == "" {
		dir = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(dir, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		return ""
	}
	return dir
}

// terraformOffline points a script's terraform at the mirror alone, as a
// reader's terraform init reaches the registry: no network, no checkpoint.
func terraformOffline(env *testscript.Env, mirror string) error {
	rc := filepath.Join(env.WorkDir, ".terraformrc")
	cfg := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path = %q\n  }\n}\n", mirror)
	if err := os.WriteFile(rc, []byte(cfg), 0o644); err != nil {
		return err
	}
	env.Setenv("TF_CLI_CONFIG_FILE", rc)
	env.Setenv("CHECKPOINT_DISABLE", "1")
	env.Setenv("TF_IN_AUTOMATION", "1")
	return nil
}
