package cli

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/pki"
)

// Flags of a CA whose key lives in AWS KMS (docs/team.md).
const (
	flagKMS        = "kms"
	flagKMSKeySpec = "kms-key-spec"
	flagKMSKeyID   = "kms-key-id"
)

func kmsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: flagKMS, Usage: "keep the CA key in AWS KMS: a new key with the alias alias/apimtls/NAME (docs/team.md)"},
		&cli.StringFlag{Name: flagKMSKeySpec, Usage: "with --kms: ECC_NIST_P256, ECC_NIST_P384, RSA_2048, RSA_3072 or RSA_4096 (default " + pki.DefaultKMSKeySpec + ")"},
		&cli.StringFlag{Name: flagKMSKeyID, Usage: "keep the CA key in this existing KMS key: `ARN|alias/NAME` (SIGN_VERIFY, enabled)"},
		&cli.StringFlag{Name: flagRegion, Usage: "AWS Region of the KMS key (default: AWS_REGION or the profile's)"},
		&cli.StringFlag{Name: flagEndpointURL, Usage: "a KMS endpoint, for tests (also AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL)"},
	}
}

// kmsKeyFlags reads the KMS flags of ca init and ca intermediate: nil for
// a local key, and usage errors for combinations that mean two things.
func kmsKeyFlags(c *cli.Context) (*pki.KMSKey, error) {
	id, spec := c.String(flagKMSKeyID), c.String(flagKMSKeySpec)
	if !c.Bool(flagKMS) && id == "" {
		if spec != "" {
			return nil, usagef("--%s needs --%s", flagKMSKeySpec, flagKMS)
		}
		return nil, nil
	}
	switch {
	case c.Bool(flagKMS) && id != "":
		return nil, usagef("--%s creates a KMS key and --%s uses an existing one: give one of them", flagKMS, flagKMSKeyID)
	case id != "" && spec != "":
		return nil, usagef("--%s: the existing key's spec is used; leave it out", flagKMSKeySpec)
	case c.Bool(flagEncrypt):
		return nil, usagef("--%s: a KMS key never leaves KMS and has no passphrase", flagEncrypt)
	case c.IsSet(flagKeyType):
		return nil, usagef("--%s is for local keys: choose a KMS key with --%s", flagKeyType, flagKMSKeySpec)
	}
	if id != "" {
		return &pki.KMSKey{KeyID: id}, nil
	}
	if spec == "" {
		spec = pki.DefaultKMSKeySpec
	}
	spec, err := pki.ParseKMSKeySpec(spec)
	if err != nil {
		return nil, usageError{err}
	}
	return &pki.KMSKey{Spec: spec}, nil
}

// kmsConfig gives the store a KMS client, built on first use with the
// command's AWS configuration (awsConfig: --region where the command has
// it, AWS_REGION, the profile; AWS_ENDPOINT_URL_KMS), and prints a note
// each time KMS's request quota paces a signature.
func kmsConfig(c *cli.Context) pki.KMSConfig {
	var client pki.KMSAPI
	return pki.KMSConfig{
		Context: c.Context,
		Client: func() (pki.KMSAPI, error) {
			if client != nil {
				return client, nil
			}
			cfg, err := awsConfig(c.Context, c)
			if err != nil {
				return nil, err
			}
			ep := c.String(flagEndpointURL)
			client = kms.NewFromConfig(cfg, func(o *kms.Options) {
				if ep != "" {
					o.BaseEndpoint = aws.String(ep)
				}
			})
			return client, nil
		},
		Paced: func(wait time.Duration, attempt int) {
			fmt.Fprintf(c.App.ErrWriter, "note: KMS request quota reached (ThrottlingException); signing again in %s (retry %d)\n", wait.Round(time.Millisecond), attempt)
		},
	}
}

// kmsDenied tells a KMS AccessDeniedException, which deserves a hint.
func kmsDenied(err error) bool {
	return awserr.Code(err) == "AccessDeniedException"
}

// keyLocationText is how ca show and ca list name where a CA key lives.
func keyLocationText(k pki.KeyRef) string {
	where := "file"
	switch k.Kind {
	case pki.KeyInKMS:
		return "KMS key " + k.KMSKeyARN
	case pki.KeyInEncryptedFile:
		where = "encrypted file"
	}
	if k.Missing {
		where += " (not on this machine)"
	}
	return where
}
