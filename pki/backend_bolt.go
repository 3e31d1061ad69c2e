package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// boltBackend is the local inventory: inventory.db, a bbolt file, held by
// one writer at a time under its lock, each record written with its
// listing index in one transaction (listindex.go). Its commit point is
// that transaction; the files are staged in .staging/<serial> (one
// issuance) or .staging/bulk-* (a bulk run) before it and moved into
// place after.
type boltBackend struct {
	s *Store
	// db is nil for a read-only store of a directory with no inventory
	// yet, and while a bulk run has released it between batches.
	db *bolt.DB
}

// OpenStore opens the PKI directory dir. With write, it creates the
// directory (0700) and the inventory as needed, waits for the lock, and
// finishes or undoes whatever a killed process left half done. Without
// write, a missing inventory is an empty one.
func OpenStore(dir string, write bool) (*Store, error) {
	s := &Store{Dir: dir, Rand: rand.Reader, Now: time.Now, Warn: func(string) {}}
	b := &boltBackend{s: s}
	s.back = b
	if !write && pendingWork(dir) {
		write = true // recovery needs the write lock
	}
	if !write {
		if _, err := os.Stat(filepath.Join(dir, inventoryFile)); errors.Is(err, fs.ErrNotExist) {
			s.readOnly = true
			return s, nil
		}
	}
	if write {
		if err := createDirs(dir); err != nil {
			return nil, err
		}
	}
	db, err := openInventory(Layout{Dir: dir}.Inventory(), write)
	if err != nil {
		return nil, err
	}
	b.db, s.readOnly = db, !write
	if write {
		// A store that only refuses must leave inventory.db as it was:
		// write the buckets only when they are missing.
		if err := b.guard(func() error {
			if b.db.View(func(tx *bolt.Tx) error { return checkBuckets(tx) }) == nil {
				return nil
			}
			return b.db.Update(initBuckets)
		}); err != nil {
			db.Close()
			return nil, fmt.Errorf("open inventory: %w", err)
		}
		if err := s.recoverStaged(); err != nil {
			db.Close()
			return nil, fmt.Errorf("recover interrupted work: %w", err)
		}
	}
	return s, nil
}

func (b *boltBackend) shared() string { return "" }

func (b *boltBackend) close() error {
	if b.db == nil {
		return nil
	}
	return b.db.Close()
}

func (b *boltBackend) view(fn func(*bolt.Tx) error) error {
	if b.db == nil {
		return nil
	}
	return b.guard(func() error { return b.db.View(fn) })
}

func (b *boltBackend) byName(kind Kind, name string) (*Record, error) {
	var rec *Record
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getByName(tx, kind, name)
		return err
	})
	return rec, err
}

func (b *boltBackend) bySerial(serial string) (*Record, error) {
	var rec *Record
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx, serial)
		return err
	})
	return rec, err
}

// caNames reads the CA names from the name index.
func (b *boltBackend) caNames() ([]string, error) {
	var names []string
	prefix := []byte("ca/")
	err := b.view(func(tx *bolt.Tx) error {
		index := tx.Bucket(bucketNames)
		if index == nil {
			return nil
		}
		c := index.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			names = append(names, string(k[len(prefix):]))
		}
		return nil
	})
	return names, err
}

// cas reads the CA records through the name index rather than every
// client record.
func (b *boltBackend) cas() ([]*Record, error) {
	names, err := b.caNames()
	if err != nil {
		return nil, err
	}
	var out []*Record
	err = b.view(func(tx *bolt.Tx) error {
		for _, n := range names {
			r, err := getByName(tx, KindRoot, n)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (b *boltBackend) list(keep func(*Record) bool) ([]*Record, error) {
	var out []*Record
	err := b.view(func(tx *bolt.Tx) error {
		var err error
		out, err = decodeRecords(tx, keep)
		return err
	})
	return out, err
}

// listBrief reads the listing index, or the records of an inventory
// without one.
func (b *boltBackend) listBrief(keep func(*Brief) bool) ([]*Brief, error) {
	var out []*Brief
	err := b.view(func(tx *bolt.Tx) error {
		if hasListIndex(tx) {
			var err error
			if out, err = decodeBucket(tx, bucketList, decodeBriefEntry, keep); err == nil {
				return nil
			}
		}
		recs, err := decodeRecords(tx, nil)
		out = briefsOf(recs, keep)
		return err
	})
	return out, err
}

func (b *boltBackend) certificatePEM(rec *Record) (string, []byte, error) {
	path := filepath.Join(b.s.Dir, rec.Dir, certFile)
	data, err := os.ReadFile(path)
	return path, data, err
}

// checkCertificate: the files of a local PKI directory are its own.
func (b *boltBackend) checkCertificate(*Record, *x509.Certificate) error { return nil }

// commit makes an issuance durable and visible in three steps: the files are
// written into .staging/<serial> and synced; the record is committed to the
// inventory (the commit point); the staged directory is renamed into place.
// A crash before the commit point leaves a staged directory that the next
// open removes; after it, one that the next open moves into place.
func (b *boltBackend) commit(rec *Record, files []stagedFile) error {
	s := b.s
	final := filepath.Join(s.Dir, rec.Dir)
	if exists(final) {
		return &ExistsError{Kind: rec.Kind, Name: rec.Name}
	}
	staged := filepath.Join(s.Dir, stagingDir, rec.Serial)
	if err := os.Mkdir(staged, dirMode); err != nil {
		return fmt.Errorf("stage files: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(staged)
		}
	}()
	for _, f := range files {
		if err := writeNewFile(filepath.Join(staged, f.name), f.data, f.mode); err != nil {
			return err
		}
		crashHook("file:" + f.name)
	}
	if err := syncDir(staged); err != nil {
		return err
	}
	crashHook("staged")
	for _, f := range files {
		rec.Files = append(rec.Files, filepath.ToSlash(filepath.Join(rec.Dir, f.name)))
	}
	rec.CreatedAt = s.Now().UTC()
	if err := b.guard(func() error { return b.db.Update(func(tx *bolt.Tx) error { return putRecord(tx, rec) }) }); err != nil {
		return fmt.Errorf("record %s %q: %w", rec.Kind, rec.Name, err)
	}
	committed = true
	crashHook("committed")
	if err := s.moveIntoPlace(staged, rec); err != nil {
		return fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", final, err)
	}
	crashHook("renamed")
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	return syncDir(filepath.Join(s.Dir, stagingDir))
}

// commitBatch records a batch in one transaction under the inventory
// lock (taken back by retake), and moves its directories into place.
func (b *boltBackend) commitBatch(_ *batchDir, batch []built, p BulkParams, res *BulkResult) error {
	s := b.s
	created := s.Now().UTC()
	ok := make([]bool, len(batch))
	var fails []BulkFailure
	skipped := 0
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			fails, skipped = fails[:0], 0
			if err := initBuckets(tx); err != nil {
				return err
			}
			names := tx.Bucket(bucketNames)
			for i, r := range batch {
				rec := r.bc.issued.Record
				ok[i] = false
				if p.renew != nil {
					old := p.renew[r.index]
					if cur := names.Get(nameKey(KindClient, rec.Name)); string(cur) != old.Serial {
						fails = append(fails, BulkFailure{Name: rec.Name, Source: p.Items[r.index].Source, Reason: "renewed meanwhile by another process"})
						continue
					}
				} else if names.Get(nameKey(KindClient, rec.Name)) != nil {
					skipped++ // another process issued it meanwhile
					continue
				} else if exists(filepath.Join(s.Dir, filepath.FromSlash(rec.Dir))) {
					fails = append(fails, BulkFailure{Name: rec.Name, Source: p.Items[r.index].Source, Reason: "the directory " + rec.Dir + " exists but is not in the inventory; move it away"})
					continue
				}
				rec.CreatedAt = created
				var err error
				if p.renew != nil {
					err = supersede(tx, p.renew[r.index], rec, retireAt(created, p.keepPrevious))
				} else {
					err = putRecord(tx, rec)
				}
				if errors.Is(err, errSerialInUse) {
					fails = append(fails, BulkFailure{Name: rec.Name, Source: p.Items[r.index].Source, Reason: "a random serial collided with a recorded one: run again"})
					continue
				}
				if err != nil {
					return err
				}
				ok[i] = true
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("record a batch of %d: %w", len(batch), err)
	}
	crashHook("batch-committed")
	res.Failed = append(res.Failed, fails...)
	res.Skipped += skipped
	for i, r := range batch {
		if !ok[i] {
			os.RemoveAll(r.staged)
			continue
		}
		rec := r.bc.issued.Record
		if err := s.moveIntoPlace(r.staged, rec); err != nil {
			return fmt.Errorf("move %s into place (the next apimtls run finishes it): %w", rec.Dir, err)
		}
		res.Issued++
		res.Serials[rec.Name] = rec.Serial
	}
	return nil
}

// issuedNames asks the name index.
func (b *boltBackend) issuedNames(fn func(issued func(name string) bool)) error {
	return b.view(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		fn(func(name string) bool { return names != nil && names.Get(nameKey(KindClient, name)) != nil })
		return nil
	})
}

// release closes the inventory (and its lock) while keys are made, where
// a batch's lock keeps its staged files from another process's recovery.
func (b *boltBackend) release() {
	if batchLocksWork {
		b.unlock()
	}
}

func (b *boltBackend) retake() error {
	if batchLocksWork {
		return b.relock()
	}
	return nil
}

// unlock releases the inventory (and its lock) between batches.
func (b *boltBackend) unlock() {
	if b.db != nil {
		b.db.Close()
		b.db = nil
	}
}

// relock takes the inventory back, recovering what a killed process left.
func (b *boltBackend) relock() error {
	if b.db != nil {
		return nil
	}
	db, err := openInventory(b.s.Layout().Inventory(), true)
	if err != nil {
		return err
	}
	b.db = db
	return b.s.recoverStaged()
}

func (b *boltBackend) batchPrefix() string                 { return batchPrefix }
func (b *boltBackend) markBatch(string) error              { return nil }
func (b *boltBackend) stageClaim(string, *Record) error    { return nil }
func (b *boltBackend) settle(string)                       {}
func (b *boltBackend) abandon(staged, serial string) error { return nil }

// ownsStaged: a single issuance (.staging/<serial>) or a bulk run's
// batch; a shared store's batches (shared-*) are recovered by that store
// only, since only it knows what was committed.
func (b *boltBackend) ownsStaged(name, _ string) (mine, batch bool) {
	if strings.HasPrefix(name, sharedPrefix) {
		return false, false
	}
	return true, strings.HasPrefix(name, batchPrefix)
}

// revoke writes each revocation beside its certificate first, so that
// store rebuild, which reads the folders, never forgets it, then records
// them all in one transaction.
func (b *boltBackend) revoke(rec *Record, targets []*Record, reason Reason, _ bool) (*Record, []*Record, error) {
	s := b.s
	now := s.Now().UTC().Truncate(time.Second)
	named := rec
	var changed []*Record
	for _, t := range targets {
		if r, ok := RevokeRecord(t, reason, now); ok {
			changed = append(changed, r)
			if t == rec {
				named = r
			}
		}
	}
	if len(changed) == 0 {
		return named, nil, nil
	}
	// A failed commit puts each note back as it was: a keyCompromise
	// raising an earlier revocation keeps the earlier note.
	type written struct {
		path string
		was  []byte // nil: there was none
	}
	var notes []written
	undo := func() {
		for _, n := range notes {
			if n.was == nil {
				os.Remove(n.path)
			} else {
				WriteFileAtomic(n.path, n.was, 0o644)
			}
		}
	}
	for _, r := range changed {
		note := filepath.Join(s.Layout().RecordDir(r), revocationFile)
		data, err := json.Marshal(revocationNote{RevokedAt: *r.RevokedAt, Reason: r.RevocationReason})
		if err != nil {
			undo()
			return nil, nil, err
		}
		was, _ := os.ReadFile(note)
		if err := WriteFileAtomic(note, data, 0o644); err != nil {
			undo()
			return nil, nil, fmt.Errorf("record the revocation of %s %q (serial %s): %w", r.Kind.Noun(), r.Name, r.Serial, err)
		}
		notes = append(notes, written{note, was})
	}
	if err := b.db.Update(func(tx *bolt.Tx) error {
		for _, r := range changed {
			if err := replaceRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		undo()
		return nil, nil, fmt.Errorf("record the revocation of %s %q: %w", rec.Kind.Noun(), rec.Name, err)
	}
	return named, changed, nil
}

// revokedBy: the certificates the CA issued that are revoked, and those
// superseded by a renewal whose retire time (RevokedAt) has come.
func (b *boltBackend) revokedBy(ca *Record) ([]*Record, error) {
	now := b.s.Now()
	return b.s.List(func(r *Record) bool { return listedBy(r, ca, now) })
}

// crlContent lists the revocations, checks them against the CA's last
// CRL on disk, and only then bumps the number.
func (b *boltBackend) crlContent(ca *x509.Certificate, rec *Record) (uint64, []*Record, error) {
	revoked, err := b.revokedBy(rec)
	if err != nil {
		return 0, nil, err
	}
	carried, err := b.s.checkLocalNoUnrevocation(ca, rec, revoked)
	if err != nil {
		return 0, nil, err
	}
	revoked = append(revoked, carried...)
	number, err := b.nextCRLNumber(rec.Serial)
	if err != nil {
		return 0, nil, fmt.Errorf("CA %q: %w", rec.Name, err)
	}
	return number, revoked, nil
}

// nextCRLNumber bumps and returns a CA's CRL number, in its own
// transaction.
func (b *boltBackend) nextCRLNumber(caSerial string) (uint64, error) {
	var n uint64
	err := b.db.Update(func(tx *bolt.Tx) error {
		bucket, err := tx.CreateBucketIfNotExists(bucketCRLNumbers)
		if err != nil {
			return err
		}
		if v := bucket.Get([]byte(caSerial)); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		if n >= MaxCRLNumber {
			return &CRLNumberError{Where: Layout{Dir: b.s.Dir}.Inventory() + " (CA serial " + caSerial + ")", Number: n}
		}
		n++
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], n)
		return bucket.Put([]byte(caSerial), v[:])
	})
	return n, err
}

// keepCRL: the CRL written under crl/ is the one the next is checked
// against (checkLocalNoUnrevocation), and one writer at a time signs.
func (b *boltBackend) keepCRL(string, *x509.Certificate, *Record, uint64, []byte, []*Record) (bool, error) {
	return false, nil
}
