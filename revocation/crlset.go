package revocation

import (
	"context"
	"crypto/x509"
)

// CRLSet is a CRLSource over several CRLs per CA, keyed by CA KeyID: a
// directory may hold a CA's complete CRL beside partitions of it, or CRLs
// for its CA and its user certificates apart. For a certificate it gives
// the CRL whose scope covers it, the highest-numbered of those.
type CRLSet map[string][]*CRL

// Add puts crl in the set as one of ca's, replacing a CRL of the same scope
// unless that one is newer.
func (s CRLSet) Add(ca *CA, crl *CRL) {
	list := s[ca.KeyID]
	for i, old := range list {
		if old.scopeID == crl.scopeID {
			if older(old, crl) {
				list[i] = crl
			}
			return
		}
	}
	s[ca.KeyID] = append(list, crl)
}

// CRL implements CRLSource: the highest-numbered CRL of ca that covers
// cert or, when none does, one that does not, for the Checker to say so.
func (s CRLSet) CRL(_ context.Context, ca *CA, cert *x509.Certificate) (*CRL, error) {
	list := s[ca.KeyID]
	if len(list) == 0 {
		return nil, ErrNoCRL
	}
	var best *CRL
	for _, c := range list {
		if c.Covers(cert) && (best == nil || older(best, c)) {
			best = c
		}
	}
	if best == nil {
		return list[0], nil
	}
	return best, nil
}
