package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/profile"
)

func keyNamed(t *testing.T, name string) profileKey {
	t.Helper()
	i := slices.IndexFunc(profileKeys, func(k profileKey) bool { return k.name == name })
	if i < 0 {
		t.Fatalf("no profile key %s", name)
	}
	return profileKeys[i]
}

// TestResolvePrecedence: flag > environment > profile > default, for a
// key with a variable of its own, one with the SDK's and one with none.
func TestResolvePrecedence(t *testing.T) {
	settings := map[string]profile.Setting{
		"dir":          {Value: "/profile/pki", Line: 2},
		"region":       {Value: "eu-west-1", Line: 3},
		"bucket":       {Value: "profile-bucket", Line: 4},
		"endpoint-url": {Value: "http://profile:9000", Line: 5},
	}
	const where = "/c/config.toml:prod"
	for _, tc := range []struct {
		name    string
		key     string
		args    []string
		environ []string
		want    string
		origin  origin
	}{
		{"flag beats env and profile", "dir", []string{"apimtls", "ca", "list", "--dir", "/flag"}, []string{"APIMTLS_DIR=/env"}, "/flag", origin{originFlag, "--dir"}},
		{"flag=value", "dir", []string{"apimtls", "ca", "list", "--dir=/flag"}, []string{"APIMTLS_DIR=/env"}, "/flag", origin{originFlag, "--dir"}},
		{"single dash", "dir", []string{"apimtls", "ca", "list", "-dir", "/flag"}, nil, "/flag", origin{originFlag, "--dir"}},
		{"env beats profile", "dir", []string{"apimtls", "ca", "list"}, []string{"APIMTLS_DIR=/env"}, "/env", origin{originEnv, "APIMTLS_DIR"}},
		{"the last of a variable wins", "dir", nil, []string{"APIMTLS_DIR=/first", "APIMTLS_DIR=/env"}, "/env", origin{originEnv, "APIMTLS_DIR"}},
		{"an empty variable is unset", "dir", nil, []string{"APIMTLS_DIR="}, "/profile/pki", origin{originProfile, where}},
		{"profile", "dir", []string{"apimtls", "ca", "list"}, nil, "/profile/pki", origin{originProfile, where}},
		{"after -- is an argument, not the flag", "dir", []string{"apimtls", "x", "--", "--dir", "/arg"}, nil, "/profile/pki", origin{originProfile, where}},
		{"another flag's value", "dir", []string{"apimtls", "x", "--directory", "/d"}, nil, "/profile/pki", origin{originProfile, where}},
		{"the SDK's variable beats the profile", "region", nil, []string{"AWS_REGION=us-west-2"}, "us-west-2", origin{originEnv, "AWS_REGION"}},
		{"AWS_REGION before AWS_DEFAULT_REGION", "region", nil, []string{"AWS_DEFAULT_REGION=ap-south-1", "AWS_REGION=us-west-2"}, "us-west-2", origin{originEnv, "AWS_REGION"}},
		{"AWS_DEFAULT_REGION", "region", nil, []string{"AWS_DEFAULT_REGION=ap-south-1"}, "ap-south-1", origin{originEnv, "AWS_DEFAULT_REGION"}},
		{"any per-service endpoint beats the profile's", "endpoint-url", nil, []string{"AWS_ENDPOINT_URL_S3=http://minio:9000"}, "http://minio:9000", origin{originEnv, "AWS_ENDPOINT_URL_S3"}},
		{"the profile's endpoint", "endpoint-url", nil, []string{"AWS_ENDPOINT_URLX=http://x"}, "http://profile:9000", origin{originProfile, where}},
		{"no variable: flag", "bucket", []string{"apimtls", "truststore", "push", "--bucket", "flag-bucket"}, []string{"BUCKET=env"}, "flag-bucket", origin{originFlag, "--bucket"}},
		{"no variable: profile", "bucket", nil, []string{"BUCKET=env"}, "profile-bucket", origin{originProfile, where}},
		{"nothing: default", "domain", nil, nil, "", origin{Kind: originDefault}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, o := resolve(keyNamed(t, tc.key), tc.key, tc.args, tc.environ, settings, where)
			if v != tc.want || o != tc.origin {
				t.Errorf("resolve = %q from %v, want %q from %v", v, o, tc.want, tc.origin)
			}
		})
	}
	// A command without the flag: only the environment and the profile.
	if v, o := resolve(keyNamed(t, "dir"), "", []string{"apimtls", "--dir", "/flag"}, nil, settings, where); v != "/profile/pki" || o.Kind != originProfile {
		t.Errorf("resolve without the flag = %q from %v", v, o)
	}
}

// isolateEnv clears what beats the profile, so that only the profile
// and each case's own variables count.
func isolateEnv(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_ENDPOINT_URL") {
			t.Setenv(name, "")
		}
	}
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", envDir, envStore, envContext} {
		t.Setenv(name, "")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	path := filepath.Join(dir, "apimtls", "config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFillFromProfile: each command gets the profile's value of the
// settings it takes, and only when neither flag nor environment gives it.
func TestFillFromProfile(t *testing.T) {
	path := isolateEnv(t)
	const file = `[default]
bucket = "team-pki"
region = "eu-west-1"
domain = "api.example.com"
api-id = "a1b2c3d4e5"
store = "s3://team-pki/shared"
ca = "issuing"
dir = "/profile/pki"

[prod]
bucket = "prod-pki"
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args string
		want string
	}{
		{"bucket and region", nil, "truststore push", "truststore push --bucket=team-pki --region=eu-west-1 --store=s3://team-pki/shared --dir=/profile/pki"},
		{"the flag typed wins", nil, "truststore push --bucket mine --region=us-east-1", "truststore push --bucket mine --region=us-east-1 --store=s3://team-pki/shared --dir=/profile/pki"},
		{"the environment wins", map[string]string{"AWS_REGION": "us-west-2", envDir: "/env", envStore: "s3://env/x"}, "truststore push", "truststore push --bucket=team-pki"},
		{"an argument stays last", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "truststore push my.pem", "truststore push --bucket=team-pki --region=eu-west-1 -- my.pem"},
		{"another context", map[string]string{envDir: "/env", envStore: "s3://env/x", envContext: "prod"}, "truststore versions", "truststore versions --bucket=prod-pki"},
		{"--context beats APIMTLS_CONTEXT", map[string]string{envDir: "/env", envStore: "s3://env/x", envContext: "nope"}, "truststore versions --context prod", "truststore versions --context prod --bucket=prod-pki"},
		{"ca where it picks the signer", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "client issue dev-1", "client issue --ca=issuing -- dev-1"},
		{"not where it is a filter", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "client list", "client list"},
		{"nor where the client's own CA signs", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "client renew dev-1", "client renew -- dev-1"},
		{"DOMAIN when none is given", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "domain status", "domain status --region=eu-west-1 -- api.example.com"},
		{"not over the one given", map[string]string{envDir: "/env", envStore: "s3://env/x"}, "domain status other.example.com", "domain status --region=eu-west-1 -- other.example.com"},
		{"API_ID", map[string]string{envDir: "/env", envStore: "s3://env/x", "AWS_REGION": "us-west-2"}, "api disable-default-endpoint", "api disable-default-endpoint -- a1b2c3d4e5"},
		{"setup's domain, bucket and API", map[string]string{envDir: "/env", envStore: "s3://env/x", "AWS_REGION": "us-west-2"}, "setup", "setup --bucket=team-pki --domain=api.example.com --api-id=a1b2c3d4e5"},
		{"store migrate --to", map[string]string{envDir: "/env", "AWS_REGION": "us-west-2"}, "store migrate", "store migrate --to=s3://team-pki/shared"},
		{"help reads nothing", map[string]string{envContext: "nope"}, "truststore push --help", "truststore push --help"},
		{"nor version", map[string]string{envContext: "nope"}, "version", "version"},
		{"the config commands read it themselves", nil, "config list", "config list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			app := newApp(io.Discard, io.Discard)
			args := reorderArgs(app, append([]string{"apimtls"}, strings.Fields(tc.args)...))
			got, err := fillFromProfile(app, args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got[1:], " "); g != tc.want {
				t.Errorf("filled\n\t%s\nwant\n\t%s", g, tc.want)
			}
		})
	}
}

// TestProfileRefusals: an unknown context, a bad file and a loose mode,
// through Run as a user meets them.
func TestProfileRefusals(t *testing.T) {
	path := isolateEnv(t)
	run := func(args ...string) (int, string) {
		var stderr bytes.Buffer
		code := Run(context.Background(), append([]string{"apimtls"}, args...), io.Discard, &stderr)
		return code, stderr.String()
	}
	if err := os.WriteFile(path, []byte("[default]\nbucket = \"team-pki\"\n[prod]\nregion = \"eu-west-1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDir, t.TempDir())
	code, stderr := run("ca", "list", "--context", "staging")
	if code != exitUsage || !strings.Contains(stderr, `no context "staging" in `+path+`: its contexts are default, prod`) {
		t.Errorf("unknown context: exit %d\n%s", code, stderr)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, stderr := run("config", "list"); !strings.Contains(stderr, "warning: "+path+" is writable by others (mode 0666)") {
		t.Errorf("no warning for a loose profile:\n%s", stderr)
	}
	if err := os.WriteFile(path, []byte("[default]\nbucket = \"team-pki\"\n\n[prod]\nbuckt = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr = run("truststore", "versions", "--bucket", "b")
	if code != exitFailed || !strings.Contains(stderr, path+":5: in [prod]: buckt: unknown key") {
		t.Errorf("bad file: exit %d\n%s", code, stderr)
	}
}

// The next step a command prints never asks for what the profile gives:
// client revoke's crl push names no bucket when the profile holds one,
// and client issue's curl names the profile's domain.
func TestNextStepLeavesProfileBucketOut(t *testing.T) {
	t.Setenv(envDir, t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	run := func(args ...string) string {
		t.Helper()
		var out, errs strings.Builder
		if code := Run(context.Background(), append([]string{"apimtls"}, args...), &out, &errs); code != 0 {
			t.Fatalf("apimtls %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
		}
		return out.String()
	}
	run("ca", "init", "--key-type", "ecdsa-p256")
	run("client", "issue", "a", "--key-type", "ecdsa-p256")
	run("client", "issue", "b", "--key-type", "ecdsa-p256")
	if out := run("client", "revoke", "a"); !strings.Contains(out, "apimtls crl push --bucket BUCKET\n") {
		t.Errorf("no profile: the next step should ask for the bucket:\n%s", out)
	}
	run("config", "set", "bucket", "team-pki")
	if out := run("client", "revoke", "b"); !strings.Contains(out, "apimtls ca crl && apimtls crl push\n") {
		t.Errorf("with the profile's bucket: the next step should not ask for it:\n%s", out)
	}
	if out := run("client", "issue", "c", "--key-type", "ecdsa-p256"); !strings.Contains(out, " https://YOUR-DOMAIN/\n") {
		t.Errorf("no domain in the profile: the next step should say YOUR-DOMAIN:\n%s", out)
	}
	run("config", "set", "domain", "api.example.com")
	if out := run("client", "issue", "d", "--key-type", "ecdsa-p256"); !strings.Contains(out, " https://api.example.com/\n") {
		t.Errorf("with the profile's domain: the next step should name it:\n%s", out)
	}
}
