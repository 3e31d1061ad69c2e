package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// supersededDir is where a renewed client's old files move:
// superseded/<name>/<serial>/, out of clients/ so that clients/<name> is
// always the current certificate.
const supersededDir = "superseded"

// supersede records rec as the renewal of old in one transaction: rec is
// added, old is marked superseded and linked to it, to be revoked from
// retire on, its files move (on disk, after the commit) to
// superseded/<name>/<serial>, and the client's name points at rec.
func supersede(tx *bolt.Tx, old, rec *Record, retire time.Time) error {
	certs := tx.Bucket(bucketCerts)
	if certs.Get([]byte(rec.Serial)) != nil {
		return errSerialInUse
	}
	o := Superseded(old, rec.Serial, retire)
	for _, r := range []*Record{o, rec} {
		if err := writeRecord(tx, r); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketNames).Put(nameKey(rec.Kind, rec.Name), []byte(rec.Serial))
}

// Superseded is old as it is recorded once renewed by the certificate
// with serial by: marked superseded, linked to it, revoked with reason
// superseded from retire on (RevokedAt is then in the future; every CRL
// signed from retire on lists it), and its files under
// superseded/<name>/<serial>. A zero retire leaves it valid until it
// expires (KeepUntilExpiry).
//
// A renewed certificate is revoked because the device that renewed no
// longer needs it, while whoever copied it (and its key, which
// --reuse-key keeps) still could use it until it expires.
func Superseded(old *Record, by string, retire time.Time) *Record {
	o := *old
	o.Status = StatusSuperseded
	o.SupersededBy = by
	if !retire.IsZero() {
		retire = retire.UTC().Truncate(time.Second)
		o.RevokedAt, o.RevocationReason = &retire, ReasonSuperseded
	}
	o.Dir = path.Join(supersededDir, old.Name, old.Serial)
	o.Files = nil
	for _, f := range old.Files {
		o.Files = append(o.Files, path.Join(o.Dir, path.Base(f)))
	}
	return &o
}

// supersededFile, in a renewed certificate's folder, says what retires
// it, so that store rebuild gives it back the same retire time.
const supersededFile = "superseded.json"

type supersededNote struct {
	SupersededBy string `json:"superseded_by"`
	// RetireAt is when the next CRL starts listing it; null: never, it
	// stays valid until it expires (rotate ca).
	RetireAt *time.Time `json:"retire_at"`
}

// writeSupersededNote writes old's superseded note into dir, its folder.
func writeSupersededNote(dir string, old *Record) error {
	n := supersededNote{SupersededBy: old.SupersededBy}
	if old.Status == StatusSuperseded && old.RevocationReason == ReasonSuperseded {
		n.RetireAt = old.RevokedAt
	}
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, supersededFile), data, 0o644); err != nil {
		return fmt.Errorf("record when client %q's previous certificate (serial %s) retires: %w", old.Name, old.Serial, err)
	}
	return nil
}

// readSupersededNote applies a folder's superseded note to its record;
// false when there is none.
func readSupersededNote(dir string, rec *Record) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, supersededFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var n supersededNote
	if err := json.Unmarshal(data, &n); err != nil {
		return false, fmt.Errorf("%s is damaged: %v", filepath.Join(dir, supersededFile), err)
	}
	if n.RetireAt != nil {
		at := n.RetireAt.UTC()
		rec.RevokedAt, rec.RevocationReason = &at, ReasonSuperseded
	}
	return true, nil
}

// RenewParams describes a renewal.
type RenewParams struct {
	// CA signs the new certificates; empty: each client's own issuer.
	CA           string
	CAPassphrase x509cert.PassphraseFunc
	// Days of the new certificates; 0: as long as the old one was.
	Days int
	// ReuseKey keeps each client's key instead of making a new one.
	ReuseKey bool
	// KeepPrevious is how long each renewed certificate stays valid once
	// its successor is recorded; 0: it is revoked (reason superseded) at
	// once, so the next CRL lists it; KeepUntilExpiry: never (rotate ca,
	// whose last phase drops the old CA from the truststore instead).
	KeepPrevious time.Duration
	// CSR supplies the new key of a CSR-signed client (one client only).
	CSR      *x509cert.CheckedCSR
	FailFast bool
	Progress func(BulkProgress)
	// Context stops the run as BulkParams.Context does.
	Context context.Context
}

// ErrNeedsCSR marks a client whose key is on its device: it renews only
// from a new CSR.
var ErrNeedsCSR = errkind.New(errkind.Refused, "signed from a CSR, its key is on the device: renew it with a new CSR (client renew NAME --csr FILE)")

// RenewClients renews the given current client records: a new certificate
// with the same subject, SANs and key type, and a new key unless
// ReuseKey; each old record is marked superseded and linked to its
// successor, and the client's name then points at the new one. Renewals
// run like bulk issuance; a client that cannot be renewed is a failure.
func (s *Store) RenewClients(recs []*Record, p RenewParams) (*BulkResult, error) {
	start := time.Now()
	total := &BulkResult{Requested: len(recs), Failed: []BulkFailure{}, Serials: map[string]string{}}
	groups := map[string][]*Record{}
	var order []string
	for _, r := range recs {
		ca := p.CA
		if ca == "" {
			ca = r.Issuer
		}
		if _, ok := groups[ca]; !ok {
			order = append(order, ca)
		}
		groups[ca] = append(groups[ca], r)
	}
	for _, ca := range order {
		bp := BulkParams{Common: ClientParams{CA: ca, CAPassphrase: p.CAPassphrase}, FailFast: p.FailFast, Progress: p.Progress, Context: p.Context, keepPrevious: p.KeepPrevious}
		for _, r := range groups[ca] {
			it, err := s.renewItem(r, p)
			if err != nil {
				total.Failed = append(total.Failed, BulkFailure{Name: r.Name, Source: r.Serial, Reason: err.Error()})
				continue
			}
			bp.Items = append(bp.Items, it)
			bp.renew = append(bp.renew, r)
		}
		if len(bp.Items) == 0 {
			continue
		}
		res, err := s.IssueBulk(bp)
		if res == nil && err != nil {
			// The CA cannot sign: every client of this group fails.
			for _, r := range groups[ca] {
				total.Failed = append(total.Failed, BulkFailure{Name: r.Name, Source: r.Serial, Reason: err.Error()})
			}
			continue
		}
		total.Issued += res.Issued
		total.Failed = append(total.Failed, res.Failed...)
		maps.Copy(total.Serials, res.Serials)
		if total.Issuer == "" || total.Issuer == res.Issuer {
			total.Issuer = res.Issuer
		} else {
			total.Issuer = ""
		}
		if err != nil {
			return finish(total, start), err
		}
	}
	return finish(total, start), nil
}

// renewItem is the bulk item that renews r.
func (s *Store) renewItem(r *Record, p RenewParams) (BulkItem, error) {
	if r.Kind != KindClient {
		return BulkItem{}, fmt.Errorf("%q is a CA: renew clients only", r.Name)
	}
	if st := r.StatusAt(s.Now()); st == StatusRevoked || st == StatusSuperseded {
		return BulkItem{}, fmt.Errorf("client %q (serial %s) is %s", r.Name, r.Serial, st)
	}
	cert, err := s.Certificate(r)
	if err != nil {
		return BulkItem{}, err
	}
	cp := ClientParams{Name: r.Name, KeyType: r.KeyType, Days: p.Days, subject: cert,
		DNSNames: cert.DNSNames, Emails: cert.EmailAddresses, URIs: cert.URIs}
	if cp.Days == 0 {
		cp.Days = max(1, int(math.Round(cert.NotAfter.Sub(cert.NotBefore).Hours()/24)))
	}
	switch {
	case r.FromCSR && p.CSR == nil:
		return BulkItem{}, ErrNeedsCSR
	case p.CSR != nil:
		// A CSR for a client whose key apimtls held: the device keeps its
		// key from now on; the old key.pem stays with the old record.
		cp.CSR = p.CSR
	case p.ReuseKey:
		data, err := os.ReadFile(filepath.Join(s.Dir, filepath.FromSlash(r.Dir), keyFile))
		if err != nil {
			return BulkItem{}, fmt.Errorf("--reuse-key: %w", err)
		}
		key, err := x509cert.DecodeKey(data, nil)
		if err != nil {
			return BulkItem{}, fmt.Errorf("--reuse-key: %w", err)
		}
		if !publicKeysEqual(key.Public(), cert.PublicKey) {
			return BulkItem{}, fmt.Errorf("--reuse-key: the key of client %q does not match its certificate", r.Name)
		}
		cp.key = key
	}
	return BulkItem{Source: r.Serial, Params: cp}, nil
}

// KeepUntilExpiry, as RenewParams.KeepPrevious, leaves each renewed
// certificate valid until it expires.
const KeepUntilExpiry time.Duration = -1

// retireAt is when a certificate renewed at renewed stops being valid;
// zero for never.
func retireAt(renewed time.Time, keep time.Duration) time.Time {
	if keep < 0 {
		return time.Time{}
	}
	return renewed.Add(keep)
}

// ClientsExpiring returns the current (not revoked, not superseded) client
// records expiring before t, of ca when it is not empty.
func (s *Store) ClientsExpiring(t time.Time, ca string) ([]*Record, error) {
	return s.List(func(r *Record) bool {
		return r.Kind == KindClient && r.Status == StatusActive && r.NotAfter.Before(t) && (ca == "" || r.Issuer == ca)
	})
}

// putUnnamed records a superseded certificate: by serial only, the name
// belonging to its successor.
func putUnnamed(tx *bolt.Tx, r *Record) error {
	if err := initBuckets(tx); err != nil {
		return err
	}
	certs := tx.Bucket(bucketCerts)
	if certs.Get([]byte(r.Serial)) != nil {
		return errSerialInUse
	}
	return writeRecord(tx, r)
}
