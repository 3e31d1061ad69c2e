package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// Shared returns the URI of the shared store behind s, or "" for a local
// PKI directory.
func (s *Store) Shared() string { return s.backend().shared() }

// DamagedRecordsError lists objects of a shared store that could not be
// read as records or name claims, or records that do not hold together
// with their certificate and the store's CAs. A listing goes on without
// them (and says so); a CRL decides for each what it may list
// (sharedRevocations).
type DamagedRecordsError struct {
	Records []DamagedRecord
}

// DamagedRecord is one object a listing left out, and why.
type DamagedRecord struct {
	URI string // s3://bucket/prefix/records/SERIAL.json, or names/...
	// Serial is the serial its key names, "" for a name claim.
	Serial string
	Reason string
	// CertMissing: the record reads, but its certificate is gone.
	CertMissing bool
}

func (d DamagedRecord) String() string {
	if d.Reason == "" {
		return d.URI
	}
	return d.URI + " (" + d.Reason + ")"
}

// damagedNamed is how many damaged records a message names; store check
// lists them all.
const damagedNamed = 5

func (e *DamagedRecordsError) Error() string {
	var named []string
	for _, d := range e.Records[:min(len(e.Records), damagedNamed)] {
		named = append(named, d.String())
	}
	more := ""
	if n := len(e.Records) - len(named); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf("%s%s could not be read as an apimtls record, or does not hold together with its certificate and the store's CAs: restore the last good version of each (aws s3api list-object-versions); apimtls store check lists them all", strings.Join(named, "; "), more)
}

// ErrPending is a name a shared store has claimed for an issuance that has
// not written its record yet: in progress elsewhere, or interrupted.
var ErrPending = errkind.New(errkind.Conflict, "being issued by someone else")

// pendingWait is how long a bulk run waits for another writer's pending
// issuance of a name it also asks for, before calling it a failure.
var pendingWait = 15 * time.Second

// sharedRevocations lists the revocations of CA rec for its CRL number
// from the shared store. A damaged record (unreadable, too large, a
// folder that is not apimtls's, a certificate that does not hold) never
// blocks the CRL: one co-tenant who may write records/ must not be able
// to stop every CA's CRL, and after nextUpdate an unsigned CRL denies
// everyone. Instead each damaged record whose serial its key names is
// decided on its own, failing closed for that certificate (docs/team.md,
// "Damaged records and CRLs"):
//
//   - listed by the CA's previous kept CRL: it stays listed, with that
//     CRL's reason and time (a revocation never disappears);
//   - else, its certificate in the store is signed by this CA: listed as
//     revoked, reason unspecified, since what the record said cannot be
//     read, and it may have said revoked;
//   - else (no certificate, an unreadable one, or one this CA did not
//     sign) nothing this CA signed is known to be behind it: left off,
//     with a warning. Whoever could damage it could as well have
//     rewritten it as active, which only a kept CRL guards against.
func (b *sharedBackend) sharedRevocations(ca *x509.Certificate, rec *Record, number uint64) ([]*Record, error) {
	all, err := b.remote.List()
	var de *DamagedRecordsError
	if err != nil && !errors.As(err, &de) {
		return nil, fmt.Errorf("list the revocations of CA %q: %w", rec.Name, err)
	}
	revoked := retiredIn(all, rec, b.s.Now())
	if de == nil {
		return revoked, nil
	}
	prev, prevNumber, err := b.keptCRL(ca, rec, number)
	if err != nil {
		return nil, err
	}
	now := b.s.Now().UTC().Truncate(time.Second)
	for _, d := range de.Records {
		if d.Serial == "" || d.Serial == rec.Serial {
			continue // a name claim, or this CA's own record: not on its CRL
		}
		if e, ok := prev[d.Serial]; ok {
			at := e.RevocationTime.UTC()
			revoked = append(revoked, &Record{Serial: d.Serial, Kind: KindClient, Name: "(damaged record)", IssuerSerial: rec.Serial,
				Status: StatusRevoked, RevokedAt: &at, RevocationReason: reasonOfCode(e.ReasonCode)})
			b.s.Warn(fmt.Sprintf("%s: kept on the CRL of CA %q as CRL %d listed it (%s); restore its last good version", d, rec.Name, prevNumber, reasonOfCode(e.ReasonCode)))
			continue
		}
		if storeCertSignedBy(b.remote, d.Serial, ca) {
			revoked = append(revoked, &Record{Serial: d.Serial, Kind: KindClient, Name: "(damaged record)", IssuerSerial: rec.Serial,
				Status: StatusRevoked, RevokedAt: &now, RevocationReason: ReasonUnspecified})
			b.s.Warn(fmt.Sprintf("%s: CA %q signed its certificate, and the record cannot be read: listed on the CRL as revoked (unspecified), failing closed, until its last good version is restored", d, rec.Name))
			continue
		}
		b.s.Warn(fmt.Sprintf("%s: left off the CRL of CA %q, which signed no certificate of that serial in the store; restore its last good version", d, rec.Name))
	}
	return revoked, nil
}

// storeCertSignedBy reports whether the store holds a certificate of serial that
// ca signed.
func storeCertSignedBy(remote Remote, serial string, ca *x509.Certificate) bool {
	data, err := remote.CertificatePEM(serial)
	if err != nil {
		return false
	}
	c, err := x509cert.DecodeCertificate(data)
	return err == nil && x509cert.SerialHex(c) == serial && c.CheckSignatureFrom(ca) == nil
}

// reasonOfCode is the Reason of a CRL reason code; unspecified for a code
// apimtls does not name.
func reasonOfCode(code int) Reason {
	for r, c := range reasonCodes {
		if c == code && r != "" {
			return r
		}
	}
	return ReasonUnspecified
}

// checkNoUnrevocation refuses a CRL that would drop a revocation the CA's
// previous CRL kept in the shared store lists (keptCRL).
func (b *sharedBackend) checkNoUnrevocation(ca *x509.Certificate, rec *Record, number uint64, revoked []*Record) error {
	prev, prevNumber, err := b.keptCRL(ca, rec, number)
	if err != nil || prev == nil {
		return err
	}
	now := map[string]bool{}
	for _, r := range revoked {
		now[r.Serial] = true
	}
	var dropped []string
	stale := false
	for serial := range prev {
		if now[serial] {
			continue
		}
		// Revoked since this listing was made (another operator's CRL
		// already has it), or un-revoked by hand?
		r, err := b.remote.GetSerial(serial)
		if err != nil {
			return err
		}
		if r != nil && r.IssuerSerial == rec.Serial && Retired(r, b.s.Now()) {
			stale = true
			continue
		}
		dropped = append(dropped, serial)
	}
	if len(dropped) == 0 && stale {
		return errStaleListing
	}
	if len(dropped) > 0 {
		slices.Sort(dropped)
		return fmt.Errorf("%w: CRL %d of CA %q lists %s, which the records in %s no longer say is revoked: a record was changed outside apimtls. Restore each record's previous version (aws s3api list-object-versions), or revoke it again, then sign", ErrUnrevoked, prevNumber, rec.Name, strings.Join(dropped, ", "), b.remote.URI())
	}
	return nil
}

// newerCRLLacks reports whether the shared store keeps a CRL of the CA
// numbered above number that lacks one of revoked.
func (b *sharedBackend) newerCRLLacks(ca *x509.Certificate, rec *Record, number uint64, revoked []*Record) (bool, error) {
	listed, n, err := b.keptCRL(ca, rec, math.MaxUint64)
	if err != nil || listed == nil || n <= number {
		return false, err
	}
	for _, r := range revoked {
		if _, ok := listed[r.Serial]; !ok {
			return true, nil
		}
	}
	return false, nil
}

// keptCRL returns the serials listed by the CA's kept CRL with the
// highest number below below, and that number; nil when there is none. A
// kept CRL counts only if the CA signed it and it carries the number it
// is kept under, so an older CRL copied over a newer one, or a forged
// one, is refused.
func (b *sharedBackend) keptCRL(ca *x509.Certificate, rec *Record, below uint64) (map[string]x509.RevocationListEntry, uint64, error) {
	der, n, err := b.remote.PreviousCRL(rec.Serial, below)
	if err != nil {
		return nil, 0, fmt.Errorf("read the kept CRLs of CA %q: %w", rec.Name, err)
	}
	if der == nil {
		return nil, 0, nil
	}
	list, err := x509.ParseRevocationList(der)
	if err == nil {
		err = list.CheckSignatureFrom(ca)
	}
	if err == nil && (list.Number == nil || !list.Number.IsUint64() || list.Number.Uint64() != n) {
		err = fmt.Errorf("it says CRL number %v", list.Number)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("the kept CRL %d of CA %q in %s is not one it signed (%v): restore its last good version, then sign again", n, rec.Name, b.remote.URI(), err)
	}
	listed := map[string]x509.RevocationListEntry{}
	for _, e := range list.RevokedCertificateEntries {
		listed[x509cert.SerialHexInt(e.SerialNumber)] = e
	}
	return listed, n, nil
}

// errStaleListing is a CRL's listing made before a revocation that an
// earlier-numbered CRL already has: list again.
var errStaleListing = errors.New("revoked since the listing")

// ErrUnrevoked refuses a CRL that would un-revoke a certificate.
var ErrUnrevoked = errkind.New(errkind.Refused, "refusing to sign a CRL that drops a revocation")

// ErrSharedStore refuses what only a local inventory can do.
var ErrSharedStore = errkind.New(errkind.Refused, "not with a shared store: this works on a local PKI directory's inventory")

// RecoverySettle is how long recovery waits, once, after finding that a
// process died with shared-store work staged recently: a request it sent
// just before it died may still be carried out, and a record landing after
// recovery removed its files (or gave its name back) would be a
// certificate without its key, or a second holder of the name.
var RecoverySettle = 10 * time.Second

// recentShared is how old staged work may be and still have requests in
// flight: a writer stops short of its commit point past its lease (half
// of sharedstore.DefaultStaleAfter), plus the settle time.
const recentShared = 5*time.Minute + time.Minute

// claimSuffix names the note beside a staged issuance, in a shared
// store's batch directory, of the name it claims: recovery gives the claim
// back when the issuance died before its record.
const claimSuffix = ".claim"

func writeClaimNote(batch string, rec *Record) error {
	kind := string(rec.Kind)
	if rec.Renews != "" {
		kind = renewNote
	}
	return writeNew(filepath.Join(batch, rec.Serial+claimSuffix), []byte(kind+"\n"+rec.Name), publicMode, false)
}

// renewNote marks the note of a staged renewal.
const renewNote = "renewal"

// sharedWriters bounds the shared-store writes of a batch in flight.
const sharedWriters = 32

// missingSharedKey explains a CA key that is not on this machine.
func missingSharedKey(name, path, uri string) error {
	return fmt.Errorf("the key of CA %q is not on this machine (%s does not exist): the shared store %s holds no private key, so a CA's key stays where it was made. Run this where the key is, copy the key to that path, or issue from a CA whose key is in KMS (ca intermediate --kms)", name, path, uri)
}

// ErrorKind says what kind of failure it is (errkind).
func (*DamagedRecordsError) ErrorKind() errkind.Kind { return errkind.Invalid }
