package fakekms

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

func newKey(t *testing.T, c *kms.Client, spec types.KeySpec) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify, KeySpec: spec})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// TestRefusals: the fake refuses, through the real SDK client, what KMS
// refuses, with KMS's error code.
func TestRefusals(t *testing.T) {
	f := New().Start()
	defer f.Close()
	c := f.Client()
	ctx := context.Background()
	p256 := newKey(t, c, types.KeySpecEccNistP256)
	rsaKey := newKey(t, c, types.KeySpecRsa2048)
	disabled := newKey(t, c, types.KeySpecEccNistP384)
	if err := f.SetEnabled(disabled, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/apimtls/root"), TargetKeyId: aws.String(p256)}); err != nil {
		t.Fatal(err)
	}
	d32 := make([]byte, 32)
	sign := func(key string, msg []byte, mt types.MessageType, alg types.SigningAlgorithmSpec) error {
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String(key), Message: msg, MessageType: mt, SigningAlgorithm: alg})
		return err
	}
	cases := []struct {
		name, code, msg string
		call            func() error
	}{
		{"symmetric default", "ValidationException", "SIGN_VERIFY", func() error {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			return err
		}},
		{"sign-verify without spec", "ValidationException", "SYMMETRIC_DEFAULT", func() error {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify})
			return err
		}},
		{"unknown spec", "ValidationException", "enum value set", func() error {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify, KeySpec: "ECC_NIST_P999"})
			return err
		}},
		{"bad policy", "MalformedPolicyDocumentException", "", func() error {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify, KeySpec: types.KeySpecRsa2048, Policy: aws.String("{}")})
			return err
		}},
		{"alias taken", "AlreadyExistsException", "already exists", func() error {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/apimtls/root"), TargetKeyId: aws.String(rsaKey)})
			return err
		}},
		{"alias reserved", "NotAuthorizedException", "alias/aws/", func() error {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/x"), TargetKeyId: aws.String(rsaKey)})
			return err
		}},
		{"alias without prefix", "ValidationException", "aliasName", func() error {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("apimtls"), TargetKeyId: aws.String(rsaKey)})
			return err
		}},
		{"describe missing alias", "NotFoundException", "alias/nope is not found", func() error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/nope")})
			return err
		}},
		{"describe missing key", "NotFoundException", "does not exist", func() error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("0000-none")})
			return err
		}},
		{"public key of disabled", "DisabledException", "disabled", func() error {
			_, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(disabled)})
			return err
		}},
		{"sign disabled", "DisabledException", "disabled", func() error { return sign(disabled, d32, types.MessageTypeRaw, "ECDSA_SHA_384") }},
		{"raw over 4096", "ValidationException", "4096", func() error {
			return sign(p256, make([]byte, 4097), types.MessageTypeRaw, "ECDSA_SHA_256")
		}},
		{"digest too short", "ValidationException", "Digest is invalid length", func() error {
			return sign(p256, make([]byte, 31), types.MessageTypeDigest, "ECDSA_SHA_256")
		}},
		{"sha-384 digest for a sha-256 algorithm", "ValidationException", "Digest is invalid length", func() error {
			return sign(rsaKey, make([]byte, 48), types.MessageTypeDigest, "RSASSA_PKCS1_V1_5_SHA_256")
		}},
		{"ecdsa 384 on p256", "InvalidKeyUsageException", "incompatible", func() error {
			return sign(p256, d32, types.MessageTypeRaw, "ECDSA_SHA_384")
		}},
		{"rsa algorithm on ecc key", "InvalidKeyUsageException", "incompatible", func() error {
			return sign(p256, d32, types.MessageTypeRaw, "RSASSA_PSS_SHA_256")
		}},
		{"ecdsa on rsa key", "InvalidKeyUsageException", "incompatible", func() error {
			return sign(rsaKey, d32, types.MessageTypeRaw, "ECDSA_SHA_256")
		}},
		{"unknown algorithm", "ValidationException", "signingAlgorithm", func() error {
			return sign(rsaKey, d32, types.MessageTypeRaw, "RSA_SHA1")
		}},
		{"unknown message type", "ValidationException", "messageType", func() error { return sign(rsaKey, d32, "HASH", "RSASSA_PSS_SHA_256") }},
		{"sign unknown key", "NotFoundException", "does not exist", func() error { return sign("nope", d32, types.MessageTypeRaw, "ECDSA_SHA_256") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.msg) {
				t.Fatalf("got %s %q, want %s containing %q", ae.ErrorCode(), ae.ErrorMessage(), tc.code, tc.msg)
			}
		})
	}
	t.Run("deny, throttle", func(t *testing.T) {
		f.Deny("kms:Sign", true)
		err := sign(p256, d32, types.MessageTypeDigest, "ECDSA_SHA_256")
		f.Deny("kms:Sign", false)
		if !isCode(err, "AccessDeniedException") || !strings.Contains(err.Error(), "kms:Sign") {
			t.Fatalf("denied: %v", err)
		}
		f.ThrottleNext(1)
		if err := sign(p256, d32, types.MessageTypeDigest, "ECDSA_SHA_256"); !isCode(err, "ThrottlingException") {
			t.Fatalf("throttled: %v", err)
		}
		if err := sign(p256, d32, types.MessageTypeDigest, "ECDSA_SHA_256"); err != nil {
			t.Fatalf("after the throttle: %v", err)
		}
	})
}

// TestQuota: past the ECC quota in one second, KMS throttles.
func TestQuota(t *testing.T) {
	f := New().Start()
	defer f.Close()
	f.Quota = Quota{ECC: 3}
	var now atomic.Int64 // the handler reads it on the server's goroutine
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	f.Now = func() time.Time { return time.Unix(now.Load(), 0) } // one window, whatever the machine's speed
	c := f.Client()
	key := newKey(t, c, types.KeySpecEccNistP256)
	var throttled int
	for range 5 {
		_, err := c.Sign(context.Background(), &kms.SignInput{KeyId: aws.String(key), Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
		if isCode(err, "ThrottlingException") {
			throttled++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if throttled != 2 {
		t.Fatalf("%d of 5 throttled with a quota of 3 per second, want 2", throttled)
	}
	now.Add(1) // the next second has room again
	if _, err := c.Sign(context.Background(), &kms.SignInput{KeyId: aws.String(key), Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"}); err != nil {
		t.Fatalf("a new second: %v", err)
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// TestSignaturesVerify: every algorithm, RAW and DIGEST, by alias and ARN,
// verifies against GetPublicKey's key.
func TestSignaturesVerify(t *testing.T) {
	f := New().Start()
	defer f.Close()
	c := f.Client()
	ctx := context.Background()
	msg := []byte("to be signed")
	for _, spec := range []types.KeySpec{types.KeySpecEccNistP256, types.KeySpecEccNistP384, types.KeySpecRsa2048} {
		arn := newKey(t, c, spec)
		alias := "alias/t/" + string(spec)
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(alias)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(pk.KeyId) != arn || pk.KeySpec != spec {
			t.Fatalf("GetPublicKey by alias: %s %s", aws.ToString(pk.KeyId), pk.KeySpec)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range pk.SigningAlgorithms {
			h := hashOf(string(alg))
			hh := h.New()
			hh.Write(msg)
			digest := hh.Sum(nil)
			for _, mt := range []types.MessageType{types.MessageTypeRaw, types.MessageTypeDigest} {
				m := msg
				if mt == types.MessageTypeDigest {
					m = digest
				}
				out, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String(arn), Message: m, MessageType: mt, SigningAlgorithm: alg})
				if err != nil {
					t.Fatalf("%s %s: %v", alg, mt, err)
				}
				var ok bool
				switch k := pub.(type) {
				case *ecdsa.PublicKey:
					ok = ecdsa.VerifyASN1(k, digest, out.Signature)
				case *rsa.PublicKey:
					if strings.Contains(string(alg), "PSS") {
						ok = rsa.VerifyPSS(k, h, digest, out.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
					} else {
						ok = rsa.VerifyPKCS1v15(k, h, digest, out.Signature) == nil
					}
				}
				if !ok {
					t.Fatalf("%s %s %s: signature does not verify", spec, alg, mt)
				}
			}
		}
	}
}
