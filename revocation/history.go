package revocation

import (
	"crypto/x509"
	"sync"
	"sync/atomic"
)

// CRLHistory remembers, per CA and CRL scope, the highest-numbered CRL
// that verified against the CA while it was current, so that a checker
// never goes back to an older list: a stale `crl push`, or an old object
// version or file put back, would otherwise un-revoke every certificate
// revoked since. A lower number than one seen is a rollback
// (crl_rollback); the same number again is fine. Keep one for as long as
// the process lives (the Lambda execution environment, serve) and give it
// to every Checker.
//
// CRLs without a CRL number (RFC 5280 requires one) are ordered by
// thisUpdate instead. It is safe for concurrent use.
type CRLHistory struct {
	mu   sync.Mutex
	best map[historyKey]*historyEntry
}

type historyKey struct {
	keyID string // the CA's KeyID
	scope string // CRL.scopeID: issuer name and issuing distribution point
}

type historyEntry struct {
	owner *CRLHistory
	crl   atomic.Pointer[CRL] // the newest seen
}

// observe records crl, already verified as ca's, and returns the newer CRL
// of the same CA and scope seen before when crl is older than it. The
// common case, the CRL seen last time, takes two atomic loads and no lock.
func (h *CRLHistory) observe(ca *CA, crl *CRL) (newer *CRL) {
	if e := crl.seen.Load(); e != nil && e.owner == h && e.crl.Load() == crl {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := historyKey{ca.KeyID, crl.scopeID}
	e := h.best[k]
	if e == nil {
		// Bounded like the other caches: past it the history starts
		// over, which forgets numbers rather than refusing new CAs.
		if h.best == nil || len(h.best) >= maxCached {
			h.best = map[historyKey]*historyEntry{}
		}
		e = &historyEntry{owner: h}
		h.best[k] = e
	}
	if cur := e.crl.Load(); cur != nil && cur != crl && older(crl, cur) {
		return cur
	}
	e.crl.Store(crl)
	crl.seen.Store(e)
	return nil
}

// older reports whether a precedes b (Compare), whatever their scopes.
func older(a, b *CRL) bool {
	n, _ := a.Compare(b)
	return n < 0
}

// Compare orders two CRLs: -1 when c is older than o, 0 when they are of
// the same age, +1 when c is newer. CRL numbers decide, or thisUpdate when
// either has none. comparable is false when they are of different issuers
// or scopes, whose numbers are unrelated (RFC 5280 §5.2.3).
func (c *CRL) Compare(o *CRL) (order int, comparable bool) {
	comparable = c.scopeID == o.scopeID
	if c.List.Number != nil && o.List.Number != nil {
		return c.List.Number.Cmp(o.List.Number), comparable
	}
	return c.ThisUpdate().Compare(o.ThisUpdate()), comparable
}

// listing returns a CRL of ca seen before (verified, current when seen,
// of a scope that covers cert) that lists cert, and its entry: soft-fail
// may let a CRL problem pass, but never a revocation already known.
func (h *CRLHistory) listing(ca *CA, cert *x509.Certificate) (*CRL, Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, e := range h.best {
		if k.keyID != ca.KeyID {
			continue
		}
		if crl := e.crl.Load(); crl != nil && crl.Covers(cert) {
			if entry, ok := crl.Lookup(cert.SerialNumber); ok {
				return crl, entry, true
			}
		}
	}
	return nil, Entry{}, false
}
