package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/maphash"
	"math/big"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxCRLBytes bounds a CRL we accept: ELB takes 50 MB per file; a CRL of a
// million entries with reason codes is about 49 MB.
const MaxCRLBytes = 128 << 20

// CRL is a parsed certificate revocation list with its revoked serials
// indexed. It is immutable once parsed and safe for concurrent use.
type CRL struct {
	// List holds what crypto/x509 parsed of the CRL: issuer, numbers,
	// dates, extensions and the signature over the real TBS bytes. Its
	// RevokedCertificateEntries is empty: the index holds the entries.
	List *x509.RevocationList

	der   []byte // the CRL as given; the index points into it
	index serialIndex
	sig   atomic.Pointer[sigCheck]
	// scope is what its issuing distribution point covers; nil for a
	// complete CRL. scopeID names the issuer and the scope: CRL numbers
	// grow per issuer and scope (RFC 5280 §5.2.3), so a CRLHistory
	// compares numbers only between CRLs of one scopeID.
	scope   *Scope
	scopeID string
	// seen is the CRLHistory entry that last accepted it.
	seen atomic.Pointer[historyEntry]
}

// Entry is one revoked certificate.
type Entry struct {
	Serial *big.Int
	Time   time.Time
	Reason int // RFC 5280 CRLReason; 0 (unspecified) when absent
}

// Len is the number of revoked serials.
func (c *CRL) Len() int { return c.index.n }

// NumberText names the CRL in messages: "number 7", or its thisUpdate
// when it has no CRL number.
func (c *CRL) NumberText() string {
	if c.List.Number != nil {
		return "number " + c.List.Number.String()
	}
	return "without a number, of " + c.ThisUpdate().UTC().Format(time.RFC3339)
}

// Scope is what the CRL covers: nil for a complete CRL (no issuing
// distribution point).
func (c *CRL) Scope() *Scope { return c.scope }

// Covers reports whether the CRL gives cert's revocation status: its scope
// covers it (RFC 5280 §5.2.5, §6.3.3).
func (c *CRL) Covers(cert *x509.Certificate) bool { return c.scope.Covers(cert) }

// ThisUpdate and NextUpdate of the list; NextUpdate is zero when absent.
func (c *CRL) ThisUpdate() time.Time { return c.List.ThisUpdate }
func (c *CRL) NextUpdate() time.Time { return c.List.NextUpdate }

// OIDs of the extensions we understand (RFC 5280 §5.2, §5.3).
var (
	oidAuthorityKeyID   = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber        = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRLIndic    = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidReasonCode       = asn1.ObjectIdentifier{2, 5, 29, 21}
)

// ParseCRL parses a DER or PEM ("X509 CRL") CRL and indexes its entries.
// It refuses what it cannot honour rather than half-read it: delta CRLs,
// indirect CRLs (entries for another issuer) and unknown critical
// extensions (RFC 5280 §5.2: such a CRL must not be used). A scoped CRL
// (an issuing distribution point: user or CA certificates only, some
// reasons, a partition) parses, with its Scope: it counts only for the
// certificates it covers.
func ParseCRL(data []byte) (*CRL, error) {
	if len(data) > MaxCRLBytes {
		return nil, fmt.Errorf("CRL is %d bytes, more than the %d accepted", len(data), MaxCRLBytes)
	}
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil || block.Type != "X509 CRL" {
			return nil, errors.New("PEM data is not an X509 CRL block")
		}
		data = block.Bytes
	}
	der := bytes.Clone(data)
	skeleton, revoked, err := split(der)
	if err != nil {
		return nil, err
	}
	list, err := x509.ParseRevocationList(skeleton)
	if err != nil {
		return nil, fmt.Errorf("parse CRL: %w", err)
	}
	// The signature covers the real TBS, entries included.
	list.Raw = der
	list.RawTBSRevocationList = tbsOf(der)
	if list.NextUpdate.IsZero() {
		// Without nextUpdate nobody can tell a current list from a stale
		// one an attacker replays; RFC 5280 §5.1.2.5 requires it.
		return nil, errors.New("parse CRL: the CRL has no nextUpdate")
	}
	scope, err := checkListExtensions(list)
	if err != nil {
		return nil, err
	}
	c := &CRL{List: list, der: der, scope: scope, scopeID: string(list.RawIssuer)}
	if scope != nil {
		c.scopeID += "\x00" + string(idpValue(list))
	}
	if err := c.indexEntries(revoked); err != nil {
		return nil, err
	}
	return c, nil
}

func tbsOf(der []byte) []byte {
	s := cryptobyte.String(der)
	var outer, tbs cryptobyte.String
	s.ReadASN1(&outer, cbasn1.SEQUENCE)
	outer.ReadASN1Element(&tbs, cbasn1.SEQUENCE)
	return tbs
}

// split cuts the revokedCertificates out of the CRL. It returns a CRL that
// is the same but for the entries (for crypto/x509 to parse the rest fast)
// and the entries' content, a sub-slice of der.
func split(der []byte) (skeleton []byte, revoked cryptobyte.String, err error) {
	bad := func(what string) ([]byte, cryptobyte.String, error) {
		return nil, nil, fmt.Errorf("parse CRL: malformed %s", what)
	}
	input := cryptobyte.String(der)
	var outer cryptobyte.String
	if !input.ReadASN1(&outer, cbasn1.SEQUENCE) || !input.Empty() {
		return bad("CertificateList")
	}
	var tbs, sigAlg, sig cryptobyte.String
	if !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!outer.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) ||
		!outer.ReadASN1Element(&sig, cbasn1.BIT_STRING) || !outer.Empty() {
		return bad("CertificateList")
	}
	var head []byte // version, signature, issuer, thisUpdate, nextUpdate
	start := tbs
	var el cryptobyte.String
	if tbs.PeekASN1Tag(cbasn1.INTEGER) && !tbs.ReadASN1Element(&el, cbasn1.INTEGER) {
		return bad("version")
	}
	if !tbs.ReadASN1Element(&el, cbasn1.SEQUENCE) {
		return bad("signature")
	}
	if !tbs.ReadASN1Element(&el, cbasn1.SEQUENCE) {
		return bad("issuer")
	}
	if !readTime(&tbs) {
		return bad("thisUpdate")
	}
	if tbs.PeekASN1Tag(cbasn1.UTCTime) || tbs.PeekASN1Tag(cbasn1.GeneralizedTime) {
		if !readTime(&tbs) {
			return bad("nextUpdate")
		}
	}
	head = start[:len(start)-len(tbs)]
	if tbs.PeekASN1Tag(cbasn1.SEQUENCE) && !tbs.ReadASN1(&revoked, cbasn1.SEQUENCE) {
		return bad("revokedCertificates")
	}
	rest := []byte(tbs) // crlExtensions, checked by crypto/x509

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(head)
			b.AddBytes(rest)
		})
		b.AddBytes(sigAlg)
		b.AddBytes(sig)
	})
	skeleton, err = b.Bytes()
	if err != nil {
		return bad("CertificateList")
	}
	return skeleton, revoked, nil
}

func readTime(s *cryptobyte.String) bool {
	var t cryptobyte.String
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		return s.ReadASN1(&t, cbasn1.UTCTime)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		return s.ReadASN1(&t, cbasn1.GeneralizedTime)
	}
	return false
}

func checkListExtensions(list *x509.RevocationList) (*Scope, error) {
	var scope *Scope
	idp := false
	for _, ext := range list.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndic):
			return nil, errors.New("parse CRL: a delta CRL is not supported; publish a full CRL")
		case ext.Id.Equal(oidIssuingDistPoint):
			if idp {
				return nil, errors.New("parse CRL: two issuing distribution point extensions")
			}
			idp = true
			var err error
			if scope, err = parseScope(ext.Value); err != nil {
				return nil, err
			}
		case ext.Id.Equal(oidAuthorityKeyID), ext.Id.Equal(oidCRLNumber):
		case ext.Critical:
			return nil, fmt.Errorf("parse CRL: unknown critical extension %s", ext.Id)
		}
	}
	return scope, nil
}

// idpValue is the issuing distribution point extension's value.
func idpValue(list *x509.RevocationList) []byte {
	for _, ext := range list.Extensions {
		if ext.Id.Equal(oidIssuingDistPoint) {
			return ext.Value
		}
	}
	return nil
}

// indexEntries checks every entry and indexes its serial.
func (c *CRL) indexEntries(revoked cryptobyte.String) error {
	c.index = serialIndex{der: c.der, seed: maphash.MakeSeed()}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(c.der)))
	estimate := len(revoked) / 40
	offs := make([]uint32, 0, estimate)
	hashes := make([]uint64, 0, estimate)
	for n := 1; !revoked.Empty(); n++ {
		offset := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(revoked))) - base)
		var entry, serial cryptobyte.String
		if !revoked.ReadASN1(&entry, cbasn1.SEQUENCE) || !entry.ReadASN1(&serial, cbasn1.INTEGER) || len(serial) == 0 {
			return fmt.Errorf("parse CRL: entry %d: malformed serial number", n)
		}
		if !readTime(&entry) {
			return fmt.Errorf("parse CRL: entry %d: malformed revocation date", n)
		}
		if !entry.Empty() {
			if err := checkEntryExtensions(entry); err != nil {
				return fmt.Errorf("parse CRL: entry %d: %w", n, err)
			}
		}
		offs = append(offs, offset)
		hashes = append(hashes, maphash.Bytes(c.index.seed, normalise(serial)))
	}
	c.index.build(offs, hashes)
	return nil
}

// checkEntryExtensions refuses unknown critical entry extensions; the
// certificate issuer extension (indirect CRLs) is one of them.
func checkEntryExtensions(s cryptobyte.String) error {
	var exts cryptobyte.String
	if !s.ReadASN1(&exts, cbasn1.SEQUENCE) || !s.Empty() {
		return errors.New("malformed extensions")
	}
	for !exts.Empty() {
		var ext, id cryptobyte.String
		critical := false
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&id, cbasn1.OBJECT_IDENTIFIER) ||
			!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) {
			return errors.New("malformed extension")
		}
		if critical {
			return fmt.Errorf("unknown critical extension")
		}
	}
	return nil
}

// normalise strips the redundant leading bytes a non-minimal INTEGER
// encoding may carry, so that every encoding of a number is one key.
func normalise(b []byte) []byte {
	for len(b) > 1 && ((b[0] == 0 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	return b
}

// serialKey writes n as the content of a DER INTEGER into buf's storage
// when it fits, so a lookup allocates nothing.
func serialKey(n *big.Int, buf *[64]byte) []byte {
	switch n.Sign() {
	case 0:
		buf[0] = 0
		return buf[:1]
	case -1:
		der, _ := asn1.Marshal(n)
		var s, content cryptobyte.String = der, nil
		s.ReadASN1(&content, cbasn1.INTEGER)
		return normalise(content)
	}
	size := (n.BitLen() + 7) / 8
	if size+1 > len(buf) {
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	out := n.FillBytes(buf[1 : size+1])
	if out[0]&0x80 != 0 {
		buf[0] = 0
		return buf[:size+1]
	}
	return out
}

// Contains reports whether serial is on the list, without allocating.
func (c *CRL) Contains(serial *big.Int) bool {
	var buf [64]byte
	_, ok := c.index.find(serialKey(serial, &buf))
	return ok
}

// Lookup returns serial's entry when it is on the list.
func (c *CRL) Lookup(serial *big.Int) (Entry, bool) {
	var buf [64]byte
	offset, ok := c.index.find(serialKey(serial, &buf))
	if !ok {
		return Entry{}, false
	}
	return c.entryAt(offset), true
}

// entryAt decodes the entry at offset; it was well-formed when indexed.
func (c *CRL) entryAt(offset uint32) Entry {
	s := cryptobyte.String(c.der[offset:])
	var entry cryptobyte.String
	var e Entry
	e.Serial = new(big.Int)
	s.ReadASN1(&entry, cbasn1.SEQUENCE)
	entry.ReadASN1Integer(e.Serial)
	if entry.PeekASN1Tag(cbasn1.UTCTime) {
		entry.ReadASN1UTCTime(&e.Time)
	} else {
		entry.ReadASN1GeneralizedTime(&e.Time)
	}
	var exts cryptobyte.String
	if entry.ReadASN1(&exts, cbasn1.SEQUENCE) {
		for !exts.Empty() {
			var ext, value cryptobyte.String
			var oid asn1.ObjectIdentifier
			var critical bool
			if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
				!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) || !ext.ReadASN1(&value, cbasn1.OCTET_STRING) {
				break
			}
			if oid.Equal(oidReasonCode) {
				var code int
				if value.ReadASN1Enum(&code) {
					e.Reason = code
				}
			}
		}
	}
	return e
}

// CheckSignatureFrom checks that ca issued and signed the CRL: its issuer
// name, its authority key identifier when both carry one, and the
// signature over the whole list.
func (c *CRL) CheckSignatureFrom(ca *x509.Certificate) error {
	if !bytes.Equal(c.List.RawIssuer, ca.RawSubject) {
		return errors.New("the CRL names another issuer than the CA")
	}
	if len(c.List.AuthorityKeyId) > 0 && len(ca.SubjectKeyId) > 0 && !bytes.Equal(c.List.AuthorityKeyId, ca.SubjectKeyId) {
		return errors.New("the CRL's authority key identifier is not the CA's")
	}
	if err := c.List.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("CRL signature: %w", err)
	}
	return nil
}
