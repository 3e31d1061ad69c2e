package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
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

// sharedBackend is a shared store: every record, certificate and CRL
// number in a Remote, with no lock, each issuance committed by one
// create-only write (Remote.Create or Renew); the PKI directory holds this
// operator's keys and the files of what was issued here. Each issuance,
// single or bulk, stages its files in a batch directory of its own
// (.staging/shared-*, its .store file naming the store), locked only by
// the process writing it.
type sharedBackend struct {
	s      *Store
	remote Remote // checked (checkedRemote): its records are untrusted

	certMu sync.Mutex
	certs  map[string][]byte // certificates read from remote, by serial
	// verified holds the serials whose certificates were checked against
	// their issuer's signature (verifyShared).
	verified map[string]bool
	settled  bool // recovery waited RecoverySettle already
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
	s := &Store{Dir: dir, Rand: rand.Reader, Now: time.Now, Warn: func(string) {}, readOnly: !write}
	s.back = &sharedBackend{s: s, remote: checkedRemote{remote}}
	if !write {
		return s, nil
	}
	if err := createDirs(dir); err != nil {
		return nil, err
	}
	if err := s.recoverStaged(); err != nil {
		return nil, fmt.Errorf("recover interrupted work: %w", err)
	}
	return s, nil
}

func (b *sharedBackend) shared() string { return b.remote.URI() }
func (b *sharedBackend) close() error   { return nil }

func (b *sharedBackend) byName(kind Kind, name string) (*Record, error) {
	if CheckName(name) != nil {
		return nil, nil // no such name can be stored: not an S3 key to ask for
	}
	rec, err := b.remote.Get(kind, name)
	if nf := (*NotFoundError)(nil); errors.As(err, &nf) {
		return nil, nil
	}
	return rec, err
}

func (b *sharedBackend) bySerial(serial string) (*Record, error) { return b.remote.GetSerial(serial) }

func (b *sharedBackend) caNames() ([]string, error) {
	var names []string
	cas, err := b.remote.CAs()
	err = b.tolerate(err)
	for _, r := range cas {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names, err
}

func (b *sharedBackend) cas() ([]*Record, error) {
	cas, err := b.remote.CAs()
	return cas, b.tolerate(err)
}

func (b *sharedBackend) list(keep func(*Record) bool) ([]*Record, error) {
	all, err := b.listAll()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r *Record) bool { return keep != nil && !keep(r) }), nil
}

// listBrief: a shared store has no index, its records become Briefs.
func (b *sharedBackend) listBrief(keep func(*Brief) bool) ([]*Brief, error) {
	recs, err := b.listAll()
	return briefsOf(recs, keep), err
}

// listAll lists the shared store. Damaged objects are left out with a
// warning; a CRL decides for each what it may list instead
// (sharedRevocations).
func (b *sharedBackend) listAll() ([]*Record, error) {
	recs, err := b.remote.List()
	return recs, b.tolerate(err)
}

// tolerate turns damaged objects into a warning.
func (b *sharedBackend) tolerate(err error) error {
	var de *DamagedRecordsError
	if errors.As(err, &de) {
		b.s.Warn(de.Error() + "; going on without them")
		return nil
	}
	return err
}

func (b *sharedBackend) certificatePEM(rec *Record) (string, []byte, error) {
	data, err := b.certificate(rec)
	return b.remote.URI() + "certs/" + rec.Serial + ".pem", data, err
}

// certificate reads a certificate from the shared store once per
// command.
func (b *sharedBackend) certificate(rec *Record) ([]byte, error) {
	b.certMu.Lock()
	data, ok := b.certs[rec.Serial]
	b.certMu.Unlock()
	if ok {
		return data, nil
	}
	data, err := b.remote.CertificatePEM(rec.Serial)
	if err != nil {
		return nil, fmt.Errorf("read the certificate of %s %q: %w", rec.Kind.Noun(), rec.Name, err)
	}
	b.certMu.Lock()
	if b.certs == nil {
		b.certs = map[string][]byte{}
	}
	b.certs[rec.Serial] = data
	b.certMu.Unlock()
	return data, nil
}

// checkCertificate: whoever may write to the store may have planted it
// (verifyShared).
func (b *sharedBackend) checkCertificate(rec *Record, c *x509.Certificate) error {
	return b.verifyShared(rec, c, 0)
}

// commit is commit with a shared store: the files are staged and
// synced in this process's own batch directory, the record and the
// certificate created in the shared store (the commit point), and the
// files moved into place.
func (b *sharedBackend) commit(rec *Record, files []stagedFile) error {
	s := b.s
	final := filepath.Join(s.Dir, rec.Dir)
	if exists(final) {
		return fmt.Errorf("%w (the directory %s exists on this machine; move it away)", &ExistsError{Kind: rec.Kind, Name: rec.Name}, final)
	}
	bd, err := s.newBatchDir()
	if err != nil {
		return err
	}
	defer bd.close()
	staged := filepath.Join(bd.dir, rec.Serial)
	if err := os.Mkdir(staged, dirMode); err != nil {
		return fmt.Errorf("stage files: %w", err)
	}
	if err := writeClaimNote(bd.dir, rec); err != nil {
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
	if err := b.remote.Create(rec, certPEM); err != nil {
		if committed, known := b.committedAfterAll(rec.Serial); !known {
			bd.keep = true
			return fmt.Errorf("%w (whether it was recorded is not known: the next apimtls run on %s finishes or removes it)", err, s.Dir)
		} else if !committed {
			return err
		}
	}
	bd.keep = true // committed: from here on, the files are never removed
	crashHook("committed")
	if err := s.moveIntoPlace(staged, rec); err != nil {
		return fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", final, err)
	}
	bd.keep = false
	return syncDir(filepath.Dir(final))
}

// commitBatch writes a bulk batch into the shared store, up to
// sharedWriters at once, and moves what was recorded into place.
func (b *sharedBackend) commitBatch(bd *batchDir, batch []built, p BulkParams, res *BulkResult) error {
	s := b.s
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
				errs[i] = b.remote.Renew(p.renew[r.index], rec, certPEM, retireAt(created, p.keepPrevious))
			} else {
				errs[i] = b.remote.Create(rec, certPEM)
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
		case p.renew == nil && (errors.As(err, &exists) || errors.Is(err, ErrPending) && b.awaitOther(rec, pendingDeadline)):
			os.RemoveAll(r.staged)
			res.Skipped++ // issued before (a re-run) or by someone else meanwhile
			continue
		default:
			committed, known := b.committedAfterAll(rec.Serial)
			if !committed {
				if known {
					os.RemoveAll(r.staged)
				} else {
					bd.keep = true // the next run on this directory settles it
				}
				res.Failed = append(res.Failed, BulkFailure{Name: rec.Name, Source: p.Items[r.index].Source, Reason: err.Error()})
				continue
			}
			// Recorded after all: the store's answer was lost.
		}
		if err := s.moveIntoPlace(r.staged, rec); err != nil {
			bd.keep = true
			if firstErr == nil {
				firstErr = fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", rec.Dir, err)
			}
			continue
		}
		res.Issued++
		res.Serials[rec.Name] = rec.Serial
	}
	return firstErr
}

// awaitOther waits, until deadline, for the issuance of rec's name that
// another writer has in progress: true when it was recorded meanwhile
// (rec is then skipped, as a name issued before is).
func (b *sharedBackend) awaitOther(rec *Record, deadline time.Time) bool {
	for ; ; time.Sleep(250 * time.Millisecond) {
		r, err := b.remote.Get(rec.Kind, rec.Name)
		if err == nil && r != nil {
			return true
		}
		if !errors.Is(err, ErrPending) || time.Now().After(deadline) {
			return false // released (it failed), unreadable, or still pending
		}
	}
}

// committedAfterAll asks the store whether a create that returned an
// error recorded serial anyway; known is false when the store cannot
// say, and the staged files must then stay for the next run to settle.
func (b *sharedBackend) committedAfterAll(serial string) (committed, known bool) {
	rec, err := b.remote.GetSerial(serial)
	return err == nil && rec != nil, err == nil
}

// issuedNames: a shared store's client issued here before has its files
// here, since only a commit moves files into place; for the rest the
// store's create decides (and counts it skipped): there is no local name
// index to ask.
func (b *sharedBackend) issuedNames(fn func(issued func(name string) bool)) error {
	fn(func(name string) bool { return exists(filepath.Join(b.s.Dir, clientsDir, name)) })
	return nil
}

// release and retake: a shared store holds no lock.
func (b *sharedBackend) release()      {}
func (b *sharedBackend) retake() error { return nil }

func (b *sharedBackend) batchPrefix() string { return sharedPrefix }

// markBatch says which store decides what was committed: recovery by
// another store (another prefix, say) must leave these keys alone.
func (b *sharedBackend) markBatch(dir string) error {
	return writeNewFile(filepath.Join(dir, batchStoreFile), []byte(b.remote.URI()), publicMode)
}

func (b *sharedBackend) stageClaim(dir string, rec *Record) error { return writeClaimNote(dir, rec) }

// ownsStaged: this store's batches only; every issuance stages in one.
func (b *sharedBackend) ownsStaged(name, path string) (mine, batch bool) {
	if !strings.HasPrefix(name, sharedPrefix) {
		return false, false
	}
	if uri, err := os.ReadFile(filepath.Join(path, batchStoreFile)); err == nil && string(uri) != b.remote.URI() {
		return false, false // another shared store's
	}
	return true, true
}

// settle waits RecoverySettle, once per store, before a dead process's
// shared batch is recovered, if that batch is recent.
func (b *sharedBackend) settle(batch string) {
	if b.settled {
		return
	}
	info, err := os.Stat(batch)
	if err != nil || time.Since(info.ModTime()) > recentShared {
		return
	}
	b.settled = true
	b.s.Warn(fmt.Sprintf("waiting %s for the last requests of an interrupted run to settle before finishing what it left", RecoverySettle))
	time.Sleep(RecoverySettle)
}

// abandon gives back the claim of a staged issuance that died before
// its record, if its note says which.
func (b *sharedBackend) abandon(staged, serial string) error {
	note := filepath.Join(filepath.Dir(staged), serial+claimSuffix)
	data, err := os.ReadFile(note)
	if err != nil {
		return nil // a renewal, or killed before it claimed: nothing to give back
	}
	kind, name, ok := strings.Cut(string(data), "\n")
	if !ok || kind == renewNote {
		return nil // a renewal holds no claim: its mark goes stale instead
	}
	if err := b.remote.Abandon(Kind(kind), name, serial); err != nil {
		return fmt.Errorf("give back the claim of %s %q left by an interrupted run: %w", Kind(kind).Noun(), name, err)
	}
	return os.Remove(note)
}

// revoke: the record in the shared store is the truth, and each change
// of it a version of its object: no note beside the files.
func (b *sharedBackend) revoke(rec *Record, targets []*Record, reason Reason, byName bool) (*Record, []*Record, error) {
	named := rec
	var changed []*Record
	for _, t := range targets {
		got, did, err := b.remote.Revoke(t.Serial, reason)
		if err != nil {
			return nil, nil, fmt.Errorf("record the revocation of %s %q (serial %s): %w", t.Kind.Noun(), t.Name, t.Serial, err)
		}
		if did {
			changed = append(changed, got)
		}
		if t == rec {
			named = got
		}
	}
	if byName {
		// A renewal that committed while this revocation was under
		// way made a certificate the name now means: revoke it too.
		newest, more, err := b.revokeSuccessors(named, reason)
		if err != nil {
			return nil, nil, err
		}
		named, changed = newest, append(changed, more...)
	}
	return named, changed, nil
}

// revokeSuccessors revokes the renewals of rec that have a record, and
// returns the newest and those it changed.
func (b *sharedBackend) revokeSuccessors(rec *Record, reason Reason) (*Record, []*Record, error) {
	var changed []*Record
	for range MaxRenewalChain {
		if rec.SupersededBy == "" {
			return rec, changed, nil
		}
		next, err := b.remote.GetSerial(rec.SupersededBy)
		if err != nil || next == nil {
			return rec, changed, err // none yet: the renewal checks for this revocation itself
		}
		next, did, err := b.remote.Revoke(next.Serial, reason)
		if err != nil {
			return nil, nil, fmt.Errorf("revoke %s %q's renewal %s: %w", rec.Kind.Noun(), rec.Name, rec.SupersededBy, err)
		}
		if did {
			changed = append(changed, next)
			b.s.Warn(fmt.Sprintf("%s %q was renewed while being revoked: its new certificate %s is revoked too", rec.Kind.Noun(), rec.Name, next.Serial))
		}
		rec = next
	}
	return rec, changed, nil
}

func (b *sharedBackend) revokedBy(*Record) ([]*Record, error) {
	return nil, errors.New("RevokedBy reads a local inventory; a shared store's CRL content comes from sharedRevocations")
}

// crlContent takes the number first, so that numbers follow the order of
// the listings, and checks the CRL against the previous one kept in the
// store: a listing made before a revocation that the previous CRL already
// lists is stale, and is made again under a new number.
func (b *sharedBackend) crlContent(ca *x509.Certificate, rec *Record) (uint64, []*Record, error) {
	for attempt := 1; ; attempt++ {
		number, err := b.remote.NextCRLNumber(rec.Serial)
		if err != nil {
			return 0, nil, fmt.Errorf("CA %q: %w", rec.Name, err)
		}
		revoked, err := b.sharedRevocations(ca, rec, number)
		if err != nil {
			return 0, nil, err
		}
		err = b.checkNoUnrevocation(ca, rec, number, revoked)
		if errors.Is(err, errStaleListing) {
			if attempt < 5 {
				continue
			}
			err = fmt.Errorf("the revocations of CA %q changed during each of %d listings: sign again when revoking has calmed down", rec.Name, attempt)
		}
		return number, revoked, err
	}
}

// keepCRL keeps the CRL in the store. Another operator may have taken a
// higher number before this listing and kept a CRL made before a
// revocation this one has: published last, it would un-revoke. Then it
// is signed again, above it.
func (b *sharedBackend) keepCRL(name string, ca *x509.Certificate, rec *Record, number uint64, der []byte, revoked []*Record) (bool, error) {
	if err := b.remote.PutCRL(rec.Serial, number, der); err != nil {
		return false, fmt.Errorf("keep CRL %d of CA %q in %s: %w", number, name, b.remote.URI(), err)
	}
	return b.newerCRLLacks(ca, rec, number, revoked)
}
