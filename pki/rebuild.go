package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// Rebuilt is the outcome of RebuildInventory.
type Rebuilt struct {
	// DamagedKept is where the damaged inventory now lies, never deleted;
	// empty when there was none.
	DamagedKept string   `json:"damaged_kept,omitempty"`
	CAs         int      `json:"cas"`
	Clients     int      `json:"clients"`
	Notes       []string `json:"notes,omitempty"`
}

// ErrInventoryIntact is returned when RebuildInventory is asked to replace
// an inventory that opens and reads: it holds what the files do not (such
// as revocations), so it is never replaced on a whim.
var ErrInventoryIntact = errkind.New(errkind.Refused, "the inventory is not damaged")

// RebuildInventory makes a new inventory from the certificate files of the
// PKI directory (ca/*/cert.pem, clients/*/cert.pem), after moving a
// damaged inventory.db aside to inventory.db.damaged-TIME. It refuses when
// the inventory opens and reads.
func RebuildInventory(dir string, now time.Time) (*Rebuilt, error) {
	l := Layout{Dir: dir}
	path := l.Inventory()
	if _, err := os.Stat(path); err == nil {
		if s, err := OpenStore(dir, false); err == nil {
			_, lerr := s.List(nil)
			s.Close()
			if lerr == nil {
				return nil, fmt.Errorf("%w: %s opens and reads", ErrInventoryIntact, path)
			}
		} else if !errors.As(err, new(*InventoryDamagedError)) {
			return nil, err
		}
	}
	records, notes, err := recordsFromFiles(l, now)
	if err != nil {
		return nil, err
	}
	tmp := path + ".rebuild"
	os.Remove(tmp) // a previous rebuild that died; never the inventory itself
	db, err := bolt.Open(tmp, keyMode, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, fmt.Errorf("create new inventory: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, r := range records {
			put := putRecord
			if strings.HasPrefix(r.Dir, supersededDir+"/") {
				put = putUnnamed // its name belongs to its successor
			}
			if err := put(tx, r); err != nil {
				return fmt.Errorf("record %s %q: %w", r.Kind, r.Name, err)
			}
		}
		if err := restoreCRLNumbers(tx, l, records); err != nil {
			return err
		}
		return initBuckets(tx)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	out := &Rebuilt{Notes: notes}
	if _, err := os.Stat(path); err == nil {
		// A name already taken (an earlier rebuild in the same second)
		// gets a counter: no kept inventory is ever replaced.
		stamp := fmt.Sprintf("%s.damaged-%s", path, now.UTC().Format("20060102T150405Z"))
		for i := 1; ; i++ {
			out.DamagedKept = stamp
			if i > 1 {
				out.DamagedKept = fmt.Sprintf("%s-%d", stamp, i)
			}
			err := renameNoReplace(path, out.DamagedKept)
			if err == nil {
				break
			}
			if !errors.Is(err, os.ErrExist) || i == 100 {
				os.Remove(tmp)
				return nil, fmt.Errorf("keep the damaged inventory aside: %w", err)
			}
		}
	}
	if err := renameNoReplace(tmp, path); err != nil {
		return nil, fmt.Errorf("move the new inventory into place: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	for _, r := range records {
		if r.Kind.IsCA() {
			out.CAs++
		} else {
			out.Clients++
		}
	}
	return out, nil
}

// recordsFromFiles reads every CA and client directory into records,
// linking each certificate to its issuing CA by key identifier and name.
func recordsFromFiles(l Layout, now time.Time) ([]*Record, []string, error) {
	type found struct {
		rec  *Record
		cert *x509.Certificate
	}
	var cas, clients []found
	var notes []string
	read := func(base string, kind Kind) ([]found, error) {
		entries, err := os.ReadDir(base)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var out []found
		for _, e := range entries {
			if !e.IsDir() || CheckName(e.Name()) != nil {
				continue
			}
			d := filepath.Join(base, e.Name())
			data, err := os.ReadFile(filepath.Join(d, certFile))
			if err != nil {
				notes = append(notes, fmt.Sprintf("skipped %s: %v", d, err))
				continue
			}
			cert, err := x509cert.DecodeCertificate(data)
			if err != nil {
				notes = append(notes, fmt.Sprintf("skipped %s: %v", d, err))
				continue
			}
			k := kind
			if kind.IsCA() && !x509cert.IsSelfIssued(cert) {
				k = KindIntermediate
			}
			rec := newRecord(k, e.Name(), cert)
			rec.Dir = filepath.ToSlash(filepath.Join(filepath.Base(base), e.Name()))
			files, _ := os.ReadDir(d)
			for _, f := range files {
				rec.Files = append(rec.Files, rec.Dir+"/"+f.Name())
			}
			key, err := os.ReadFile(filepath.Join(d, keyFile))
			rec.KeyEncrypted = err == nil && bytes.Contains(key, []byte("-----BEGIN "+x509cert.BlockEncryptedKey))
			rec.FromCSR = kind == KindClient && errors.Is(err, os.ErrNotExist)
			if err := readKMSFile(d, rec); err != nil {
				notes = append(notes, err.Error()+": the CA's key location is unknown; restore the file")
			}
			if err := readRevocation(d, rec); err != nil {
				notes = append(notes, err.Error()+": kept the certificate as not revoked; revoke it again")
			}
			if info, err := os.Stat(filepath.Join(d, certFile)); err == nil {
				rec.CreatedAt = info.ModTime().UTC()
			}
			out = append(out, found{rec, cert})
		}
		return out, nil
	}
	var err error
	if cas, err = read(l.CAs(), KindRoot); err != nil {
		return nil, nil, err
	}
	if clients, err = read(l.Clients(), KindClient); err != nil {
		return nil, nil, err
	}
	issuerOf := func(c *x509.Certificate) *found {
		for i := range cas {
			if ca := &cas[i]; ca.cert != c && x509cert.IssuedBy(c, ca.cert) && c.CheckSignatureFrom(ca.cert) == nil {
				return ca
			}
		}
		return nil
	}
	var records []*Record
	for i := range cas {
		ca := &cas[i]
		ca.rec.Level = 1
		for p, seen := ca, 0; p.rec.Kind == KindIntermediate && seen <= x509cert.MaxCALevels; seen++ {
			up := issuerOf(p.cert)
			if up == nil {
				notes = append(notes, fmt.Sprintf("CA %q: its issuer is not in %s", ca.rec.Name, l.CAs()))
				break
			}
			if p == ca {
				ca.rec.Issuer, ca.rec.IssuerSerial = up.rec.Name, up.rec.Serial
			}
			ca.rec.Level++
			p = up
		}
		records = append(records, ca.rec)
	}
	for _, c := range clients {
		if up := issuerOf(c.cert); up != nil {
			c.rec.Issuer, c.rec.IssuerSerial = up.rec.Name, up.rec.Serial
		} else {
			notes = append(notes, fmt.Sprintf("client %q: its issuing CA is not in %s", c.rec.Name, l.CAs()))
		}
		records = append(records, c.rec)
	}
	unnoted := map[*Record]bool{}
	old, err := supersededFromFiles(l, func(c *x509.Certificate) *Record {
		if f := issuerOf(c); f != nil {
			return f.rec
		}
		return nil
	}, unnoted, &notes)
	if err != nil {
		return nil, nil, err
	}
	current := map[string]*Record{}
	for _, c := range clients {
		current[c.rec.Name] = c.rec
	}
	linkRenewals(old, current)
	records = append(records, old...)
	retireUnnoted(records, unnoted, now, &notes)
	for _, ca := range cas {
		restoreRevocations(l, ca.rec, ca.cert, records, &notes)
	}
	slices.SortFunc(records, func(a, b *Record) int { return a.Level - b.Level })
	return records, notes, nil
}

// restoreCRLNumbers carries each CA's CRL number on from its last signed
// CRL, so that numbers keep growing across a rebuild.
func restoreCRLNumbers(tx *bolt.Tx, l Layout, records []*Record) error {
	b, err := tx.CreateBucketIfNotExists(bucketCRLNumbers)
	if err != nil {
		return err
	}
	for _, r := range records {
		if !r.Kind.IsCA() {
			continue
		}
		// The highest number of the CRLs on disk that the CA signed, DER
		// and PEM: one copy lost must not restart the numbering (a relying
		// party that saw the higher number would refuse it as a rollback).
		data, err := os.ReadFile(filepath.Join(l.CADir(r.Name), certFile))
		if err != nil {
			continue
		}
		block, _ := pem.Decode(data)
		if block == nil {
			continue
		}
		caCert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		var highest uint64
		for _, path := range []string{l.CRL(r.Name), l.CRLPEM(r.Name)} {
			list, err := readCRLAny(path, caCert)
			if err == nil && list != nil && list.Number != nil && list.Number.IsUint64() {
				highest = max(highest, list.Number.Uint64())
			}
		}
		if highest == 0 {
			continue
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], highest)
		if err := b.Put([]byte(r.Serial), v[:]); err != nil {
			return err
		}
	}
	return nil
}

// supersededFromFiles reads the certificates renewals replaced,
// superseded/<name>/<serial>/, as superseded records.
func supersededFromFiles(l Layout, issuerOf func(*x509.Certificate) *Record, unnoted map[*Record]bool, notes *[]string) ([]*Record, error) {
	base := filepath.Join(l.Dir, supersededDir)
	names, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, n := range names {
		if !n.IsDir() || CheckName(n.Name()) != nil {
			continue
		}
		serials, err := os.ReadDir(filepath.Join(base, n.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range serials {
			d := filepath.Join(base, n.Name(), e.Name())
			data, err := os.ReadFile(filepath.Join(d, certFile))
			var cert *x509.Certificate
			if err == nil {
				cert, err = x509cert.DecodeCertificate(data)
			}
			if err != nil {
				*notes = append(*notes, fmt.Sprintf("skipped %s: %v", d, err))
				continue
			}
			rec := newRecord(KindClient, n.Name(), cert)
			rec.Status = StatusSuperseded
			rec.Dir = filepath.ToSlash(filepath.Join(supersededDir, n.Name(), e.Name()))
			files, _ := os.ReadDir(d)
			for _, f := range files {
				rec.Files = append(rec.Files, rec.Dir+"/"+f.Name())
			}
			_, kerr := os.Stat(filepath.Join(d, keyFile))
			rec.FromCSR = errors.Is(kerr, os.ErrNotExist)
			noted, err := readSupersededNote(d, rec)
			if err != nil {
				*notes = append(*notes, err.Error())
			}
			if !noted {
				unnoted[rec] = true
			}
			if err := readRevocation(d, rec); err != nil {
				*notes = append(*notes, err.Error()+": kept the certificate as not revoked; revoke it again")
			}
			if up := issuerOf(cert); up != nil {
				rec.Issuer, rec.IssuerSerial = up.Name, up.Serial
			}
			if info, err := os.Stat(filepath.Join(d, certFile)); err == nil {
				rec.CreatedAt = info.ModTime().UTC()
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// linkRenewals restores superseded_by and renews: each client's
// certificates, oldest first, each superseded by the next.
func linkRenewals(old []*Record, current map[string]*Record) {
	byName := map[string][]*Record{}
	for _, r := range old {
		byName[r.Name] = append(byName[r.Name], r)
	}
	for name, chain := range byName {
		slices.SortFunc(chain, func(a, b *Record) int {
			if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
				return c
			}
			return a.CreatedAt.Compare(b.CreatedAt)
		})
		if cur := current[name]; cur != nil {
			chain = append(chain, cur)
		}
		for i := 1; i < len(chain); i++ {
			chain[i-1].SupersededBy, chain[i].Renews = chain[i].Serial, chain[i-1].Serial
		}
	}
}

// retireUnnoted gives each superseded certificate without a superseded
// note (written before there were any, or a renewal killed between its
// commit and the note) the renewal rule's retire time: its successor's
// start. It fails closed: a kept overlap the note would have said is
// lost, which the notes say.
func retireUnnoted(records []*Record, unnoted map[*Record]bool, now time.Time, notes *[]string) {
	bySerial := make(map[string]*Record, len(records))
	for _, r := range records {
		bySerial[r.Serial] = r
	}
	for _, r := range records {
		if !unnoted[r] || r.Status != StatusSuperseded {
			continue
		}
		at := now.UTC().Truncate(time.Second)
		if next := bySerial[r.SupersededBy]; next != nil {
			at = next.NotBefore.UTC()
		}
		r.RevokedAt, r.RevocationReason = &at, ReasonSuperseded
		*notes = append(*notes, fmt.Sprintf("client %q: its previous certificate (serial %s) has no %s: retired (revoked, superseded) from %s, when its successor starts, as renewal does; if it was kept longer on purpose, renew with --keep-previous again", r.Name, r.Serial, supersededFile, at.Format(time.RFC3339)))
	}
}

// restoreRevocations reads back the revocations of CA ca from its CRLs
// on disk (crl/NAME.crl and ca/NAME/crl.pem, each checked against the
// CA's certificate): a certificate a CRL lists stays revoked even when
// its revocation note is gone, since a rebuild that forgot it would have
// the next CRL un-revoke it.
func restoreRevocations(l Layout, ca *Record, cert *x509.Certificate, records []*Record, notes *[]string) {
	bySerial := make(map[string]*Record, len(records))
	for _, r := range records {
		if r.IssuerSerial == ca.Serial {
			bySerial[r.Serial] = r
		}
	}
	for _, path := range []string{l.CRL(ca.Name), l.CRLPEM(ca.Name)} {
		list, err := readCRLAny(path, cert)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("%v: its revocations are not read back", err))
			continue
		}
		if list == nil {
			continue
		}
		for _, e := range list.RevokedCertificateEntries {
			serial := x509cert.SerialHexInt(e.SerialNumber)
			r := bySerial[serial]
			if r == nil {
				*notes = append(*notes, fmt.Sprintf("%s lists serial %s, which no certificate file of CA %q holds: the next ca crl %s keeps listing it as it is", path, serial, ca.Name, ca.Name))
				continue
			}
			at, reason := e.RevocationTime.UTC(), reasonOfCode(e.ReasonCode)
			if Retired(r, at) && (reason != ReasonKeyCompromise || r.RevocationReason == ReasonKeyCompromise) {
				continue
			}
			if r.Status == StatusSuperseded && reason == ReasonSuperseded {
				r.RevokedAt, r.RevocationReason = &at, ReasonSuperseded
			} else {
				r.Status, r.RevokedAt, r.RevocationReason = StatusRevoked, &at, reason
			}
			*notes = append(*notes, fmt.Sprintf("%s %q (serial %s): revoked (%s) as %s lists it, though its folder has no note of it", r.Kind.Noun(), r.Name, serial, reason, path))
		}
	}
}

// readCRLAny reads a CRL file, DER or PEM, and checks that ca signed it;
// nil, nil when there is no such file.
func readCRLAny(path string, ca *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil && b.Type == "X509 CRL" {
		data = b.Bytes
	}
	return parseCRLFrom(path, data, ca)
}
