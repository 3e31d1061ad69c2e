// Package fakekms is a strict in-process stand-in for AWS KMS, for the
// operations apimtls calls on asymmetric signing keys. The real
// aws-sdk-go-v2 KMS client talks to it over HTTP (AWS JSON 1.1, the
// X-Amz-Target header TrentService.<Operation>). Where AWS documents a
// rule it follows it; where it does not, it takes the stricter reading, so
// that a client which passes here has not relied on leniency.
//
// What it models, with the source of each rule (AWS KMS API Reference,
// https://docs.aws.amazon.com/kms/latest/APIReference/):
//
//   - CreateKey (API_CreateKey): KeyUsage SIGN_VERIFY with KeySpec
//     ECC_NIST_P256, ECC_NIST_P384, RSA_2048, RSA_3072 or RSA_4096; other
//     asymmetric specs and symmetric keys are out of scope and refused with
//     ValidationException naming what the fake supports. KeyUsage defaults
//     to ENCRYPT_DECRYPT and KeySpec to SYMMETRIC_DEFAULT as in KMS, so a
//     request that forgets either is refused. Policy, when given, must be a
//     JSON document with a Statement and at most 32,768 characters, else
//     MalformedPolicyDocumentException.
//   - CreateAlias, ListAliases (API_CreateAlias): the name starts with
//     "alias/", matches ^alias/[a-zA-Z0-9/_-]+$, is at most 256 characters
//     and does not start with "alias/aws/" (reserved for AWS managed keys);
//     an existing name is AlreadyExistsException.
//   - DescribeKey, GetPublicKey, Sign take a key ID, key ARN, alias name
//     ("alias/...") or alias ARN; anything else or a missing key is
//     NotFoundException. A disabled key is DisabledException for
//     GetPublicKey and Sign (API_Sign "Errors").
//   - GetPublicKey (API_GetPublicKey): the public key is the DER
//     SubjectPublicKeyInfo of RFC 5280; the response lists the key's
//     SigningAlgorithms.
//   - Sign (API_Sign): Message of 1 to 4,096 bytes; MessageType RAW (KMS
//     hashes the message with the algorithm's hash) or DIGEST ("the length
//     of the Message value must match the length of hashed messages for the
//     specified signing algorithm", else ValidationException). The
//     SigningAlgorithm must be one KMS offers for the key spec (ECC_NIST_P256
//     only ECDSA_SHA_256, ECC_NIST_P384 only ECDSA_SHA_384, RSA keys the six
//     RSASSA_PKCS1_V1_5_* and RSASSA_PSS_* algorithms; developer guide,
//     asymmetric-key-specs), else InvalidKeyUsageException ("the signing
//     algorithm specified for the operation is incompatible with the type of
//     key material"). ECDSA signatures are DER (RFC 3279); PSS uses a salt as
//     long as the digest.
//   - Throttling (developer guide, requests-per-second, and throttling):
//     when Quota is set, Sign and GetPublicKey calls beyond the per-second
//     rate for the key type (RSA keys 500, ECC keys 300 by default, shared
//     by every key of the type) get ThrottlingException "You have exceeded
//     the rate at which you may call KMS. Reduce the frequency of your
//     calls." ThrottleNext forces it for the next N Sign calls.
//   - Deny makes an action AccessDeniedException, worded as IAM words it.
//
// Every request is counted (Calls) for tests to inspect.
package fakekms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // and SHA-384, SHA-512
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Account and Region name the fake's keys in ARNs.
const (
	Account = "111122223333"
	Region  = "eu-west-1"
)

// ThrottleMessage is KMS's text for a throttled request.
const ThrottleMessage = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."

// DefaultQuota is KMS's default request quota for asymmetric cryptographic
// operations (Sign, Verify, GetPublicKey), per second, shared by every key
// of the type in the account and Region (developer guide,
// requests-per-second: "500 (shared) for RSA KMS keys", "300 (shared) for
// elliptic curve (ECC) KMS keys").
var DefaultQuota = Quota{RSA: 500, ECC: 300}

// Quota is a requests-per-second limit per key type; zero is no limit.
type Quota struct{ RSA, ECC int }

type key struct {
	id, arn     string
	spec        string
	usage       string
	policy      string
	description string
	enabled     bool
	created     time.Time
	signer      crypto.Signer
}

// Fake is the KMS stand-in. Its zero value is not usable: call New.
type Fake struct {
	mu      sync.Mutex
	keys    map[string]*key   // by key ID
	aliases map[string]string // alias name -> key ID
	deny    map[string]bool   // "kms:Sign" and so on
	calls   map[string]int
	// Quota, when not zero, throttles Sign and GetPublicKey per second.
	Quota    Quota
	window   time.Time
	used     map[string]int // "RSA"/"ECC" -> calls in the window
	throttle int
	// Now is the fake's clock, for the quota window.
	Now func() time.Time
	// Keygen, when set, makes the key for a spec (tests may hand out
	// precomputed RSA keys, since generating them is slow).
	Keygen func(spec string) (crypto.Signer, error)
	server *httptest.Server
	seq    int
}

// New returns an empty fake, not yet listening.
func New() *Fake {
	return &Fake{keys: map[string]*key{}, aliases: map[string]string{}, deny: map[string]bool{},
		calls: map[string]int{}, used: map[string]int{}, Now: time.Now}
}

// Start serves the fake on a local port; Close stops it.
func (f *Fake) Start() *Fake {
	f.server = httptest.NewServer(f)
	return f
}

// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_KMS).
func (f *Fake) URL() string { return f.server.URL }

// Close stops the server.
func (f *Fake) Close() {
	if f.server != nil {
		f.server.Close()
	}
}

// Deny makes every call of action ("kms:Sign", "kms:CreateKey"...) fail
// with AccessDeniedException, or allows it again.
func (f *Fake) Deny(action string, deny bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny[action] = deny
}

// ThrottleNext makes the next n Sign calls fail with ThrottlingException.
func (f *Fake) ThrottleNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = n
}

// SetEnabled enables or disables a key (by ID, ARN or alias).
func (f *Fake) SetEnabled(ref string, enabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.resolve(ref)
	if err != nil {
		return err
	}
	k.enabled = enabled
	return nil
}

// Calls returns how many times operation ("Sign"...) was called, refused
// calls included; "Sign/RAW" and "Sign/DIGEST" count the signatures made
// with each message type.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Policy returns a key's policy document, for tests.
func (f *Fake) Policy(ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.resolve(ref)
	if err != nil {
		return "", err
	}
	return k.policy, nil
}

// apiError is a KMS error: its __type and message, and the HTTP status.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{400, "ValidationException", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one JSON 1.1 request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "TrentService.")
	var out any
	var err error
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		err = &apiError{404, "UnknownOperationException", "KMS takes POST / only"}
	case !ok:
		err = &apiError{400, "UnknownOperationException", fmt.Sprintf("unknown X-Amz-Target %q", target)}
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		err = validation("Content-Type must be application/x-amz-json-1.1, not %q", r.Header.Get("Content-Type"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		err = &apiError{400, "MissingAuthenticationTokenException", "Request is missing Authentication Token"}
	default:
		body, rerr := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if rerr != nil {
			err = validation("read body: %v", rerr)
			break
		}
		out, err = f.call(op, body)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		ae, ok := err.(*apiError)
		if !ok {
			ae = &apiError{500, "KMSInternalException", err.Error()}
		}
		w.Header().Set("X-Amzn-ErrorType", ae.code)
		w.WriteHeader(ae.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": ae.code, "message": ae.msg})
		return
	}
	json.NewEncoder(w).Encode(out)
}

// call decodes the input strictly (no unknown members) and runs op.
func (f *Fake) call(op string, body []byte) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.deny["kms:"+op] {
		return nil, &apiError{400, "AccessDeniedException", fmt.Sprintf("User: arn:aws:iam::%s:user/test is not authorized to perform: kms:%s because no identity-based policy allows the kms:%s action", Account, op, op)}
	}
	decode := func(v any) error {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return &apiError{400, "SerializationException", err.Error()}
		}
		return nil
	}
	switch op {
	case "CreateKey":
		var in createKeyInput
		if err := decode(&in); err != nil {
			return nil, err
		}
		return f.createKey(in)
	case "CreateAlias":
		var in struct{ AliasName, TargetKeyId string }
		if err := decode(&in); err != nil {
			return nil, err
		}
		return f.createAlias(in.AliasName, in.TargetKeyId)
	case "ListAliases":
		var in struct {
			KeyId  string
			Limit  int
			Marker string
		}
		if err := decode(&in); err != nil {
			return nil, err
		}
		return f.listAliases(in.KeyId)
	case "DescribeKey":
		var in struct {
			KeyId       string
			GrantTokens []string
		}
		if err := decode(&in); err != nil {
			return nil, err
		}
		k, err := f.resolve(in.KeyId)
		if err != nil {
			return nil, err
		}
		return map[string]any{"KeyMetadata": metadata(k)}, nil
	case "GetPublicKey":
		var in struct {
			KeyId       string
			GrantTokens []string
		}
		if err := decode(&in); err != nil {
			return nil, err
		}
		return f.getPublicKey(in.KeyId)
	case "Sign":
		var in signInput
		if err := decode(&in); err != nil {
			return nil, err
		}
		return f.sign(in)
	}
	return nil, &apiError{400, "UnknownOperationException", fmt.Sprintf("the fake does not implement %s", op)}
}

type createKeyInput struct {
	Policy                         *string
	Description                    *string
	KeyUsage                       *string
	KeySpec                        *string
	CustomerMasterKeySpec          *string
	Origin                         *string
	BypassPolicyLockoutSafetyCheck bool
	Tags                           []struct{ TagKey, TagValue string }
	MultiRegion                    *bool
}

// signingAlgorithms is what KMS offers per key spec (developer guide,
// asymmetric-key-specs: "ECC key specs for signing and verification",
// "RSA key specs for signing and verification").
var signingAlgorithms = map[string][]string{
	"ECC_NIST_P256": {"ECDSA_SHA_256"},
	"ECC_NIST_P384": {"ECDSA_SHA_384"},
	"RSA_2048":      rsaAlgorithms,
	"RSA_3072":      rsaAlgorithms,
	"RSA_4096":      rsaAlgorithms,
}

var rsaAlgorithms = []string{
	"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
	"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
}

// allAlgorithms is the SigningAlgorithmSpec enum of the API; a value outside
// it fails the enum constraint before the key is looked at.
var allAlgorithms = append([]string{"ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256"}, rsaAlgorithms...)

var keySpecs = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"}

func (f *Fake) createKey(in createKeyInput) (any, error) {
	usage, spec := "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT"
	if in.KeyUsage != nil {
		usage = *in.KeyUsage
	}
	if in.KeySpec != nil && in.CustomerMasterKeySpec != nil {
		return nil, validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.")
	}
	if in.KeySpec != nil {
		spec = *in.KeySpec
	} else if in.CustomerMasterKeySpec != nil {
		spec = *in.CustomerMasterKeySpec
	}
	if !contains(keySpecs, spec) {
		return nil, validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [%s]", spec, strings.Join(keySpecs, ", "))
	}
	if !contains([]string{"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}, usage) {
		return nil, validation("1 validation error detected: Value '%s' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]", usage)
	}
	if _, ok := signingAlgorithms[spec]; !ok || usage != "SIGN_VERIFY" {
		return nil, validation("KeyUsage %s with KeySpec %s: this fake models only SIGN_VERIFY keys of ECC_NIST_P256, ECC_NIST_P384, RSA_2048, RSA_3072 and RSA_4096", usage, spec)
	}
	if in.Origin != nil && *in.Origin != "AWS_KMS" {
		return nil, validation("Origin %s is not modelled: only AWS_KMS", *in.Origin)
	}
	policy := defaultPolicy
	if in.Policy != nil {
		if err := checkPolicy(*in.Policy); err != nil {
			return nil, err
		}
		policy = *in.Policy
	}
	signer, err := f.generate(spec)
	if err != nil {
		return nil, err
	}
	f.seq++
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", f.seq, f.seq)
	k := &key{id: id, arn: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", Region, Account, id), spec: spec, usage: usage,
		policy: policy, enabled: true, created: f.Now(), signer: signer}
	if in.Description != nil {
		k.description = *in.Description
	}
	f.keys[id] = k
	return map[string]any{"KeyMetadata": metadata(k)}, nil
}

// defaultPolicy is what KMS applies when CreateKey has no Policy: the
// account root may do everything (developer guide, key-policy-default).
var defaultPolicy = fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, Account)

// checkPolicy refuses a policy KMS would: not JSON, no Statement, or over
// 32 KB (API_CreateKey: "The key policy size quota is 32 kilobytes").
func checkPolicy(p string) error {
	if len(p) > 32768 {
		return validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768")
	}
	var doc struct {
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(p), &doc); err != nil || len(doc.Statement) == 0 {
		return &apiError{400, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future."}
	}
	return nil
}

func (f *Fake) generate(spec string) (crypto.Signer, error) {
	if f.Keygen != nil {
		return f.Keygen(spec)
	}
	switch spec {
	case "ECC_NIST_P256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECC_NIST_P384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RSA_2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "RSA_3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "RSA_4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, validation("unsupported key spec %s", spec)
}

func metadata(k *key) map[string]any {
	state := "Enabled"
	if !k.enabled {
		state = "Disabled"
	}
	return map[string]any{
		"AWSAccountId": Account, "KeyId": k.id, "Arn": k.arn,
		"CreationDate": float64(k.created.Unix()), "Enabled": k.enabled, "Description": k.description,
		"KeyUsage": k.usage, "KeyState": state, "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
		"KeySpec": k.spec, "CustomerMasterKeySpec": k.spec, "SigningAlgorithms": signingAlgorithms[k.spec],
		"MultiRegion": false,
	}
}

var aliasPattern = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

func (f *Fake) createAlias(name, target string) (any, error) {
	switch {
	case len(name) > 256:
		return nil, validation("1 validation error detected: Value at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256")
	case !aliasPattern.MatchString(name):
		return nil, validation("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$ (and begin with alias/)", name)
	case strings.HasPrefix(name, "alias/aws/"):
		return nil, &apiError{400, "NotAuthorizedException", "Cannot create alias with prefix 'alias/aws/'"}
	}
	if _, ok := f.aliases[name]; ok {
		return nil, &apiError{400, "AlreadyExistsException", fmt.Sprintf("An alias with the name arn:aws:kms:%s:%s:%s already exists", Region, Account, name)}
	}
	if strings.HasPrefix(target, "alias/") || strings.Contains(target, ":alias/") {
		return nil, validation("TargetKeyId must be a key ID or key ARN, not an alias")
	}
	k, err := f.resolve(target)
	if err != nil {
		return nil, err
	}
	f.aliases[name] = k.id
	return struct{}{}, nil
}

func (f *Fake) listAliases(keyID string) (any, error) {
	var filter *key
	if keyID != "" {
		k, err := f.resolve(keyID)
		if err != nil {
			return nil, err
		}
		filter = k
	}
	type alias struct{ AliasName, AliasArn, TargetKeyId string }
	out := []alias{}
	for name, id := range f.aliases {
		if filter == nil || filter.id == id {
			out = append(out, alias{name, fmt.Sprintf("arn:aws:kms:%s:%s:%s", Region, Account, name), id})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AliasName < out[j].AliasName })
	return map[string]any{"Aliases": out, "Truncated": false}, nil
}

// resolve finds a key by ID, key ARN, alias name or alias ARN.
func (f *Fake) resolve(ref string) (*key, error) {
	if ref == "" {
		return nil, validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	arnPrefix := fmt.Sprintf("arn:aws:kms:%s:%s:", Region, Account)
	rest, isARN := ref, strings.HasPrefix(ref, "arn:")
	if isARN {
		var ok bool
		if rest, ok = strings.CutPrefix(ref, arnPrefix); !ok || !(strings.HasPrefix(rest, "key/") || strings.HasPrefix(rest, "alias/")) {
			return nil, &apiError{400, "NotFoundException", fmt.Sprintf("Invalid arn %s", ref)}
		}
	}
	if strings.HasPrefix(rest, "alias/") {
		if id, ok := f.aliases[rest]; ok {
			return f.keys[id], nil
		}
		return nil, &apiError{400, "NotFoundException", fmt.Sprintf("Alias %s%s is not found.", arnPrefix, rest)}
	}
	id := rest
	if isARN {
		id = strings.TrimPrefix(rest, "key/")
	}
	if k, ok := f.keys[id]; ok {
		return k, nil
	}
	return nil, &apiError{400, "NotFoundException", fmt.Sprintf("Key '%skey/%s' does not exist", arnPrefix, id)}
}

func (f *Fake) usable(ref string) (*key, error) {
	k, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	if !k.enabled {
		return nil, &apiError{400, "DisabledException", fmt.Sprintf("%s is disabled.", k.arn)}
	}
	return k, nil
}

// admit counts a call against the key type's quota.
func (f *Fake) admit(k *key) error {
	if f.Quota == (Quota{}) {
		return nil
	}
	now := f.Now()
	if now.Sub(f.window) >= time.Second {
		f.window, f.used = now, map[string]int{}
	}
	kind, limit := "ECC", f.Quota.ECC
	if strings.HasPrefix(k.spec, "RSA") {
		kind, limit = "RSA", f.Quota.RSA
	}
	if limit > 0 && f.used[kind] >= limit {
		return &apiError{400, "ThrottlingException", ThrottleMessage}
	}
	f.used[kind]++
	return nil
}

func (f *Fake) getPublicKey(ref string) (any, error) {
	k, err := f.usable(ref)
	if err != nil {
		return nil, err
	}
	if err := f.admit(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyId": k.arn, "PublicKey": der, "KeySpec": k.spec, "CustomerMasterKeySpec": k.spec,
		"KeyUsage": k.usage, "SigningAlgorithms": signingAlgorithms[k.spec]}, nil
}

type signInput struct {
	KeyId            string
	Message          []byte
	MessageType      *string
	SigningAlgorithm string
	GrantTokens      []string
	DryRun           bool
}

// hashOf is the hash each signing algorithm uses.
func hashOf(alg string) crypto.Hash {
	switch {
	case strings.HasSuffix(alg, "SHA_256"):
		return crypto.SHA256
	case strings.HasSuffix(alg, "SHA_384"):
		return crypto.SHA384
	case strings.HasSuffix(alg, "SHA_512"):
		return crypto.SHA512
	}
	return 0
}

func (f *Fake) sign(in signInput) (any, error) {
	mt := "RAW"
	if in.MessageType != nil {
		mt = *in.MessageType
	}
	switch {
	case len(in.Message) == 0:
		return nil, validation("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(in.Message) > 4096:
		return nil, validation("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")
	case !contains([]string{"RAW", "DIGEST", "EXTERNAL_MU"}, mt):
		return nil, validation("1 validation error detected: Value '%s' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]", mt)
	case in.SigningAlgorithm == "":
		return nil, validation("1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null")
	case !contains(allAlgorithms, in.SigningAlgorithm):
		return nil, validation("1 validation error detected: Value '%s' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [%s]", in.SigningAlgorithm, strings.Join(allAlgorithms, ", "))
	}
	k, err := f.usable(in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.usage != "SIGN_VERIFY" {
		return nil, &apiError{400, "InvalidKeyUsageException", fmt.Sprintf("%s key usage is %s which is not valid for Sign.", k.arn, k.usage)}
	}
	if !contains(signingAlgorithms[k.spec], in.SigningAlgorithm) {
		return nil, &apiError{400, "InvalidKeyUsageException", fmt.Sprintf("Algorithm %s is incompatible with key spec %s.", in.SigningAlgorithm, k.spec)}
	}
	if mt == "EXTERNAL_MU" {
		return nil, &apiError{400, "InvalidKeyUsageException", "EXTERNAL_MU is valid only for ML-DSA keys."}
	}
	if f.throttle > 0 {
		f.throttle--
		return nil, &apiError{400, "ThrottlingException", ThrottleMessage}
	}
	if err := f.admit(k); err != nil {
		return nil, err
	}
	h := hashOf(in.SigningAlgorithm)
	digest := in.Message
	if mt == "RAW" {
		hh := h.New()
		hh.Write(in.Message)
		digest = hh.Sum(nil)
	} else if len(digest) != h.Size() {
		return nil, validation("Digest is invalid length for algorithm %s.", in.SigningAlgorithm)
	}
	if in.DryRun {
		return nil, &apiError{412, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set."}
	}
	f.calls["Sign/"+mt]++ // what Calls("Sign/RAW") and Calls("Sign/DIGEST") count
	var opts crypto.SignerOpts = h
	if strings.HasPrefix(in.SigningAlgorithm, "RSASSA_PSS_") {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := k.signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyId": k.arn, "Signature": sig, "SigningAlgorithm": in.SigningAlgorithm}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Client is a real SDK client for the fake, with static test credentials
// and the SDK's retries off, so that tests see every refusal.
func (f *Fake) Client() *kms.Client {
	return kms.New(kms.Options{
		Region: Region, BaseEndpoint: aws.String(f.URL()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKEKMS", "secret", ""),
	})
}
