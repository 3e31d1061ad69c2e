package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Scope is what a CRL's issuing distribution point extension says it
// covers (RFC 5280 §5.2.5). A CRL without one is complete: it covers every
// certificate its issuer signed. A scoped CRL that does not list a serial
// says nothing about a certificate outside its scope, so it counts for a
// certificate only when Covers says so (§6.3.3); otherwise the certificate
// has no usable CRL and is denied (crl_missing).
type Scope struct {
	// OnlyUserCerts: end-entity certificates only, never a CA.
	OnlyUserCerts bool
	// OnlyCACerts: CA certificates only, never a client.
	OnlyCACerts bool
	// OnlyAttributeCerts: attribute certificates, which API Gateway never
	// sees: such a CRL covers no certificate.
	OnlyAttributeCerts bool
	// OnlySomeReasons: revocations for some reasons only. Without the
	// other reasons' CRLs the status is unknown: it covers no certificate.
	OnlySomeReasons bool
	// URIs are the distribution point's URIs: a partition (AWS Private CA
	// partitioned CRLs name one here). Only a certificate whose CRL
	// distribution points name the same point is covered.
	URIs []string

	// names are the fullName's GeneralNames, each as its DER element;
	// relative the nameRelativeToCRLIssuer's content. Both nil when the
	// extension names no distribution point.
	names    [][]byte
	relative []byte
}

// oidCRLDistPoints is the certificate extension that names a certificate's
// CRL distribution points (RFC 5280 §4.2.1.13).
var oidCRLDistPoints = asn1.ObjectIdentifier{2, 5, 29, 31}

// Context-specific tags of IssuingDistributionPoint (RFC 5280 §5.2.5) and
// of DistributionPoint (§4.2.1.13); the module is IMPLICIT TAGS, but the
// distributionPoint CHOICE is explicitly tagged.
var (
	tagDistPoint       = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagFullName        = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagRelativeName    = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagOnlyUser        = cbasn1.Tag(1).ContextSpecific()
	tagOnlyCA          = cbasn1.Tag(2).ContextSpecific()
	tagOnlySomeReasons = cbasn1.Tag(3).ContextSpecific()
	tagIndirect        = cbasn1.Tag(4).ContextSpecific()
	tagOnlyAttribute   = cbasn1.Tag(5).ContextSpecific()
	tagDPReasons       = cbasn1.Tag(1).ContextSpecific()
	tagDPCRLIssuer     = cbasn1.Tag(2).ContextSpecific().Constructed()
	tagURI             = cbasn1.Tag(6).ContextSpecific()
)

var errMalformedIDP = errors.New("parse CRL: malformed issuing distribution point")

// parseScope reads an issuing distribution point extension's value. An
// indirect CRL is refused: its entries may be another issuer's.
func parseScope(value []byte) (*Scope, error) {
	s := cryptobyte.String(value)
	var idp cryptobyte.String
	if !s.ReadASN1(&idp, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, errMalformedIDP
	}
	sc := &Scope{}
	var point cryptobyte.String
	var hasPoint bool
	if !idp.ReadOptionalASN1(&point, &hasPoint, tagDistPoint) {
		return nil, errMalformedIDP
	}
	if hasPoint {
		var ok bool
		if sc.names, sc.relative, ok = pointNames(point); !ok {
			return nil, errMalformedIDP
		}
		for _, n := range sc.names {
			if cbasn1.Tag(n[0]) == tagURI {
				v := cryptobyte.String(n)
				var uri cryptobyte.String
				v.ReadASN1(&uri, tagURI)
				sc.URIs = append(sc.URIs, string(uri))
			}
		}
	}
	var indirect, reasons bool
	var reasonBits cryptobyte.String
	for _, f := range []struct {
		tag cbasn1.Tag
		v   *bool
	}{{tagOnlyUser, &sc.OnlyUserCerts}, {tagOnlyCA, &sc.OnlyCACerts}} {
		if !readImplicitBool(&idp, f.tag, f.v) {
			return nil, errMalformedIDP
		}
	}
	if !idp.ReadOptionalASN1(&reasonBits, &reasons, tagOnlySomeReasons) ||
		!readImplicitBool(&idp, tagIndirect, &indirect) ||
		!readImplicitBool(&idp, tagOnlyAttribute, &sc.OnlyAttributeCerts) || !idp.Empty() {
		return nil, errMalformedIDP
	}
	sc.OnlySomeReasons = reasons
	if indirect {
		return nil, errors.New("parse CRL: an indirect CRL is not supported")
	}
	n := 0
	for _, b := range []bool{sc.OnlyUserCerts, sc.OnlyCACerts, sc.OnlyAttributeCerts} {
		if b {
			n++
		}
	}
	if n > 1 {
		// RFC 5280 §5.2.5: at most one of the three may be asserted.
		return nil, errors.New("parse CRL: the issuing distribution point asserts more than one of onlyContainsUserCerts, onlyContainsCACerts and onlyContainsAttributeCerts")
	}
	if !hasPoint && n == 0 && !reasons {
		return nil, nil // an empty extension restricts nothing
	}
	return sc, nil
}

// readImplicitBool reads an optional [tag] IMPLICIT BOOLEAN DEFAULT FALSE.
func readImplicitBool(s *cryptobyte.String, tag cbasn1.Tag, out *bool) bool {
	var v cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&v, &present, tag) {
		return false
	}
	if !present {
		return true
	}
	if len(v) != 1 || (v[0] != 0 && v[0] != 0xff) {
		return false
	}
	*out = v[0] == 0xff
	return true
}

// pointNames splits a DistributionPointName: the GeneralName elements of a
// fullName, or the content of a nameRelativeToCRLIssuer.
func pointNames(point cryptobyte.String) (names [][]byte, relative []byte, ok bool) {
	var inner cryptobyte.String
	var tag cbasn1.Tag
	if !point.ReadAnyASN1(&inner, &tag) || !point.Empty() {
		return nil, nil, false
	}
	switch tag {
	case tagRelativeName:
		return nil, append([]byte{}, inner...), len(inner) > 0
	case tagFullName:
	default:
		return nil, nil, false
	}
	for !inner.Empty() {
		var name cryptobyte.String
		var t cbasn1.Tag
		if !inner.ReadAnyASN1Element(&name, &t) {
			return nil, nil, false
		}
		names = append(names, append([]byte{}, name...))
	}
	return names, nil, len(names) > 0
}

// Covers reports whether a CRL of this scope gives cert's revocation
// status (RFC 5280 §6.3.3 (b)(2)). A nil Scope, a complete CRL, covers
// every certificate. It allocates nothing.
func (s *Scope) Covers(cert *x509.Certificate) bool {
	if s == nil {
		return true
	}
	isCA := cert.BasicConstraintsValid && cert.IsCA
	switch {
	case s.OnlyAttributeCerts, s.OnlySomeReasons:
		return false
	case s.OnlyUserCerts && isCA, s.OnlyCACerts && !isCA:
		return false
	}
	return (s.names == nil && s.relative == nil) || s.namedBy(cert)
}

// namedBy reports whether one of cert's CRL distribution points is the
// scope's: a name of its fullName equal to one of ours (§6.3.3 (b)(2)(i)),
// or the same name relative to the issuer. A distribution point with a
// cRLIssuer belongs to an indirect CRL, never to the CA's own list.
func (s *Scope) namedBy(cert *x509.Certificate) bool {
	for i := range cert.Extensions {
		if !cert.Extensions[i].Id.Equal(oidCRLDistPoints) {
			continue
		}
		in := cryptobyte.String(cert.Extensions[i].Value)
		var dps cryptobyte.String
		if !in.ReadASN1(&dps, cbasn1.SEQUENCE) {
			return false
		}
		for !dps.Empty() {
			var dp, point, issuer, inner cryptobyte.String
			var hasPoint, hasIssuer bool
			var tag cbasn1.Tag
			if !dps.ReadASN1(&dp, cbasn1.SEQUENCE) ||
				!dp.ReadOptionalASN1(&point, &hasPoint, tagDistPoint) ||
				!dp.SkipOptionalASN1(tagDPReasons) ||
				!dp.ReadOptionalASN1(&issuer, &hasIssuer, tagDPCRLIssuer) {
				return false
			}
			if !hasPoint || hasIssuer || !point.ReadAnyASN1(&inner, &tag) {
				continue
			}
			if tag == tagRelativeName {
				if s.relative != nil && bytes.Equal(inner, s.relative) {
					return true
				}
				continue
			}
			for tag == tagFullName && !inner.Empty() {
				var name cryptobyte.String
				var t cbasn1.Tag
				if !inner.ReadAnyASN1Element(&name, &t) {
					break
				}
				for _, n := range s.names {
					if bytes.Equal(name, n) {
						return true
					}
				}
			}
		}
	}
	return false
}

// String says, for messages, what the scope covers.
func (s *Scope) String() string {
	if s == nil {
		return "every certificate of its issuer"
	}
	var parts []string
	switch {
	case s.OnlyAttributeCerts:
		parts = append(parts, "attribute certificates only")
	case s.OnlyUserCerts:
		parts = append(parts, "end-entity certificates only")
	case s.OnlyCACerts:
		parts = append(parts, "CA certificates only")
	}
	if s.OnlySomeReasons {
		parts = append(parts, "some revocation reasons only")
	}
	if s.names != nil || s.relative != nil {
		p := "the distribution point (partition) " + strings.Join(s.URIs, ", ")
		if len(s.URIs) == 0 {
			p = "one distribution point (partition) named without a URI"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}
