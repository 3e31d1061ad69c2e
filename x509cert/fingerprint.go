package x509cert

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// SerialHex formats a serial as lowercase hexadecimal, the inventory's key.
func SerialHex(c *x509.Certificate) string { return SerialHexInt(c.SerialNumber) }

// SerialHexInt formats a serial number as the inventory keys it.
func SerialHexInt(n *big.Int) string { return fmt.Sprintf("%032x", n) }

// Fingerprint is the SHA-256 of the certificate's DER, in hexadecimal.
func Fingerprint(c *x509.Certificate) string { return SHA256Hex(c.Raw) }

// SHA256Hex is the SHA-256 of data in lowercase hexadecimal: the one
// fingerprint apimtls prints for certificates and files alike.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// NormalizeSerial accepts a serial as hex with or without colons.
func NormalizeSerial(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), ":", ""))
	if len(s) == 0 || len(s) > 40 {
		return "", false
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(s)%2) + s); err != nil {
		return "", false
	}
	s = strings.TrimLeft(s, "0")
	return fmt.Sprintf("%032s", s), true
}
