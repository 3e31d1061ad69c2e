package sharedstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/pki"
)

// Renew records rec as the renewal of old, in four writes:
//
//  1. old's record is marked superseded by rec, revoked from retire on
//     (If-Match): the uniqueness point of a renewal, so two operators
//     renewing one client cannot both succeed; a CRL lists old only once
//     rec's record exists (pki's RevokedBy), so a renewal that stops here
//     leaves the device its certificate;
//  2. rec's certificate and 3. its record are created (the commit point);
//  4. the name's claim moves to rec's serial (If-Match).
//
// A crash after 1 leaves old superseded by a serial with no record: the
// client is still old, and once StaleAfter has passed the next renewal
// takes it over. A crash after 3 leaves the name on old, which Get
// follows to rec.
func (s *Store) Renew(ctx context.Context, old, rec *pki.Record, certPEM []byte, retire time.Time) error {
	if err := checkCreate(rec, certPEM); err != nil {
		return err
	}
	if rec.Renews != old.Serial || rec.Name != old.Name || rec.Kind != old.Kind {
		return fmt.Errorf("%s %q: the renewal does not name serial %s as the one it renews", rec.Kind.Noun(), rec.Name, old.Serial)
	}
	start := wallNow()
	if err := s.supersede(ctx, old, rec.Serial, retire); err != nil {
		return err
	}
	s.hook("superseded")
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := s.createOrSame(ctx, s.certKey(rec.Serial), certPEM, "application/x-pem-file"); err != nil {
		return err
	}
	s.hook("cert")
	// The lease, as for a create: past half of StaleAfter another renewal
	// may take this one's mark over, so this one stops short of its
	// commit point.
	if wallNow().Sub(start) > s.staleAfter()/2 {
		return fmt.Errorf("renewing %s %q took longer than its lease (%s): retry once it is stale", rec.Kind.Noun(), rec.Name, s.staleAfter()/2)
	}
	if err := s.createOrSame(ctx, s.recordKey(rec.Serial), recJSON, "application/json"); err != nil {
		return err
	}
	s.hook("record")
	// A revocation of old that landed while this renewal was under way
	// could not see the new certificate: it applies to it too (fail
	// closed). pki's revoke by name checks the other way round, after its
	// own write, so one of the two always sees the other.
	if cur, err := s.GetSerial(ctx, old.Serial); err != nil {
		return fmt.Errorf("renewed %s %q (serial %s), but could not check whether %s was revoked meanwhile: %w; check it with client show", rec.Kind.Noun(), rec.Name, rec.Serial, old.Serial, err)
	} else if cur.Status == pki.StatusRevoked {
		if _, _, err := s.Revoke(ctx, rec.Serial, cur.RevocationReason); err != nil {
			return fmt.Errorf("%s %q was revoked while being renewed, and revoking its new certificate %s failed: %w; revoke it: client revoke %s", rec.Kind.Noun(), rec.Name, rec.Serial, err, rec.Serial)
		}
		s.note(fmt.Sprintf("%s %q was revoked (%s) while being renewed: its new certificate %s is revoked too", rec.Kind.Noun(), rec.Name, cur.RevocationReason, rec.Serial))
	}
	// Committed: a name that could not be moved lags one step, which
	// reading it follows; the renewal stands.
	if err := s.moveName(ctx, rec); err != nil {
		s.note(fmt.Sprintf("%s %q: renewed (serial %s), but its name still points at serial %s (%v); reading the name follows the renewal", rec.Kind.Noun(), rec.Name, rec.Serial, old.Serial, err))
	}
	return nil
}

// supersede marks old's record superseded by serial, unless someone else
// renewed it first.
func (s *Store) supersede(ctx context.Context, old *pki.Record, serial string, retire time.Time) error {
	_, _, err := s.update(ctx, old.Serial, func(r *pki.Record) (bool, error) {
		switch {
		case r.Status == pki.StatusRevoked:
			return false, fmt.Errorf("%s %q (serial %s) was revoked meanwhile", r.Kind.Noun(), r.Name, r.Serial)
		case r.Status != pki.StatusSuperseded:
		case r.SupersededBy == serial:
			return false, nil // a re-run of this renewal
		default:
			if next, err := s.GetSerial(ctx, r.SupersededBy); err == nil && next != nil {
				return false, fmt.Errorf("%s %q was renewed meanwhile by another process (serial %s): %w", r.Kind.Noun(), r.Name, r.SupersededBy, ErrRenewedMeanwhile)
			} else if !errors.Is(err, ErrNotFound) {
				return false, err
			}
			// A renewal that stopped after step 1: taken over only once
			// stale, as a name claim is. The record's last write is when
			// it was marked.
			o, err := s.get(ctx, s.recordKey(r.Serial))
			if err != nil || o == nil {
				return false, err
			}
			age := s.now().Sub(o.modified)
			if age < s.staleAfter() {
				return false, &PendingError{Kind: r.Kind, Name: r.Name, Serial: r.SupersededBy, ClaimedAt: o.modified}
			}
			s.note(fmt.Sprintf("%s %q: took over a renewal to serial %s interrupted %s ago (it has no record)", r.Kind.Noun(), r.Name, r.SupersededBy, age.Round(time.Second)))
		}
		*r = *pki.Superseded(r, serial, retire)
		return true, nil
	})
	return err
}

// ErrRenewedMeanwhile is a renewal that lost to another one.
var ErrRenewedMeanwhile = errkind.New(errkind.Conflict, "renewed meanwhile")

// moveName points rec's name at rec, from the record it renews or any
// older one of the same chain.
func (s *Store) moveName(ctx context.Context, rec *pki.Record) error {
	key := s.nameKey(rec.Kind, rec.Name)
	body, _ := json.Marshal(nameClaim{Serial: rec.Serial, ClaimedAt: s.now().UTC()})
	for attempt := 1; ; attempt++ {
		cur, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		var c nameClaim
		if cur != nil {
			if err := json.Unmarshal(cur.data, &c); err != nil {
				return s.damaged(key, err.Error())
			}
		}
		if c.Serial == rec.Serial {
			return nil
		}
		held, err := s.GetSerial(ctx, c.Serial)
		if err != nil {
			return fmt.Errorf("move the name %q to serial %s: %w", rec.Name, rec.Serial, err)
		}
		if held.Status != pki.StatusSuperseded && held.SupersededBy != rec.Serial {
			return fmt.Errorf("move the name %q to serial %s: it names serial %s, which is %s", rec.Name, rec.Serial, held.Serial, held.Status)
		}
		etag := ""
		if cur != nil {
			etag = cur.etag
		}
		s.hook("update:" + key)
		err = s.put(ctx, key, body, etag, "application/json")
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPrecondition) {
			return err
		}
		if attempt >= s.retries() {
			return &ConflictError{Key: key, Attempts: attempt}
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// current follows a superseded record to the newest renewal that has a
// record: the name's claim moves last, so it may lag one step behind.
func (s *Store) current(ctx context.Context, r *pki.Record) (*pki.Record, error) {
	for range pki.MaxRenewalChain {
		if r.Status != pki.StatusSuperseded || r.SupersededBy == "" {
			return r, nil
		}
		next, err := s.GetSerial(ctx, r.SupersededBy)
		if errors.Is(err, ErrNotFound) {
			return r, nil // a renewal in progress or interrupted
		}
		if err != nil {
			return nil, err
		}
		r = next
	}
	return r, nil
}

// CAs returns the record of every CA, through the names/ca/ claims.
func (s *Store) CAs(ctx context.Context) ([]*pki.Record, error) {
	var names []string
	err := s.keys(ctx, "names/ca/", func(key, _ string, _ time.Time) error {
		names = append(names, strings.TrimPrefix(key, s.Prefix+"names/ca/"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*pki.Record
	var damaged []pki.DamagedRecord
	for _, n := range names {
		r, err := s.Get(ctx, pki.KindRoot, n)
		var nf *pki.NotFoundError
		var pending *PendingError
		var de *DamagedError
		switch {
		case errors.As(err, &nf), errors.As(err, &pending):
			continue // released, or still being made
		case errors.As(err, &de):
			damaged = append(damaged, pki.DamagedRecord{URI: de.URI, Reason: de.Reason})
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, r)
	}
	out, bad := s.verifyCAs(ctx, out)
	damaged = append(damaged, bad...)
	pki.SortRecords(out)
	if len(damaged) > 0 {
		return out, &pki.DamagedRecordsError{Records: damaged}
	}
	return out, nil
}

// Abandon gives back the claim of name for serial, left by an issuance
// whose process is known to be dead (its staged files' lock is free, and
// pki waited pki.RecoverySettle for its last requests) and whose record
// was never written: the name is free at once instead of after
// StaleAfter.
func (s *Store) Abandon(ctx context.Context, kind pki.Kind, name, serial string) error {
	key := s.nameKey(kind, name)
	o, err := s.get(ctx, key)
	if err != nil || o == nil {
		return err
	}
	var c nameClaim
	if json.Unmarshal(o.data, &c) != nil || c.Serial != serial {
		return nil // not that claim (any more)
	}
	if _, err := s.GetSerial(ctx, serial); !errors.Is(err, ErrNotFound) {
		return err // committed after all (nil), or unknown
	}
	body, _ := json.Marshal(nameClaim{ClaimedAt: s.now().UTC()})
	if err := s.put(ctx, key, body, o.etag, "application/json"); err != nil && !errors.Is(err, errPrecondition) {
		return err
	}
	return nil
}

// Remote is s seen by pki.OpenShared, every call under ctx.
func (s *Store) Remote(ctx context.Context) pki.Remote { return remote{s, ctx} }

type remote struct {
	s   *Store
	ctx context.Context
}

func (r remote) URI() string { return r.s.URI() }

func (r remote) Create(rec *pki.Record, certPEM []byte) error {
	_, err := r.s.Create(r.ctx, rec, certPEM)
	return err
}

func (r remote) Renew(old, rec *pki.Record, certPEM []byte, retire time.Time) error {
	return r.s.Renew(r.ctx, old, rec, certPEM, retire)
}

func (r remote) Get(kind pki.Kind, name string) (*pki.Record, error) {
	return r.s.Get(r.ctx, kind, name)
}

func (r remote) GetSerial(serial string) (*pki.Record, error) {
	rec, err := r.s.GetSerial(r.ctx, serial)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

func (r remote) CAs() ([]*pki.Record, error)  { return r.s.CAs(r.ctx) }
func (r remote) List() ([]*pki.Record, error) { return r.s.ListVerified(r.ctx) }
func (r remote) CertificatePEM(serial string) ([]byte, error) {
	return r.s.Certificate(r.ctx, serial)
}

func (r remote) Revoke(serial string, reason pki.Reason) (*pki.Record, bool, error) {
	return r.s.Revoke(r.ctx, serial, reason)
}

func (r remote) PutCRL(caSerial string, number uint64, der []byte) error {
	return r.s.PutCRL(r.ctx, caSerial, number, der)
}

func (r remote) PreviousCRL(caSerial string, below uint64) ([]byte, uint64, error) {
	return r.s.PreviousCRL(r.ctx, caSerial, below)
}

func (r remote) Abandon(kind pki.Kind, name, serial string) error {
	return r.s.Abandon(r.ctx, kind, name, serial)
}

func (r remote) NextCRLNumber(caSerial string) (uint64, error) {
	return r.s.NextCRLNumber(r.ctx, caSerial)
}
