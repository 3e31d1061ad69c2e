package pki

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// TruststoreFile is where truststore build writes by default.
const TruststoreFile = "truststore.pem"

// BuiltTruststore is a bundle ready to write, with its validation report.
type BuiltTruststore struct {
	PEM    []byte
	Report *x509cert.TruststoreReport
	Notes  []string
	// Warnings name every revoked CA of the inventory the bundle holds
	// (chosen by name, above a chosen CA, or added): API Gateway accepts
	// its clients, and only the authorizer's CRL check refuses them.
	Warnings []string
}

// BuildTruststore bundles the named CAs (all valid CAs when names is empty)
// with every CA above them, plus extra outside CA certificates, each once.
// The order is deterministic, deepest CAs first and roots last, so that
// diffs of the file mean something.
func (s *Store) BuildTruststore(names []string, extra []*x509.Certificate, opts x509cert.ValidateOptions) (*BuiltTruststore, error) {
	now := s.Now()
	var notes []string
	var chosen []*Record
	if len(names) == 0 {
		cas, err := s.CAs()
		if err != nil {
			return nil, err
		}
		for _, r := range cas {
			if st := r.StatusAt(now); st != StatusActive {
				notes = append(notes, fmt.Sprintf("left out CA %q: %s", r.Name, st))
				continue
			}
			chosen = append(chosen, r)
		}
	} else {
		for _, n := range names {
			r, err := s.Lookup(KindRoot, n)
			if err != nil {
				return nil, err
			}
			chosen = append(chosen, r)
		}
	}
	if len(chosen) == 0 && len(extra) == 0 {
		return nil, &AmbiguousIssuerError{}
	}
	var certs []*x509.Certificate
	seen := map[string]bool{}
	add := func(c *x509.Certificate) {
		if fp := x509cert.Fingerprint(c); !seen[fp] {
			seen[fp] = true
			certs = append(certs, c)
		}
	}
	for _, r := range chosen {
		path, err := s.ancestry(r)
		if err != nil {
			return nil, err
		}
		for _, c := range path {
			add(c)
		}
	}
	for _, c := range extra {
		add(c)
	}
	if opts.Now.IsZero() {
		opts.Now = now
	}
	opts.VerifySignatures = true // a bundle of our own is small; check it all
	first := x509cert.ValidateTruststore(x509cert.EncodeCertificates(certs...), opts)
	entries := first.Entries
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.Level != b.Level {
			return a.Level > b.Level
		}
		if a.Ref.Subject != b.Ref.Subject {
			return a.Ref.Subject < b.Ref.Subject
		}
		return a.Ref.SHA256 < b.Ref.SHA256
	})
	ordered := make([]*x509.Certificate, len(entries))
	for i, e := range entries {
		ordered[i] = e.Cert
	}
	data := x509cert.EncodeCertificates(ordered...)
	warnings, err := s.revokedCAsIn(seen)
	if err != nil {
		return nil, err
	}
	return &BuiltTruststore{PEM: data, Report: x509cert.ValidateTruststore(data, opts), Notes: notes, Warnings: warnings}, nil
}

// revokedCAsIn names the revoked CAs of the inventory whose certificate is
// among the fingerprints.
func (s *Store) revokedCAsIn(fingerprints map[string]bool) ([]string, error) {
	cas, err := s.CAs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range cas {
		if r.Status != StatusRevoked || !fingerprints[r.SHA256] {
			continue
		}
		when := ""
		if r.RevokedAt != nil {
			when = " on " + r.RevokedAt.UTC().Format(time.DateOnly)
		}
		out = append(out, fmt.Sprintf("includes CA %q, revoked%s: API Gateway accepts the clients under it; only the apimtls authorizer's CRL check refuses them (leave it out: build without --ca naming it or a CA below it)", r.Name, when))
	}
	return out, nil
}

// WriteTruststore replaces path atomically with the bundle.
func WriteTruststore(path string, data []byte) error {
	return WriteFileAtomic(path, data, publicMode)
}
