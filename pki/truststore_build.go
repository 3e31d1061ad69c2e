package pki

import (
	"crypto/x509"
	"fmt"
	"sort"
)

// TruststoreFile is where truststore build writes by default.
const TruststoreFile = "truststore.pem"

// BuiltTruststore is a bundle ready to write, with its validation report.
type BuiltTruststore struct {
	PEM    []byte
	Report *TruststoreReport
	Notes  []string
}

// BuildTruststore bundles the named CAs (all valid CAs when names is empty)
// with every CA above them, plus extra outside CA certificates, each once.
// The order is deterministic, deepest CAs first and roots last, so that
// diffs of the file mean something.
func (s *Store) BuildTruststore(names []string, extra []*x509.Certificate, opts ValidateOptions) (*BuiltTruststore, error) {
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
		if fp := Fingerprint(c); !seen[fp] {
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
	first := ValidateTruststore(EncodeCertificates(certs...), opts)
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
	data := EncodeCertificates(ordered...)
	return &BuiltTruststore{PEM: data, Report: ValidateTruststore(data, opts), Notes: notes}, nil
}

// WriteTruststore replaces path atomically with the bundle.
func WriteTruststore(path string, data []byte) error {
	return WriteFileAtomic(path, data, publicMode)
}
