package pki

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/x509cert"
)

// KMSAPI is the part of the AWS KMS client apimtls calls.
type KMSAPI interface {
	CreateKey(context.Context, *kms.CreateKeyInput, ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	CreateAlias(context.Context, *kms.CreateAliasInput, ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Sign(context.Context, *kms.SignInput, ...func(*kms.Options)) (*kms.SignOutput, error)
}

// KMSConfig connects a Store to AWS KMS, for CAs whose key lives there.
// The CLI sets it; Client is called only when a KMS-held key is used, so
// commands on file keys never load AWS configuration.
type KMSConfig struct {
	Client  func() (KMSAPI, error)
	Context context.Context
	// Paced is told each time KMS's request quota (ThrottlingException)
	// makes a signature wait, before the wait.
	Paced func(wait time.Duration, attempt int)
	// Sleep waits; nil is a real, cancellable sleep. Tests pass a fake.
	Sleep func(context.Context, time.Duration) error
}

// Where a CA key lives, as ca show and ca list say it.
const (
	KeyInFile          = "file"
	KeyInEncryptedFile = "encrypted-file"
	KeyInKMS           = "kms"
)

// KeyRef says where a CA's private key lives.
type KeyRef struct {
	Kind      string `json:"kind"`
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
	// Missing: a key file that is not in this PKI directory, as with a
	// shared store on any machine but the one that made the CA.
	Missing bool `json:"missing,omitempty"`
}

// KeyLocation is where the record's private key lives. Records written
// before KMS support have no KMS ARN and read as a (possibly encrypted) file.
func (r *Record) KeyLocation() KeyRef {
	switch {
	case r.KMSKeyARN != "":
		return KeyRef{Kind: KeyInKMS, KMSKeyARN: r.KMSKeyARN}
	case r.KeyEncrypted:
		return KeyRef{Kind: KeyInEncryptedFile}
	}
	return KeyRef{Kind: KeyInFile}
}

// KeyLocation is where r's private key lives, and for a key file whether
// it is in this PKI directory.
func (l Layout) KeyLocation(r *Record) KeyRef {
	k := r.KeyLocation()
	if k.Kind != KeyInKMS {
		_, err := os.Stat(filepath.Join(l.RecordDir(r), keyFile))
		k.Missing = errors.Is(err, fs.ErrNotExist)
	}
	return k
}

// KMS key specs apimtls uses for CA keys, and the key type of each. They are
// the asymmetric SIGN_VERIFY specs whose certificates API Gateway accepts
// (P-521 and secp256k1 are left out, as for local keys).
var kmsKeySpecs = map[string]x509cert.KeyType{
	"ECC_NIST_P256": x509cert.ECDSAP256,
	"ECC_NIST_P384": x509cert.ECDSAP384,
	"RSA_2048":      x509cert.RSA2048,
	"RSA_3072":      x509cert.RSA3072,
	"RSA_4096":      x509cert.RSA4096,
}

// KMSKeySpecs lists the accepted specs, for flags and messages.
var KMSKeySpecs = []string{"ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_3072", "RSA_4096"}

// DefaultKMSKeySpec matches the default key type of a local CA.
const DefaultKMSKeySpec = "ECC_NIST_P384"

// ParseKMSKeySpec checks a --kms-key-spec value.
func ParseKMSKeySpec(s string) (string, error) {
	up := strings.ToUpper(strings.TrimSpace(s))
	if _, ok := kmsKeySpecs[up]; ok {
		return up, nil
	}
	return "", fmt.Errorf("unsupported KMS key spec %q (supported: %s)", s, strings.Join(KMSKeySpecs, ", "))
}

// KMSAliasFor is the alias apimtls gives the KMS key it creates for a CA.
func KMSAliasFor(ca string) string { return "alias/apimtls/" + ca }

// KMSKey asks for a CA key in KMS: an existing key (KeyID: key ID, key ARN,
// alias/... or alias ARN), or a new one of Spec when KeyID is empty.
type KMSKey struct {
	KeyID string
	Spec  string
}

// maxRawMessage is KMS Sign's limit on Message (API_Sign: "You can submit
// messages of up to 4096 bytes").
const maxRawMessage = 4096

// KMSSigner is a crypto.Signer (and crypto.MessageSigner) whose private key
// stays in AWS KMS: every signature is one KMS Sign request.
type KMSSigner struct {
	cfg     KMSConfig
	api     KMSAPI
	arn     string
	spec    string
	keyType x509cert.KeyType
	pub     crypto.PublicKey
}

// OpenKMSSigner checks a KMS key (DescribeKey: SIGN_VERIFY, a supported
// spec, enabled) and reads its public key (GetPublicKey).
func OpenKMSSigner(cfg KMSConfig, keyID string) (*KMSSigner, error) {
	if cfg.Client == nil {
		return nil, errors.New("this command has no AWS KMS client for a KMS-held key")
	}
	api, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	ctx := cfg.ctx()
	d, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", keyID, err)
	}
	m := d.KeyMetadata
	arn := aws.ToString(m.Arn)
	if m.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("KMS key %s has key usage %s: a CA key needs SIGN_VERIFY", arn, m.KeyUsage)
	}
	kt, ok := kmsKeySpecs[string(m.KeySpec)]
	if !ok {
		return nil, fmt.Errorf("KMS key %s has key spec %s: apimtls signs with %s", arn, m.KeySpec, strings.Join(KMSKeySpecs, ", "))
	}
	if !m.Enabled || m.KeyState != kmstypes.KeyStateEnabled {
		return nil, fmt.Errorf("KMS key %s is %s: enable it (aws kms enable-key) before signing with it", arn, m.KeyState)
	}
	pk, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", arn, err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: public key: %w", arn, err)
	}
	if got, err := x509cert.KeyTypeOf(pub); err != nil || got != kt {
		return nil, fmt.Errorf("KMS key %s: its public key is %v, not the %s its spec says", arn, got, m.KeySpec)
	}
	return &KMSSigner{cfg: cfg, api: api, arn: arn, spec: string(m.KeySpec), keyType: kt, pub: pub}, nil
}

// ARN is the key's ARN.
func (k *KMSSigner) ARN() string { return k.arn }

// Public is the key's public key, from GetPublicKey.
func (k *KMSSigner) Public() crypto.PublicKey { return k.pub }

// Sign signs a digest computed by the caller, with MessageType DIGEST.
// x509.CreateCertificate calls this for signers that are not
// MessageSigners; apimtls's own signing goes through SignMessage.
func (k *KMSSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, err := k.algorithm(opts)
	if err != nil {
		return nil, err
	}
	if len(digest) != opts.HashFunc().Size() {
		return nil, fmt.Errorf("KMS sign: a %s digest is %d bytes, not %d", opts.HashFunc(), opts.HashFunc().Size(), len(digest))
	}
	return k.sign(digest, kmstypes.MessageTypeDigest, alg)
}

// SignMessage signs a whole message. Since Go 1.25, x509.CreateCertificate
// and CreateRevocationList hand the to-be-signed bytes to a
// crypto.MessageSigner instead of hashing them first, so a certificate's
// TBS (a few hundred bytes to ~2 KB) reaches KMS as MessageType RAW and KMS
// hashes it itself: what KMS signs is exactly what the request carried, and
// a key policy may then pin kms:MessageType for certificates. A message
// over KMS's 4,096-byte limit (a CRL listing many revocations) is hashed
// here and sent as DIGEST; both cost one request and give the same
// signature, since RAW is KMS hashing the same bytes with the same hash.
func (k *KMSSigner) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, err := k.algorithm(opts)
	if err != nil {
		return nil, err
	}
	if len(msg) <= maxRawMessage && len(msg) > 0 {
		return k.sign(msg, kmstypes.MessageTypeRaw, alg)
	}
	h := opts.HashFunc().New()
	h.Write(msg)
	return k.sign(h.Sum(nil), kmstypes.MessageTypeDigest, alg)
}

// algorithm maps (key type, hash, padding) to KMS's signing algorithm, and
// refuses what the key cannot do: KMS ECC keys sign with the one hash of
// their curve (ECC_NIST_P256 with SHA-256, ECC_NIST_P384 with SHA-384), RSA
// keys with PKCS #1 v1.5 or PSS (salt as long as the hash) and SHA-256,
// -384 or -512.
func (k *KMSSigner) algorithm(opts crypto.SignerOpts) (kmstypes.SigningAlgorithmSpec, error) {
	bits := map[crypto.Hash]string{crypto.SHA256: "256", crypto.SHA384: "384", crypto.SHA512: "512"}[opts.HashFunc()]
	if bits == "" {
		return "", fmt.Errorf("KMS key %s cannot sign with hash %v", k.arn, opts.HashFunc())
	}
	switch k.keyType {
	case x509cert.ECDSAP256, x509cert.ECDSAP384:
		if (k.keyType == x509cert.ECDSAP256) != (bits == "256") || bits == "512" {
			return "", fmt.Errorf("KMS key %s (%s) cannot sign with %v", k.arn, k.spec, opts.HashFunc())
		}
		return kmstypes.SigningAlgorithmSpec("ECDSA_SHA_" + bits), nil
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		if pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != opts.HashFunc().Size() {
			return "", fmt.Errorf("KMS key %s: RSASSA-PSS in KMS uses a salt as long as the hash, not %d bytes", k.arn, pss.SaltLength)
		}
		return kmstypes.SigningAlgorithmSpec("RSASSA_PSS_SHA_" + bits), nil
	}
	return kmstypes.SigningAlgorithmSpec("RSASSA_PKCS1_V1_5_SHA_" + bits), nil
}

// kmsAttempts is how many times one signature is tried when KMS throttles.
const kmsAttempts = 8

// sign sends one Sign request, retrying ThrottlingException with
// exponential backoff and jitter (developer guide, throttling: "use a
// backoff and retry strategy"), and tells Paced before each wait. The SDK's
// own retryer is off for Sign so that every wait is seen and reported.
func (k *KMSSigner) sign(msg []byte, mt kmstypes.MessageType, alg kmstypes.SigningAlgorithmSpec) ([]byte, error) {
	ctx := k.cfg.ctx()
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := k.api.Sign(ctx, &kms.SignInput{KeyId: aws.String(k.arn), Message: msg, MessageType: mt, SigningAlgorithm: alg},
			func(o *kms.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			return out.Signature, nil
		}
		if awserr.Code(err) != "ThrottlingException" || attempt == kmsAttempts {
			return nil, fmt.Errorf("KMS Sign with %s: %w", k.arn, err)
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)))
		if k.cfg.Paced != nil {
			k.cfg.Paced(d, attempt)
		}
		if err := k.cfg.sleep(ctx, d); err != nil {
			return nil, err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (c KMSConfig) ctx() context.Context {
	if c.Context != nil {
		return c.Context
	}
	return context.Background()
}

func (c KMSConfig) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// createKMSKey makes a new KMS key for CA name, with apimtls's alias. No
// Policy is sent: KMS then applies its default key policy, which gives the
// account (its root principal) full control and so lets IAM policies grant
// each operator only kms:Sign, kms:GetPublicKey and kms:DescribeKey on this
// key (docs/team.md). The alias must not exist yet: a second CA of the
// same name in another PKI directory must not take over the first one's key.
func createKMSKey(cfg KMSConfig, name, spec string) (*KMSSigner, error) {
	if cfg.Client == nil {
		return nil, errors.New("this command has no AWS KMS client")
	}
	api, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	ctx := cfg.ctx()
	alias := KMSAliasFor(name)
	if d, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)}); err == nil {
		return nil, fmt.Errorf("the KMS alias %s exists already (key %s): use it with --kms-key-id %s, or choose another CA name", alias, aws.ToString(d.KeyMetadata.Arn), alias)
	} else if !isAPIError(err, "NotFoundException") {
		return nil, fmt.Errorf("look up KMS alias %s: %w", alias, err)
	}
	out, err := api.CreateKey(ctx, &kms.CreateKeyInput{
		KeyUsage:    kmstypes.KeyUsageTypeSignVerify,
		KeySpec:     kmstypes.KeySpec(spec),
		Description: aws.String("apimtls CA " + name),
		Tags:        []kmstypes.Tag{{TagKey: aws.String("apimtls:ca"), TagValue: aws.String(name)}},
	})
	if err != nil {
		return nil, fmt.Errorf("create KMS key: %w", err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	if _, err := api.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arn)}); err != nil {
		return nil, fmt.Errorf("KMS key %s was created, but naming it %s failed (name it, or schedule its deletion): %w", arn, alias, err)
	}
	return OpenKMSSigner(cfg, arn)
}

func isAPIError(err error, code string) bool {
	return awserr.Code(err) == code
}

// kmsFile is ca/<name>/kms.json: where the CA's key lives, beside its
// certificate, so that store rebuild restores the record's KMS key.
const kmsFile = "kms.json"

type kmsFileContent struct {
	KMSKeyARN string `json:"kms_key_arn"`
	KeySpec   string `json:"key_spec"`
}

func encodeKMSFile(s *KMSSigner) []byte {
	b, _ := json.MarshalIndent(kmsFileContent{KMSKeyARN: s.arn, KeySpec: s.spec}, "", "  ")
	return append(b, '\n')
}

// readKMSFile sets rec.KMSKeyARN from a CA folder's kms.json, if any.
func readKMSFile(dir string, rec *Record) error {
	data, err := os.ReadFile(filepath.Join(dir, kmsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var c kmsFileContent
	if err := json.Unmarshal(data, &c); err != nil || !strings.HasPrefix(c.KMSKeyARN, "arn:") {
		return fmt.Errorf("%s: not a KMS key reference", filepath.Join(dir, kmsFile))
	}
	rec.KMSKeyARN = c.KMSKeyARN
	return nil
}

// loadKMSIssuer opens a KMS-held CA key and checks it is the certificate's
// (openIssuer, signer.go).
func (s *Store) loadKMSIssuer(rec *Record, cert *x509.Certificate) (x509cert.Issuer, error) {
	signer, err := OpenKMSSigner(s.KMS, rec.KMSKeyARN)
	if err != nil {
		return x509cert.Issuer{}, fmt.Errorf("open key of CA %q: %w", rec.Name, err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return x509cert.Issuer{}, fmt.Errorf("KMS key %s does not match the certificate of CA %q", rec.KMSKeyARN, rec.Name)
	}
	return x509cert.Issuer{Cert: cert, Key: signer, Level: rec.Level}, nil
}
