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
	// "damaged-record" (an object under records/ that is not a record
	// apimtls wrote, or whose record does not hold together with its
	// certificate and the store's CAs: a folder outside apimtls's, a
	// certificate no CA of the store signed, an object too large to
	// read), and "damaged-claim" (the same under names/); restore its
	// last good version.
	Kind   string    `json:"kind"`
	Key    string    `json:"key"`
	Serial string    `json:"serial,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Stale  bool      `json:"stale,omitempty"`
}

// Report is what Check found.
type Report struct {
	Records  int       `json:"records"`
	Findings []Finding `json:"findings"`
}

// Check lists the store as every command does (ListVerified) and reports
// claims without records, certificates without records, records without
// certificates and records that do not hold.
func (s *Store) Check(ctx context.Context) (*Report, error) {
	recs, err := s.ListVerified(ctx)
	var damaged *pki.DamagedRecordsError
	if err != nil && !errors.As(err, &damaged) {
		return nil, err
	}
	rep := &Report{Records: len(recs), Findings: []Finding{}}
	serials := map[string]bool{}
	if damaged != nil {
		for _, d := range damaged.Records {
			f := Finding{Kind: "damaged-record", Key: strings.TrimPrefix(d.URI, "s3://"+s.Bucket+"/"), Serial: d.Serial, Reason: d.Reason}
			if d.CertMissing {
				f.Kind, f.Reason = "missing-cert", ""
			}
			rep.Findings = append(rep.Findings, f)
			serials[d.Serial] = true // its certificate is not an orphan
		}
	}
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
		var de *DamagedError
		if errors.As(err, &de) {
			rep.Findings = append(rep.Findings, Finding{Kind: "damaged-claim", Key: key, Reason: de.Reason})
			continue
		}
		if err != nil {
			return nil, err
		}
		var c nameClaim
		if o == nil {
			continue
		}
		if json.Unmarshal(o.data, &c) != nil {
			rep.Findings = append(rep.Findings, Finding{Kind: "damaged-claim", Key: key, Reason: "not a name claim", Since: o.modified})
			continue
		}
		if c.Serial == "" || serials[c.Serial] {
			continue // released, or committed since we listed
		}
		rep.Findings = append(rep.Findings, Finding{Kind: "pending-claim", Key: key, Serial: c.Serial, Since: o.modified, Stale: s.now().Sub(o.modified) >= s.staleAfter()})
	}
	return rep, nil
}
