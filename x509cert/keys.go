package x509cert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"
)

// KeyType names a key algorithm and size that API Gateway accepts for
// certificates in a truststore and for client certificates.
type KeyType string

// The key types apimtls generates and accepts. API Gateway requires RSA keys
// of at least 2048 bits or ECDSA keys of at least 256 bits; P-521 has been
// reported as unsupported and Ed25519 is not listed (docs/apigateway-rules.md#truststore),
// so neither is offered.
const (
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
)

// KeyTypes lists the supported key types in the order they are documented.
var KeyTypes = []KeyType{RSA2048, RSA3072, RSA4096, ECDSAP256, ECDSAP384}

// refusedKeyTypes explains why well-known key types are not offered.
var refusedKeyTypes = map[string]string{
	"ecdsa-p521": "API Gateway has been reported to refuse P-521 certificates",
	"p521":       "API Gateway has been reported to refuse P-521 certificates",
	"ed25519":    "API Gateway does not list Ed25519 among the algorithms it accepts",
	"ed448":      "API Gateway does not list Ed448 among the algorithms it accepts",
	"rsa-1024":   "API Gateway requires RSA keys of at least 2048 bits",
	"rsa-1536":   "API Gateway requires RSA keys of at least 2048 bits",
	"ecdsa-p224": "API Gateway requires ECDSA keys of at least 256 bits",
}

// UnsupportedKeyTypeError reports a key type apimtls does not generate or
// accept, with the reason when one is known.
type UnsupportedKeyTypeError struct {
	Name   string
	Reason string
}

func (e *UnsupportedKeyTypeError) Error() string {
	msg := fmt.Sprintf("unsupported key type %q", e.Name)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg + " (supported: " + supportedList() + ")"
}

func supportedList() string {
	names := make([]string, len(KeyTypes))
	for i, kt := range KeyTypes {
		names[i] = string(kt)
	}
	return strings.Join(names, ", ")
}

// ParseKeyType returns the KeyType named s, or an *UnsupportedKeyTypeError.
func ParseKeyType(s string) (KeyType, error) {
	norm := strings.ToLower(strings.TrimSpace(s))
	for _, kt := range KeyTypes {
		if norm == string(kt) {
			return kt, nil
		}
	}
	return "", &UnsupportedKeyTypeError{Name: s, Reason: refusedKeyTypes[norm]}
}

// GenerateKey creates a new private key of type kt from rand.
func GenerateKey(rand io.Reader, kt KeyType) (crypto.Signer, error) {
	switch kt {
	case RSA2048:
		return rsa.GenerateKey(rand, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand, 4096)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand)
	}
	return nil, &UnsupportedKeyTypeError{Name: string(kt)}
}

// KeyTypeOf returns the KeyType of a public key, or an error that says what
// the key is and why it is not accepted.
func KeyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048:
			return RSA2048, nil
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		default:
			reason := "apimtls accepts RSA keys of 2048, 3072 or 4096 bits"
			if bits < 2048 {
				reason = "API Gateway requires RSA keys of at least 2048 bits"
			}
			return "", &UnsupportedKeyTypeError{Name: fmt.Sprintf("rsa-%d", bits), Reason: reason}
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		case elliptic.P521():
			return "", &UnsupportedKeyTypeError{Name: "ecdsa-p521", Reason: refusedKeyTypes["ecdsa-p521"]}
		default:
			return "", &UnsupportedKeyTypeError{Name: "ecdsa-" + k.Curve.Params().Name, Reason: "API Gateway requires ECDSA P-256 or P-384"}
		}
	case ed25519.PublicKey:
		return "", &UnsupportedKeyTypeError{Name: "ed25519", Reason: refusedKeyTypes["ed25519"]}
	}
	return "", &UnsupportedKeyTypeError{Name: fmt.Sprintf("%T", pub), Reason: "not an RSA or ECDSA key"}
}

// signatureAlgorithm picks the signature an issuer with key type kt makes:
// SHA-384 for P-384 so the hash matches the curve's strength, SHA-256
// otherwise, which API Gateway requires as a minimum.
func signatureAlgorithm(kt KeyType) x509.SignatureAlgorithm {
	switch kt {
	case ECDSAP256:
		return x509.ECDSAWithSHA256
	case ECDSAP384:
		return x509.ECDSAWithSHA384
	default:
		return x509.SHA256WithRSA
	}
}

// ErrorKind says what kind of failure it is (errkind).
func (*UnsupportedKeyTypeError) ErrorKind() errkind.Kind { return errkind.Invalid }
