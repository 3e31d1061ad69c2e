package revocation

import (
	"context"
	"crypto/x509"
)

// CRLSet is a CRLSource over several CRLs per CA, keyed by CA KeyID: a
// directory may hold a CA's complete CRL beside partitions of it, or CRLs
// for its CA and its user certificates apart. CRL numbers of different
// scopes are unrelated (RFC 5280 §5.2.3), so for a certificate a CRL that
// verifies, covers it and lists it wins over any other (a revocation is
// never lifted); else the highest-numbered CRL that covers it.
type CRLSet map[string][]*CRL

// Add puts crl in the set as one of ca's, replacing a CRL of the same scope
// unless that one is newer. A CRL that verifies against the CA always
// replaces one that does not, whatever the numbers: an unsigned file with
// a high number must not push the CA's own CRL out.
func (s CRLSet) Add(ca *CA, crl *CRL) {
	list := s[ca.KeyID]
	good := crl.verifiedBy(ca.Cert) == nil
	for i, old := range list {
		if old.scopeID != crl.scopeID {
			continue
		}
		oldGood := old.verifiedBy(ca.Cert) == nil
		if good && !oldGood || good == oldGood && older(old, crl) {
			list[i] = crl
		}
		return
	}
	s[ca.KeyID] = append(list, crl)
}

// CRL implements CRLSource: of ca's CRLs that cover cert, one that
// verifies and lists it, else the highest-numbered; when none covers it,
// one that does not, for the Checker to say so.
func (s CRLSet) CRL(_ context.Context, ca *CA, cert *x509.Certificate) (*CRL, error) {
	list := s[ca.KeyID]
	if len(list) == 0 {
		return nil, ErrNoCRL
	}
	var best *CRL
	for _, c := range list {
		if !c.Covers(cert) {
			continue
		}
		if c.Contains(cert.SerialNumber) && c.verifiedBy(ca.Cert) == nil {
			return c, nil
		}
		if best == nil || older(best, c) {
			best = c
		}
	}
	if best == nil {
		return list[0], nil
	}
	return best, nil
}
