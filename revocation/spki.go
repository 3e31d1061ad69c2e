package revocation

import (
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// subjectPublicKeyBits returns the subjectPublicKey BIT STRING's bits of a
// certificate, the input of RFC 5280's key identifier method 1.
func subjectPublicKeyBits(c *x509.Certificate) []byte {
	s := cryptobyte.String(c.RawSubjectPublicKeyInfo)
	var spki cryptobyte.String
	var bits cryptobyte.String
	if !s.ReadASN1(&spki, cbasn1.SEQUENCE) || !spki.SkipASN1(cbasn1.SEQUENCE) || !spki.ReadASN1(&bits, cbasn1.BIT_STRING) || len(bits) < 1 {
		return c.RawSubjectPublicKeyInfo
	}
	return bits[1:] // the first byte counts unused bits
}
