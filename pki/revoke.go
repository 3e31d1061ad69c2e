package pki

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

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
var ErrRootRevoke = errkind.New(errkind.Refused, "a root CA cannot be revoked: nothing above it signs a CRL")

// RevokedError refuses to issue from a revoked CA.
type RevokedError struct {
	Name string
	// Via is the revoked CA above Name; empty: Name itself is revoked.
	Via string
}

func (e *RevokedError) Error() string {
	if e.Via != "" {
		return fmt.Sprintf("CA %q is under CA %q, which is revoked: nothing more is issued from it (relying parties refuse the whole chain)", e.Name, e.Via)
	}
	return fmt.Sprintf("CA %q is revoked: nothing more is issued from it", e.Name)
}

// Revocation is what Revoke did.
type Revocation struct {
	// Record is the certificate the reference named: for a client's
	// name, its current one.
	Record *Record
	// Revoked lists every certificate this revocation changed: Record
	// (if it was not revoked already), then, for a client's name, every
	// other unexpired certificate the client held (its renewals' lineage),
	// then, for keyCompromise, every unexpired certificate with the same
	// public key, whatever its name.
	Revoked []*Record
	// Already says nothing changed: every one was revoked before.
	Already bool
	// Unrevokable lists the roots that hold the compromised key: no CRL
	// can list them (they leave by leaving the truststore).
	Unrevokable []*Record
}

// Revoke marks certificates revoked: the record and its files stay, with
// the time and reason, and each issuer's next CRL lists them. A client
// named by serial, or a CA, is that one certificate. A client named by
// name is every unexpired certificate it ever held: the current one and
// the ones its renewals superseded, which a stolen device may still hold.
// With keyCompromise, every unexpired certificate that carries the same
// public key is revoked too, wherever it is in the inventory (a key
// reused by renew --reuse-key or by a second CSR). Revoking twice changes
// nothing and says so.
func (s *Store) Revoke(kind Kind, ref string, reason Reason) (*Revocation, error) {
	if _, ok := reasonCodes[reason]; !ok {
		return nil, fmt.Errorf("unknown revocation reason %q: use one of %s", reason, strings.Join(Reasons(), ", "))
	}
	rec, err := s.Find(kind, ref)
	if err != nil {
		return nil, err
	}
	if rec.Kind == KindRoot {
		return nil, ErrRootRevoke
	}
	_, bySerial := ReadsAsSerial(ref)
	byName := kind == KindClient && !bySerial
	targets, roots, err := s.revocationTargets(rec, byName, reason)
	if err != nil {
		return nil, err
	}
	named, changed, err := s.backend().revoke(rec, targets, reason, byName)
	if err != nil {
		return nil, err
	}
	return &Revocation{Record: named, Revoked: changed, Already: len(changed) == 0, Unrevokable: roots}, nil
}

// RevokeRecord is r revoked at now for reason, and whether that changes it: a
// certificate revoked before keeps its time and reason, except that
// keyCompromise overrides a milder reason; one a renewal superseded is
// revoked from now, or from when it was retired if that came first.
func RevokeRecord(r *Record, reason Reason, now time.Time) (*Record, bool) {
	if r.Status == StatusRevoked && (r.RevocationReason == reason || reason != ReasonKeyCompromise) {
		return r, false
	}
	out := *r
	at := now
	if r.RevokedAt != nil && r.RevokedAt.Before(now) {
		at = *r.RevokedAt
	}
	out.Status, out.RevokedAt, out.RevocationReason = StatusRevoked, &at, reason
	return &out, true
}

// revocationTargets is rec, then with byName the other unexpired
// certificates of its name, then with keyCompromise every other
// unexpired certificate with its public key; and the roots that hold
// that key.
func (s *Store) revocationTargets(rec *Record, byName bool, reason Reason) (targets, roots []*Record, err error) {
	targets = []*Record{rec}
	if !byName && reason != ReasonKeyCompromise {
		return targets, nil, nil
	}
	now := s.Now()
	candidates, err := s.List(func(r *Record) bool {
		return r.Serial != rec.Serial && now.Before(r.NotAfter) && (r.Kind == KindClient || reason == ReasonKeyCompromise)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list the certificates %s %q holds: %w", rec.Kind.Noun(), rec.Name, err)
	}
	var sameKey []*Record
	for _, r := range candidates {
		switch {
		case byName && r.Kind == rec.Kind && r.Name == rec.Name:
			targets = append(targets, r)
		case reason == ReasonKeyCompromise && r.KeyType == rec.KeyType:
			sameKey = append(sameKey, r)
		}
	}
	if reason != ReasonKeyCompromise {
		return targets, nil, nil
	}
	// Every lineage record shares the key with --reuse-key; the others
	// are checked by their certificates' public keys.
	cert, err := s.Certificate(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("read the certificate of %s %q to find the others with its key: %w", rec.Kind.Noun(), rec.Name, err)
	}
	matches, err := s.withKey(cert.RawSubjectPublicKeyInfo, sameKey)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range matches {
		if r.Kind == KindRoot {
			roots = append(roots, r)
		} else {
			targets = append(targets, r)
		}
	}
	return targets, roots, nil
}

// withKey is the records among recs whose certificate carries the public
// key spki, read on several goroutines (a shared store's are objects).
func (s *Store) withKey(spki []byte, recs []*Record) ([]*Record, error) {
	match := make([]bool, len(recs))
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, r := range recs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := s.Certificate(r)
			if err != nil {
				errs[i] = fmt.Errorf("read the certificate of %s %q (serial %s) to compare its key: %w", r.Kind.Noun(), r.Name, r.Serial, err)
				return
			}
			match[i] = bytes.Equal(c.RawSubjectPublicKeyInfo, spki)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// A certificate that cannot be read could carry the key: no
		// partial answer.
		return nil, err
	}
	var out []*Record
	for i, r := range recs {
		if match[i] {
			out = append(out, r)
		}
	}
	return out, nil
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

// Find looks a certificate up by reference: a CA by name; a client by
// serial when the reference reads as one (ReadsAsSerial), else by name. A serial never falls back to a name:
// since names that read as serials are refused (CheckClientName), a
// reference means one certificate only, and a decoy named with another
// client's serial cannot stand in for it.
func (s *Store) Find(kind Kind, ref string) (*Record, error) {
	if kind.IsCA() {
		return s.Lookup(kind, ref)
	}
	serial, ok := ReadsAsSerial(ref)
	if !ok {
		return s.Lookup(kind, ref)
	}
	r, err := s.LookupSerial(serial)
	if err != nil {
		return nil, err
	}
	if r == nil || r.Kind != kind {
		nf := &NotFoundError{Kind: kind, Name: serial, Serial: true}
		if named, _ := s.byName(kind, ref); named != nil {
			// Named before such names were refused: reachable by its
			// own serial, never by a name that could be another's.
			nf.NamedSerial = named.Serial
		}
		return nil, nf
	}
	return r, nil
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

// RevokedBy lists what a local CA's next CRL lists: the certificates it
// issued that are revoked, and those superseded by a renewal whose retire
// time (RevokedAt) has come. A shared store's CRL lists the same, decided
// by sharedRevocations.
func (s *Store) RevokedBy(ca *Record) ([]*Record, error) { return s.backend().revokedBy(ca) }

// listedBy reports whether CA ca's CRL signed at now lists r.
func listedBy(r, ca *Record, now time.Time) bool {
	return r.IssuerSerial == ca.Serial && r.Serial != ca.Serial && Retired(r, now)
}

// retiredIn is listedBy over a shared store's listing: a renewal there
// marks the old record before it records the new one (sharedstore's
// Renew), and until the new one is there the device has only the old
// certificate, so a superseded record counts only once its successor is
// recorded.
func retiredIn(all []*Record, ca *Record, now time.Time) []*Record {
	recorded := make(map[string]bool, len(all))
	for _, r := range all {
		recorded[r.Serial] = true
	}
	return slices.DeleteFunc(all, func(r *Record) bool {
		return !listedBy(r, ca, now) || (r.Status == StatusSuperseded && !recorded[r.SupersededBy])
	})
}

// Retired reports whether a CRL signed at t must list r: revoked, or
// superseded with its retire time come.
func Retired(r *Record, t time.Time) bool {
	switch r.Status {
	case StatusRevoked:
		return true
	case StatusSuperseded:
		return r.RevokedAt != nil && !r.RevokedAt.After(t)
	}
	return false
}

// ErrorKind says what kind of failure it is (errkind).
func (*RevokedError) ErrorKind() errkind.Kind { return errkind.Refused }
