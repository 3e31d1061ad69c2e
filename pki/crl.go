package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// crlDir holds every CA's latest CRL, DER.
const crlDir = "crl"

var bucketCRLNumbers = []byte("crl-numbers")

// MaxCRLNumber is the largest CRL number apimtls signs. RFC 5280 §5.2.3
// allows up to 20 octets, but relying parties read the number into a
// signed 64-bit integer (Go's crypto/x509 callers, the authorizer's
// rollback check, OpenSSL's crlNumber printing), and a number that only
// grows must never wrap to 0, which a verifier keeping the highest seen
// would read as a rollback for ever after. One CRL a second would take
// 292 billion years to reach it; only a number set by hand gets there, and
// then signing is refused rather than wrapped.
const MaxCRLNumber = math.MaxInt64

// CRLNumberError refuses a CRL number at or above MaxCRLNumber.
type CRLNumberError struct {
	Where  string // the inventory, or the shared store's object
	Number uint64
}

func (e *CRLNumberError) Error() string {
	return fmt.Sprintf("the CRL number in %s is %d, and the next would pass %d, the largest apimtls signs: a number that only grows must never wrap, and only a number set by hand gets this far", e.Where, e.Number, uint64(MaxCRLNumber))
}

// DefaultCRLValidity is how long a CRL stays current unless told.
const DefaultCRLValidity = 7 * 24 * time.Hour

// CRL is a signed certificate revocation list and where it was written.
type CRL struct {
	CA         string    `json:"ca"`
	Number     uint64    `json:"crl_number"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	Revoked    int       `json:"revoked"`
	DERPath    string    `json:"der_path"`
	PEMPath    string    `json:"pem_path"`
	DER        []byte    `json:"-"`
}

// SignCRL signs an RFC 5280 v2 CRL for a CA: every certificate it issued
// that is revoked, with time and reason code; a CRL number that only grows
// (kept in the inventory, bumped before signing so a failure leaves a gap,
// never a repeat); the authority key identifier; thisUpdate now and
// nextUpdate after validity. A CA with nothing revoked gets an empty CRL,
// so "no CRL" never means "nothing revoked". It is written atomically as
// DER under crl/ and as PEM beside the CA certificate. A revoked CA still
// signs its CRL: its clients' revocations must stay published.
func (s *Store) SignCRL(name string, passphrase x509cert.PassphraseFunc, validity time.Duration) (*CRL, error) {
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	issuer, rec, err := s.loadIssuer(name, passphrase)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC().Truncate(time.Second)
	if next := now.Add(validity); next.After(issuer.Cert.NotAfter) {
		return nil, fmt.Errorf("a CRL of CA %q valid until %s would outlive the CA (expires %s): give a shorter --next-update", name, next.Format(time.DateOnly), issuer.Cert.NotAfter.Format(time.DateOnly))
	}
	var (
		number  uint64
		revoked []*Record
		tmpl    *x509.RevocationList
		der     []byte
	)
	for attempt := 1; ; attempt++ {
		if number, revoked, err = s.backend().crlContent(issuer.Cert, rec); err != nil {
			return nil, err
		}
		if tmpl, der, err = signCRL(issuer, number, revoked, now, validity); err != nil {
			return nil, fmt.Errorf("sign the CRL of CA %q: %w", name, err)
		}
		again, err := s.backend().keepCRL(name, issuer.Cert, rec, number, der, revoked)
		if err != nil {
			return nil, err
		}
		if !again || attempt >= 5 {
			break
		}
	}
	l := s.Layout()
	out := &CRL{CA: name, Number: number, ThisUpdate: now, NextUpdate: tmpl.NextUpdate, Revoked: len(revoked), DERPath: l.CRL(name), PEMPath: l.CRLPEM(name), DER: der}
	if err := os.MkdirAll(filepath.Dir(out.DERPath), dirMode); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(out.DERPath, der, 0o644); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(out.PEMPath, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// signCRL signs a CRL of the given number listing revoked.
func signCRL(issuer x509cert.Issuer, number uint64, revoked []*Record, now time.Time, validity time.Duration) (*x509.RevocationList, []byte, error) {
	tmpl := &x509.RevocationList{Number: new(big.Int).SetUint64(number), ThisUpdate: now, NextUpdate: now.Add(validity)}
	for _, r := range revoked {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, nil, fmt.Errorf("inventory record %q has serial %q, not hexadecimal", r.Name, r.Serial)
		}
		at := r.NotBefore
		if r.RevokedAt != nil {
			at = *r.RevokedAt
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: serial, RevocationTime: at, ReasonCode: r.RevocationReason.Code()})
	}
	der, err := issuer.Signs().SignCRL(rand.Reader, tmpl, issuer.Cert)
	return tmpl, der, err
}

// parseCRLFrom parses the CRL read from path and checks that ca signed it.
func parseCRLFrom(path string, der []byte, ca *x509.Certificate) (*x509.RevocationList, error) {
	list, err := x509.ParseRevocationList(der)
	if err == nil {
		err = list.CheckSignatureFrom(ca)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a CRL its CA signed: %w", path, err)
	}
	return list, nil
}

// checkLocalNoUnrevocation refuses a CRL that drops a serial the CA's
// last CRL on disk (crl/NAME.crl) lists while a record of the inventory
// says it is not revoked: the inventory lost a revocation (a damaged
// inventory rebuilt without it, a revocation note deleted), and signing
// would un-revoke the certificate for every relying party. A serial the
// last CRL lists and no record holds (its folder lost) is carried over to
// the new CRL as it was, and said so: nothing can un-revoke it. A last CRL
// the CA did not sign is not compared, and said so.
func (s *Store) checkLocalNoUnrevocation(ca *x509.Certificate, rec *Record, revoked []*Record) ([]*Record, error) {
	path := s.Layout().CRL(rec.Name)
	prev, err := readCRLAny(path, ca)
	if err != nil {
		s.Warn(fmt.Sprintf("%v; the new CRL is not compared with it", err))
		return nil, nil
	}
	if prev == nil {
		return nil, nil
	}
	now := make(map[string]bool, len(revoked))
	for _, r := range revoked {
		now[r.Serial] = true
	}
	var dropped []string
	var carried []*Record
	for _, e := range prev.RevokedCertificateEntries {
		serial := x509cert.SerialHexInt(e.SerialNumber)
		if now[serial] {
			continue
		}
		known, err := s.backend().bySerial(serial)
		if err != nil {
			return nil, err
		}
		if known != nil {
			dropped = append(dropped, serial)
			continue
		}
		at := e.RevocationTime.UTC()
		carried = append(carried, &Record{Serial: serial, Kind: KindClient, Name: "serial " + serial, Issuer: rec.Name, IssuerSerial: rec.Serial,
			Status: StatusRevoked, RevokedAt: &at, RevocationReason: reasonOfCode(e.ReasonCode)})
		s.Warn(fmt.Sprintf("CRL %v of CA %q lists serial %s, which no certificate of the inventory holds (its folder lost?): kept on the new CRL as it was", prev.Number, rec.Name, serial))
	}
	if len(dropped) == 0 {
		return carried, nil
	}
	slices.Sort(dropped)
	return nil, fmt.Errorf("%w: CRL %v of CA %q (%s) lists %s, which the inventory no longer says is revoked (an inventory rebuilt or edited without it)", ErrUnrevoked, prev.Number, rec.Name, path, strings.Join(dropped, ", "))
}

// ErrorKind says what kind of failure it is (errkind).
func (*CRLNumberError) ErrorKind() errkind.Kind { return errkind.Refused }
