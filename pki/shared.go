package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Remote is a shared inventory: the records, the certificates and the CRL
// numbers of a PKI kept where every operator of a team reaches them (the
// sharedstore package keeps them in S3), with no lock. Private keys are
// never given to it: a client's key stays in the PKI directory of the
// operator who issued it, a CA's key where it was made (a file) or in KMS.
//
// Every write is create-only or conditional on what was read, so two
// writers never both win: the loser gets an *ExistsError, or an error
// that says to retry.
type Remote interface {
	// URI names the store in messages (s3://bucket/prefix/).
	URI() string
	// Create records a new certificate: its name must be free. This is
	// the commit point of an issuance.
	Create(rec *Record, certPEM []byte) error
	// Renew records rec as the renewal of old, the current certificate
	// of its name: old is marked superseded by rec, to be revoked from
	// retire on, and the name moves to rec. A name renewed meanwhile by
	// someone else is refused.
	// old is retired at retire (Superseded).
	Renew(old, rec *Record, certPEM []byte, retire time.Time) error
	// Get returns the record of the CA or client called name, or a
	// *NotFoundError.
	Get(kind Kind, name string) (*Record, error)
	// GetSerial returns the record with that serial, or nil.
	GetSerial(serial string) (*Record, error)
	// CAs returns the record of every CA.
	CAs() ([]*Record, error)
	// List returns every record.
	List() ([]*Record, error)
	// CertificatePEM returns the certificate recorded with serial.
	CertificatePEM(serial string) ([]byte, error)
	// Revoke marks the record with serial revoked with reason; false when
	// it already was (the first time and reason stay).
	Revoke(serial string, reason Reason) (*Record, bool, error)
	// NextCRLNumber bumps a CA's CRL number and returns it, unique across
	// every writer.
	NextCRLNumber(caSerial string) (uint64, error)
	// PutCRL keeps a signed CRL (DER) of the CA under its number, and
	// PreviousCRL returns the kept one with the highest number below
	// number (nil when none): a new CRL is checked against it.
	PutCRL(caSerial string, number uint64, der []byte) error
	PreviousCRL(caSerial string, below uint64) ([]byte, uint64, error)
	// Abandon gives back the name's claim for serial, taken by an
	// issuance whose process is known to be dead and whose record was
	// never written, so the name can be issued at once.
	Abandon(kind Kind, name, serial string) error
}

// OpenShared opens the PKI directory dir as the local half of a shared
// store: it holds this operator's keys (CA keys made here, client keys
// issued here) and the files of what was issued here, while every record,
// certificate and CRL number lives in remote. No lock is held: each
// issuance stages its files in a directory of its own, locked only by the
// process writing it, so any number of processes, here and elsewhere,
// issue at once. Whatever a killed process left staged is finished (its
// record is in the shared store) or removed (it is not) by the next one.
func OpenShared(dir string, remote Remote, write bool) (*Store, error) {
	s := &Store{Dir: dir, Rand: rand.Reader, Now: time.Now, Warn: func(string) {}, remote: checkedRemote{remote}, readOnly: !write}
	if !write {
		return s, nil
	}
	for _, d := range []string{dir, filepath.Join(dir, caDir), filepath.Join(dir, clientsDir), filepath.Join(dir, stagingDir)} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("create PKI directory: %w", err)
		}
	}
	if err := s.recoverStaged(); err != nil {
		return nil, fmt.Errorf("recover interrupted work: %w", err)
	}
	return s, nil
}

// OnClose runs fn when the store is closed.
func (s *Store) OnClose(fn func()) { s.onClose = append(s.onClose, fn) }

// Shared returns the URI of the shared store behind s, or "" for a local
// PKI directory.
func (s *Store) Shared() string {
	if s.remote == nil {
		return ""
	}
	return s.remote.URI()
}

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

// remoteList lists the shared store. Damaged objects are left out with a
// warning, unless strict: then the listing is refused, because what it is
// for (a CRL) must not miss a record.
func (s *Store) remoteList(strict bool) ([]*Record, error) {
	recs, err := s.remote.List()
	if strict {
		return recs, err
	}
	return recs, s.tolerate(err)
}

// tolerate turns damaged objects into a warning.
func (s *Store) tolerate(err error) error {
	var de *DamagedRecordsError
	if errors.As(err, &de) {
		s.Warn(de.Error() + "; going on without them")
		return nil
	}
	return err
}

// ErrPending is a name a shared store has claimed for an issuance that has
// not written its record yet: in progress elsewhere, or interrupted.
var ErrPending = errors.New("being issued by someone else")

// pendingWait is how long a bulk run waits for another writer's pending
// issuance of a name it also asks for, before calling it a failure.
var pendingWait = 15 * time.Second

// awaitOther waits, until deadline, for the issuance of rec's name that
// another writer has in progress: true when it was recorded meanwhile
// (rec is then skipped, as a name issued before is).
func (s *Store) awaitOther(rec *Record, deadline time.Time) bool {
	for ; ; time.Sleep(250 * time.Millisecond) {
		r, err := s.remote.Get(rec.Kind, rec.Name)
		if err == nil && r != nil {
			return true
		}
		if !errors.Is(err, ErrPending) || time.Now().After(deadline) {
			return false // released (it failed), unreadable, or still pending
		}
	}
}

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
func (s *Store) sharedRevocations(ca *x509.Certificate, rec *Record, number uint64) ([]*Record, error) {
	all, err := s.remote.List()
	var de *DamagedRecordsError
	if err != nil && !errors.As(err, &de) {
		return nil, fmt.Errorf("list the revocations of CA %q: %w", rec.Name, err)
	}
	revoked := retiredIn(all, rec, s.Now())
	if de == nil {
		return revoked, nil
	}
	prev, prevNumber, err := s.keptCRL(ca, rec, number)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC().Truncate(time.Second)
	for _, d := range de.Records {
		if d.Serial == "" || d.Serial == rec.Serial {
			continue // a name claim, or this CA's own record: not on its CRL
		}
		if e, ok := prev[d.Serial]; ok {
			at := e.RevocationTime.UTC()
			revoked = append(revoked, &Record{Serial: d.Serial, Kind: KindClient, Name: "(damaged record)", IssuerSerial: rec.Serial,
				Status: StatusRevoked, RevokedAt: &at, RevocationReason: reasonOfCode(e.ReasonCode)})
			s.Warn(fmt.Sprintf("%s: kept on the CRL of CA %q as CRL %d listed it (%s); restore its last good version", d, rec.Name, prevNumber, reasonOfCode(e.ReasonCode)))
			continue
		}
		if storeCertSignedBy(s.remote, d.Serial, ca) {
			revoked = append(revoked, &Record{Serial: d.Serial, Kind: KindClient, Name: "(damaged record)", IssuerSerial: rec.Serial,
				Status: StatusRevoked, RevokedAt: &now, RevocationReason: ReasonUnspecified})
			s.Warn(fmt.Sprintf("%s: CA %q signed its certificate, and the record cannot be read: listed on the CRL as revoked (unspecified), failing closed, until its last good version is restored", d, rec.Name))
			continue
		}
		s.Warn(fmt.Sprintf("%s: left off the CRL of CA %q, which signed no certificate of that serial in the store; restore its last good version", d, rec.Name))
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
	c, err := DecodeCertificate(data)
	return err == nil && SerialHex(c) == serial && c.CheckSignatureFrom(ca) == nil
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
func (s *Store) checkNoUnrevocation(ca *x509.Certificate, rec *Record, number uint64, revoked []*Record) error {
	prev, prevNumber, err := s.keptCRL(ca, rec, number)
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
		r, err := s.remote.GetSerial(serial)
		if err != nil {
			return err
		}
		if r != nil && r.IssuerSerial == rec.Serial && Retired(r, s.Now()) {
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
		return fmt.Errorf("%w: CRL %d of CA %q lists %s, which the records in %s no longer say is revoked: a record was changed outside apimtls. Restore each record's previous version (aws s3api list-object-versions), or revoke it again, then sign", ErrUnrevoked, prevNumber, rec.Name, strings.Join(dropped, ", "), s.remote.URI())
	}
	return nil
}

// newerCRLLacks reports whether the shared store keeps a CRL of the CA
// numbered above number that lacks one of revoked.
func (s *Store) newerCRLLacks(ca *x509.Certificate, rec *Record, number uint64, revoked []*Record) (bool, error) {
	listed, n, err := s.keptCRL(ca, rec, math.MaxUint64)
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
func (s *Store) keptCRL(ca *x509.Certificate, rec *Record, below uint64) (map[string]x509.RevocationListEntry, uint64, error) {
	der, n, err := s.remote.PreviousCRL(rec.Serial, below)
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
		return nil, 0, fmt.Errorf("the kept CRL %d of CA %q in %s is not one it signed (%v): restore its last good version, then sign again", n, rec.Name, s.remote.URI(), err)
	}
	listed := map[string]x509.RevocationListEntry{}
	for _, e := range list.RevokedCertificateEntries {
		listed[SerialHexInt(e.SerialNumber)] = e
	}
	return listed, n, nil
}

// errStaleListing is a CRL's listing made before a revocation that an
// earlier-numbered CRL already has: list again.
var errStaleListing = errors.New("revoked since the listing")

// ErrUnrevoked refuses a CRL that would un-revoke a certificate.
var ErrUnrevoked = errors.New("refusing to sign a CRL that drops a revocation")

// ErrSharedStore refuses what only a local inventory can do.
var ErrSharedStore = errors.New("not with a shared store: this works on a local PKI directory's inventory")

// commitShared is commit with a shared store: the files are staged and
// synced in this process's own batch directory, the record and the
// certificate created in the shared store (the commit point), and the
// files moved into place.
func (s *Store) commitShared(rec *Record, files []stagedFile) error {
	final := filepath.Join(s.Dir, rec.Dir)
	if exists(final) {
		return fmt.Errorf("%w (the directory %s exists on this machine; move it away)", &ExistsError{Kind: rec.Kind, Name: rec.Name}, final)
	}
	b, err := s.newBatchDir()
	if err != nil {
		return err
	}
	defer b.close()
	staged := filepath.Join(b.dir, rec.Serial)
	if err := os.Mkdir(staged, dirMode); err != nil {
		return fmt.Errorf("stage files: %w", err)
	}
	if err := writeClaimNote(b.dir, rec); err != nil {
		return err
	}
	var certPEM []byte
	for _, f := range files {
		if err := writeNewFile(filepath.Join(staged, f.name), f.data, f.mode); err != nil {
			return err
		}
		if f.name == certFile {
			certPEM = f.data
		}
		rec.Files = append(rec.Files, filepath.ToSlash(filepath.Join(rec.Dir, f.name)))
	}
	if err := syncDir(staged); err != nil {
		return err
	}
	crashHook("staged")
	rec.CreatedAt = s.Now().UTC()
	if err := s.remote.Create(rec, certPEM); err != nil {
		if committed, known := s.committedAfterAll(rec.Serial); !known {
			b.keep = true
			return fmt.Errorf("%w (whether it was recorded is not known: the next apimtls run on %s finishes or removes it)", err, s.Dir)
		} else if !committed {
			return err
		}
	}
	b.keep = true // committed: from here on, the files are never removed
	crashHook("committed")
	if err := s.moveIntoPlace(staged, rec); err != nil {
		return fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", final, err)
	}
	b.keep = false
	return syncDir(filepath.Dir(final))
}

// commitShared writes a bulk batch into the shared store, up to
// sharedWriters at once, and moves what was recorded into place.
func (s *Store) commitBatchShared(b *batchDir, batch []built, p BulkParams, res *BulkResult) (int, error) {
	created := s.Now().UTC()
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	sem := make(chan struct{}, sharedWriters)
	for i, r := range batch {
		rec := r.bc.issued.Record
		rec.CreatedAt = created
		var certPEM []byte
		for _, f := range r.bc.files {
			if f.name == certFile {
				certPEM = f.data
			}
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if p.renew != nil {
				errs[i] = s.remote.Renew(p.renew[r.index], rec, certPEM, retireAt(created, p.keepPrevious))
			} else {
				errs[i] = s.remote.Create(rec, certPEM)
			}
		})
	}
	wg.Wait()
	crashHook("batch-committed")
	var firstErr error
	pendingDeadline := time.Now().Add(pendingWait) // one wait for the whole batch
	for i, r := range batch {
		rec := r.bc.issued.Record
		err := errs[i]
		var exists *ExistsError
		switch {
		case err == nil:
		case p.renew == nil && (errors.As(err, &exists) || errors.Is(err, ErrPending) && s.awaitOther(rec, pendingDeadline)):
			os.RemoveAll(r.staged)
			res.Skipped++ // issued before (a re-run) or by someone else meanwhile
			continue
		default:
			committed, known := s.committedAfterAll(rec.Serial)
			if !committed {
				if known {
					os.RemoveAll(r.staged)
				} else {
					b.keep = true // the next run on this directory settles it
				}
				res.Failed = append(res.Failed, BulkFailure{Name: rec.Name, Source: p.Items[r.index].Source, Reason: err.Error()})
				continue
			}
			// Recorded after all: the store's answer was lost.
		}
		if err := s.moveIntoPlace(r.staged, rec); err != nil {
			b.keep = true
			if firstErr == nil {
				firstErr = fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", rec.Dir, err)
			}
			continue
		}
		res.Issued++
		res.Serials[rec.Name] = rec.Serial
	}
	if firstErr != nil {
		return 0, firstErr
	}
	if err := syncDir(s.Layout().Clients()); err != nil {
		return 0, err
	}
	return len(batch), syncDir(b.dir)
}

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

// settleShared waits RecoverySettle, once per store, before a dead
// process's shared batch is recovered, if that batch is recent.
func (s *Store) settleShared(batch string) {
	if s.remote == nil || s.settled {
		return
	}
	info, err := os.Stat(batch)
	if err != nil || time.Since(info.ModTime()) > recentShared {
		return
	}
	s.settled = true
	s.Warn(fmt.Sprintf("waiting %s for the last requests of an interrupted run to settle before finishing what it left", RecoverySettle))
	time.Sleep(RecoverySettle)
}

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

// abandonClaim gives back the claim of a staged issuance that died before
// its record, if its note says which.
func (s *Store) abandonClaim(staged, serial string) error {
	if s.remote == nil {
		return nil
	}
	note := filepath.Join(filepath.Dir(staged), serial+claimSuffix)
	data, err := os.ReadFile(note)
	if err != nil {
		return nil // a renewal, or killed before it claimed: nothing to give back
	}
	kind, name, ok := strings.Cut(string(data), "\n")
	if !ok || kind == renewNote {
		return nil // a renewal holds no claim: its mark goes stale instead
	}
	if err := s.remote.Abandon(Kind(kind), name, serial); err != nil {
		return fmt.Errorf("give back the claim of %s %q left by an interrupted run: %w", Kind(kind).Noun(), name, err)
	}
	return os.Remove(note)
}

// committedAfterAll asks the store whether a create that returned an
// error recorded serial anyway; known is false when the store cannot
// say, and the staged files must then stay for the next run to settle.
func (s *Store) committedAfterAll(serial string) (committed, known bool) {
	rec, err := s.remote.GetSerial(serial)
	return err == nil && rec != nil, err == nil
}

// sharedWriters bounds the shared-store writes of a batch in flight.
const sharedWriters = 32

// sharedCertificate reads a certificate from the shared store once per
// command.
func (s *Store) sharedCertificate(rec *Record) ([]byte, error) {
	s.certMu.Lock()
	data, ok := s.certs[rec.Serial]
	s.certMu.Unlock()
	if ok {
		return data, nil
	}
	data, err := s.remote.CertificatePEM(rec.Serial)
	if err != nil {
		return nil, fmt.Errorf("read the certificate of %s %q: %w", rec.Kind.Noun(), rec.Name, err)
	}
	s.certMu.Lock()
	if s.certs == nil {
		s.certs = map[string][]byte{}
	}
	s.certs[rec.Serial] = data
	s.certMu.Unlock()
	return data, nil
}

// missingSharedKey explains a CA key that is not on this machine.
func (s *Store) missingSharedKey(name, path string) error {
	return fmt.Errorf("the key of CA %q is not on this machine (%s does not exist): the shared store %s holds no private key, so a CA's key stays where it was made. Run this where the key is, copy the key to that path, or issue from a CA whose key is in KMS (ca intermediate --kms)", name, path, s.remote.URI())
}
