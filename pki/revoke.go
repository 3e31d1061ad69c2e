package pki

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reason is why a certificate was revoked, as RFC 5280 §5.3.1 names it.
type Reason string

// The reasons apimtls records; each has its CRL reason code.
const (
	ReasonUnspecified          Reason = "unspecified"
	ReasonKeyCompromise        Reason = "keyCompromise"
	ReasonAffiliationChanged   Reason = "affiliationChanged"
	ReasonSuperseded           Reason = "superseded"
	ReasonCessationOfOperation Reason = "cessationOfOperation"
)

var reasonCodes = map[Reason]int{
	ReasonUnspecified: 0, ReasonKeyCompromise: 1, ReasonAffiliationChanged: 3,
	ReasonSuperseded: 4, ReasonCessationOfOperation: 5,
}

// Reasons lists the accepted reasons, for messages.
func Reasons() []string {
	var out []string
	for r := range reasonCodes {
		out = append(out, string(r))
	}
	sort.Strings(out)
	return out
}

// ParseReason reads a reason by its RFC 5280 name, in any case.
func ParseReason(s string) (Reason, error) {
	for r := range reasonCodes {
		if strings.EqualFold(string(r), s) {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown revocation reason %q: use one of %s", s, strings.Join(Reasons(), ", "))
}

// Code is the reason's CRL reason code.
func (r Reason) Code() int { return reasonCodes[r] }

// ErrRootRevoke refuses revoking a root: no CRL can list it, since no CA
// signs for it; it leaves by leaving the truststore.
var ErrRootRevoke = errors.New("a root CA cannot be revoked: nothing above it signs a CRL; remove it from the truststore (truststore build without it) and push")

// RevokedError refuses to issue from a revoked CA.
type RevokedError struct{ Name string }

func (e *RevokedError) Error() string {
	return fmt.Sprintf("CA %q is revoked: nothing more is issued from it", e.Name)
}

// Revocation is what Revoke did.
type Revocation struct {
	Record *Record
	// Already says the certificate was revoked before; nothing changed.
	Already bool
}

// Revoke marks a client (by name or serial) or an intermediate CA (by
// name) revoked: the record and its files stay, with the time and reason,
// and the issuer's next CRL lists it. Revoking twice changes nothing and
// says so.
func (s *Store) Revoke(kind Kind, ref string, reason Reason) (*Revocation, error) {
	if _, ok := reasonCodes[reason]; !ok {
		return nil, fmt.Errorf("unknown revocation reason %q: use one of %s", reason, strings.Join(Reasons(), ", "))
	}
	rec, err := s.find(kind, ref)
	if err != nil {
		return nil, err
	}
	if rec.Kind == KindRoot {
		return nil, ErrRootRevoke
	}
	if rec.Status == StatusRevoked {
		return &Revocation{Record: rec, Already: true}, nil
	}
	if s.remote != nil {
		// The record in the shared store is the truth, and each change
		// of it a version of its object: no note beside the files.
		byName := rec.Name == ref
		rec, changed, err := s.remote.Revoke(rec.Serial, reason)
		if err != nil {
			return nil, fmt.Errorf("record the revocation of %s %q: %w", kind.Noun(), ref, err)
		}
		if byName {
			// A renewal that committed while this revocation was under
			// way made a certificate the name now means: revoke it too.
			if rec, err = s.revokeSuccessors(rec, reason); err != nil {
				return nil, err
			}
		}
		return &Revocation{Record: rec, Already: !changed}, nil
	}
	now := s.Now().UTC().Truncate(time.Second)
	rec.Status, rec.RevokedAt, rec.RevocationReason = StatusRevoked, &now, reason
	// The revocation is written beside the certificate first, so that
	// store rebuild, which reads the folders, never forgets it.
	note := filepath.Join(s.Layout().RecordDir(rec), revocationFile)
	data, err := json.Marshal(revocationNote{RevokedAt: now, Reason: reason})
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(note, data, 0o644); err != nil {
		return nil, fmt.Errorf("record the revocation of %s %q: %w", rec.Kind.Noun(), rec.Name, err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return replaceRecord(tx, rec) }); err != nil {
		os.Remove(note)
		return nil, fmt.Errorf("record the revocation of %s %q: %w", rec.Kind.Noun(), rec.Name, err)
	}
	return &Revocation{Record: rec}, nil
}

// revokeSuccessors revokes the renewals of rec that have a record, and
// returns the newest.
func (s *Store) revokeSuccessors(rec *Record, reason Reason) (*Record, error) {
	for range MaxRenewalChain {
		if rec.SupersededBy == "" {
			return rec, nil
		}
		next, err := s.remote.GetSerial(rec.SupersededBy)
		if err != nil || next == nil {
			return rec, err // none yet: the renewal checks for this revocation itself
		}
		if next, _, err = s.remote.Revoke(next.Serial, reason); err != nil {
			return nil, fmt.Errorf("revoke %s %q's renewal %s: %w", rec.Kind.Noun(), rec.Name, rec.SupersededBy, err)
		}
		s.Warn(fmt.Sprintf("%s %q was renewed while being revoked: its new certificate %s is revoked too", rec.Kind.Noun(), rec.Name, next.Serial))
		rec = next
	}
	return rec, nil
}

// MaxRenewalChain bounds how many renewals a name is followed through.
const MaxRenewalChain = 8

// revocationFile, in a revoked certificate's folder, holds when and why.
const revocationFile = "revocation.json"

type revocationNote struct {
	RevokedAt time.Time `json:"revoked_at"`
	Reason    Reason    `json:"reason"`
}

// readRevocation applies a folder's revocation note to its record.
func readRevocation(dir string, rec *Record) error {
	data, err := os.ReadFile(filepath.Join(dir, revocationFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var n revocationNote
	if err := json.Unmarshal(data, &n); err != nil || n.RevokedAt.IsZero() {
		return fmt.Errorf("%s is damaged: %v", filepath.Join(dir, revocationFile), err)
	}
	rec.Status, rec.RevokedAt, rec.RevocationReason = StatusRevoked, &n.RevokedAt, n.Reason
	return nil
}

// find looks a certificate up by name, or for clients by serial too.
func (s *Store) find(kind Kind, ref string) (*Record, error) {
	rec, err := s.Lookup(kind, ref)
	var nf *NotFoundError
	if err == nil || !errors.As(err, &nf) || kind.IsCA() {
		return rec, err
	}
	if serial, ok := NormalizeSerial(ref); ok {
		if r, err := s.LookupSerial(serial); err != nil || (r != nil && r.Kind == kind) {
			return r, err
		}
	}
	return nil, err
}

// replaceRecord rewrites an existing record in place: same serial, same
// name.
func replaceRecord(tx *bolt.Tx, r *Record) error {
	certs := tx.Bucket(bucketCerts)
	if certs == nil || certs.Get([]byte(r.Serial)) == nil {
		return fmt.Errorf("no record with serial %s", r.Serial)
	}
	return writeRecord(tx, r)
}

// RevokedBy lists the revoked certificates a CA issued, by serial.
func (s *Store) RevokedBy(ca *Record) ([]*Record, error) {
	keep := func(r *Record) bool {
		return r.IssuerSerial == ca.Serial && r.Status == StatusRevoked && r.Serial != ca.Serial
	}
	if s.remote != nil {
		// A damaged record could be a revocation: a CRL without it would
		// un-revoke a certificate, so none is signed.
		all, err := s.remoteList(true)
		if err != nil {
			return nil, fmt.Errorf("list the revocations of CA %q: %w", ca.Name, err)
		}
		return slices.DeleteFunc(all, func(r *Record) bool { return !keep(r) }), nil
	}
	return s.List(keep)
}
