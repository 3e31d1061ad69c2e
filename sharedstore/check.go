package sharedstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/apimtls/apimtls/pki"
)

// Finding is one thing Check found that a finished issuance never leaves.
type Finding struct {
	// Kind: "pending-claim" (a name claimed, no record: an issuance in
	// progress, or interrupted; taken over once stale), "orphan-cert" (a
	// certificate no record lists: an issuance interrupted or refused
	// after writing it; harmless, never listed), "missing-cert" (a record
	// whose certificate is gone: damage, never left by apimtls),
	// "damaged-record" and "damaged-claim" (an object under records/ or
	// names/ that is not what apimtls writes there: written by hand or
	// by something else; restore its last good version).
	Kind   string    `json:"kind"`
	Key    string    `json:"key"`
	Serial string    `json:"serial,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Stale  bool      `json:"stale,omitempty"`
}

// Report is what Check found.
type Report struct {
	Records  int       `json:"records"`
	Findings []Finding `json:"findings"`
}

// Check lists the store and reports claims without records, certificates
// without records and records without certificates.
func (s *Store) Check(ctx context.Context) (*Report, error) {
	recs, err := s.List(ctx)
	var damaged *pki.DamagedRecordsError
	if err != nil && !errors.As(err, &damaged) {
		return nil, err
	}
	rep := &Report{Records: len(recs), Findings: []Finding{}}
	if damaged != nil {
		for _, uri := range damaged.URIs {
			rep.Findings = append(rep.Findings, Finding{Kind: "damaged-record", Key: strings.TrimPrefix(uri, "s3://"+s.Bucket+"/")})
		}
	}
	serials := map[string]bool{}
	names := map[string]bool{}
	for _, r := range recs {
		serials[r.Serial] = true
		names[s.nameKey(r.Kind, r.Name)] = true
	}
	certs := map[string]time.Time{}
	if err := s.keys(ctx, "certs/", func(key, _ string, mod time.Time) error {
		if serial, ok := strings.CutSuffix(strings.TrimPrefix(key, s.Prefix+"certs/"), ".pem"); ok {
			certs[serial] = mod
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for serial, mod := range certs {
		if !serials[serial] {
			rep.Findings = append(rep.Findings, Finding{Kind: "orphan-cert", Key: s.certKey(serial), Serial: serial, Since: mod})
		}
	}
	for _, r := range recs {
		if _, ok := certs[r.Serial]; !ok {
			rep.Findings = append(rep.Findings, Finding{Kind: "missing-cert", Key: s.recordKey(r.Serial), Serial: r.Serial})
		}
	}
	var claims []string
	if err := s.keys(ctx, "names/", func(key, _ string, _ time.Time) error {
		if !names[key] {
			claims = append(claims, key)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, key := range claims {
		o, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		var c nameClaim
		if o == nil {
			continue
		}
		if json.Unmarshal(o.data, &c) != nil {
			rep.Findings = append(rep.Findings, Finding{Kind: "damaged-claim", Key: key, Since: o.modified})
			continue
		}
		if c.Serial == "" || serials[c.Serial] {
			continue // released, or committed since we listed
		}
		rep.Findings = append(rep.Findings, Finding{Kind: "pending-claim", Key: key, Serial: c.Serial, Since: o.modified, Stale: s.now().Sub(o.modified) >= s.staleAfter()})
	}
	return rep, nil
}
