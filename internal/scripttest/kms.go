package scripttest

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/fakekms"
)

// startKMS starts the fake KMS every script can reach (no MinIO needed).
func startKMS(t *testing.T) *fakekms.Fake {
	f := fakekms.New().Start()
	t.Cleanup(f.Close)
	return f
}

// setKMSEnv points the command's KMS client at the fake; a script run
// without MinIO still gets a Region and credentials for it.
func setKMSEnv(env *testscript.Env, f *fakekms.Fake) {
	env.Setenv("AWS_ENDPOINT_URL_KMS", f.URL())
	if env.Getenv("AWS_REGION") == "" {
		for k, v := range map[string]string{"AWS_REGION": fakekms.Region, "AWS_ACCESS_KEY_ID": "AKIDSCRIPT", "AWS_SECRET_ACCESS_KEY": "secret",
			"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"} {
			env.Setenv(k, v)
		}
	}
}

// kms configures the fake KMS from a script:
//
//	kms key SPEC USAGE ALIAS     (a key made outside apimtls; USAGE is SIGN_VERIFY)
//	kms disable ALIAS|ARN
//	kms deny ACTION | kms allow ACTION   (kms:Sign ...)
//	kms throttle N               (the next N Sign calls are throttled)
func cmdKMS(ts *testscript.TestScript, neg bool, args []string, f *fakekms.Fake) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: kms key|disable|deny|allow|throttle ...")
	}
	switch args[0] {
	case "key":
		if len(args) != 4 {
			ts.Fatalf("usage: kms key SPEC USAGE ALIAS")
		}
		c := f.Client()
		out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: types.KeySpec(args[1]), KeyUsage: types.KeyUsageType(args[2])})
		ts.Check(err)
		_, err = c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(args[3]), TargetKeyId: out.KeyMetadata.KeyId})
		ts.Check(err)
	case "disable":
		ts.Check(f.SetEnabled(args[1], false))
	case "deny", "allow":
		f.Deny(args[1], args[0] == "deny")
	case "throttle":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		f.ThrottleNext(n)
	default:
		ts.Fatalf("kms: unknown subcommand %q", args[0])
	}
}
