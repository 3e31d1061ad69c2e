package sharedstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Every CRL signed against the shared store is kept, create-only, under
// crls/<CA serial>/<number>.crl, so that the next one can be checked
// against it: a revocation never disappears from a CA's CRLs, whatever
// someone with write access to records/ did to a record.

func (s *Store) crlObjectKey(caSerial string, number uint64) string {
	return fmt.Sprintf("%scrls/%s/%020d.crl", s.Prefix, caSerial, number)
}

// PutCRL keeps a signed CRL (DER) under its number.
func (s *Store) PutCRL(ctx context.Context, caSerial string, number uint64, der []byte) error {
	err := s.createOrSame(ctx, s.crlObjectKey(caSerial, number), der, "application/pkix-crl")
	if err == nil {
		s.hook("crl-kept")
	}
	return err
}

// PreviousCRL returns the kept CRL of the CA with the highest number
// below number, and that number; nil when there is none.
func (s *Store) PreviousCRL(ctx context.Context, caSerial string, below uint64) ([]byte, uint64, error) {
	var best uint64
	found := false
	sub := "crls/" + caSerial + "/"
	err := s.keys(ctx, sub, func(key, _ string, _ time.Time) error {
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(key, s.Prefix+sub), ".crl"), 10, 64)
		if err == nil && n < below && (!found || n > best) {
			best, found = n, true
		}
		return nil
	})
	if err != nil || !found {
		return nil, 0, err
	}
	o, err := s.getBounded(ctx, s.crlObjectKey(caSerial, best), maxKeptCRL)
	if err != nil || o == nil {
		return nil, 0, err
	}
	return o.data, best, nil
}
