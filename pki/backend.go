package pki

import "crypto/x509"

// backend is where a Store's records live, and how they are written: the
// local inventory (boltBackend, backend_bolt.go: one bbolt file, held under
// an exclusive lock, each commit one transaction) or a shared store
// (sharedBackend, backend_shared.go: a Remote written with create-only and
// conditional writes, no lock, each commit one create). Store's methods
// hold what both share — names, the files on this machine, staging and
// recovery, signing — and ask the backend for the rest, so a new record
// operation is one method here and one in each backend file.
type backend interface {
	// shared is the URI of the shared store, "" for the local inventory:
	// only for messages that tell the user where the records are.
	shared() string
	close() error

	// byName and bySerial return the record, or nil when there is none.
	byName(kind Kind, name string) (*Record, error)
	bySerial(serial string) (*Record, error)
	// caNames lists the CA names in order, without reading a record where
	// it can; cas returns every CA's record, unsorted.
	caNames() ([]string, error)
	cas() ([]*Record, error)
	// list and listBrief return the records (Briefs) that keep accepts,
	// unsorted; keep is called from several goroutines.
	list(keep func(*Record) bool) ([]*Record, error)
	listBrief(keep func(*Brief) bool) ([]*Brief, error)
	// certificatePEM reads the certificate of rec, and names where it
	// read it for messages; checkCertificate checks the parsed one
	// against what its record claims beyond its serial (nil when the
	// backend's records are trusted).
	certificatePEM(rec *Record) (where string, data []byte, err error)
	checkCertificate(rec *Record, c *x509.Certificate) error

	// commit makes one issuance durable and visible: its files staged and
	// synced, its record written (the commit point), the files moved into
	// place. A crash at any step leaves what recovery finishes or removes.
	commit(rec *Record, files []stagedFile) error
	// commitBatch records a bulk batch whose files are staged and synced
	// in b, moves what was recorded into place, and counts each item in
	// res (issued, skipped or failed).
	commitBatch(b *batchDir, batch []built, p BulkParams, res *BulkResult) error
	// issuedNames calls fn with a test of whether a client name was issued
	// before, answered under one read: a bulk run skips those names.
	issuedNames(fn func(issued func(name string) bool)) error
	// release lets other processes in while a bulk run makes keys, and
	// retake takes the store back to record a batch (release follows)
	// and once the run is over.
	release()
	retake() error

	// batchPrefix names the batch directories of this backend in
	// .staging; markBatch writes into a new one what recovery needs to
	// know it is this store's; stageClaim notes, beside a staged issuance,
	// what recovery must give back if it dies before its record.
	batchPrefix() string
	markBatch(dir string) error
	stageClaim(dir string, rec *Record) error
	// ownsStaged says whether recovery of this store handles the .staging
	// entry name (at path), and whether it is a batch directory; settle
	// waits, before a dead process's batch is recovered, for requests it
	// may still have in flight; abandon gives back what stageClaim noted
	// for a staged issuance that has no record.
	ownsStaged(name, path string) (mine, batch bool)
	settle(batch string)
	abandon(staged, serial string) error

	// revoke marks targets revoked with reason (named is the one the
	// user named; byName: by its name, so renewals that committed
	// meanwhile are revoked too), and returns the record of named as it
	// now is and the records it changed, nil when none.
	revoke(named *Record, targets []*Record, reason Reason, byName bool) (*Record, []*Record, error)
	// revokedBy lists what the next CRL of CA ca lists, where the backend
	// can say so from its records alone.
	revokedBy(ca *Record) ([]*Record, error)
	// crlContent returns the number and the revocations of the next CRL
	// of the CA rec (whose certificate is ca), checked never to drop a
	// revocation its last CRL lists.
	crlContent(ca *x509.Certificate, rec *Record) (uint64, []*Record, error)
	// keepCRL keeps a signed CRL where the next one is checked against,
	// and says whether it must be signed again under a new number (a
	// newer one lacks one of revoked).
	keepCRL(name string, ca *x509.Certificate, rec *Record, number uint64, der []byte, revoked []*Record) (again bool, err error)
}
