package sharedstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// ListVerified is List with every record checked against its certificate
// and the store's CAs (pki.VerifyListed): a record planted by whoever may
// write to the bucket, whose folder is not apimtls's or whose certificate
// no CA of the store signed, is left out and reported with the damaged
// objects, never listed as valid. The Cache remembers each record checked
// under the ETags of the record, its certificate and its issuers' records
// and certificates, so a listing verifies only what changed since.
func (s *Store) ListVerified(ctx context.Context) ([]*pki.Record, error) {
	recs, etags, err := s.list(ctx)
	var de *pki.DamagedRecordsError
	if err != nil && !errors.As(err, &de) {
		return nil, err
	}
	certETags := map[string]string{}
	if err := s.keys(ctx, "certs/", func(key, etag string, _ time.Time) error {
		if serial, ok := strings.CutSuffix(strings.TrimPrefix(key, s.Prefix+"certs/"), ".pem"); ok {
			certETags[serial] = etag
		}
		return nil
	}); err != nil {
		return nil, err
	}
	bySerial := map[string]*pki.Record{}
	for _, r := range recs {
		bySerial[r.Serial] = r
	}
	// stamp is what a record's check depends on: the ETags of its record
	// and certificate, and its issuer's stamp; "" when one is unknown.
	stamps := map[string]string{}
	var stamp func(r *pki.Record, depth int) string
	stamp = func(r *pki.Record, depth int) string {
		if st, ok := stamps[r.Serial]; ok {
			return st
		}
		st := ""
		if e, c := etags[r.Serial], certETags[r.Serial]; e != "" && c != "" && depth <= x509cert.MaxCALevels+1 {
			st = e + "|" + c
			if r.IssuerSerial != "" {
				if issuer := bySerial[r.IssuerSerial]; issuer == nil {
					st = ""
				} else if up := stamp(issuer, depth+1); up == "" {
					st = ""
				} else {
					st += "|" + up
				}
			}
		}
		stamps[r.Serial] = st
		return st
	}
	trusted := func(serial string) bool {
		r := bySerial[serial]
		st := stamp(r, 0)
		return st != "" && s.Cache.verifiedAs(serial) == st
	}
	need := map[string]bool{}
	for _, r := range recs {
		if !trusted(r.Serial) {
			need[r.Serial] = true
			if r.IssuerSerial != "" {
				need[r.IssuerSerial] = true
			}
		}
	}
	certs := s.readCerts(ctx, need, certETags)
	bad := pki.VerifyListed(recs, trusted, func(serial string) ([]byte, error) {
		c := certs[serial]
		return c.data, c.err
	})
	out := recs[:0]
	for _, r := range recs {
		why, isBad := bad[r.Serial]
		if !isBad {
			s.Cache.verified(r.Serial, stamp(r, 0))
			out = append(out, r)
			continue
		}
		if de == nil {
			de = &pki.DamagedRecordsError{}
		}
		de.Records = append(de.Records, pki.DamagedRecord{URI: "s3://" + s.Bucket + "/" + s.recordKey(r.Serial), Serial: r.Serial,
			Reason: why.Error(), CertMissing: errors.Is(why, pki.ErrCertMissing)})
	}
	if de != nil {
		slices.SortFunc(de.Records, func(a, b pki.DamagedRecord) int { return strings.Compare(a.URI, b.URI) })
		return out, de
	}
	return out, nil
}

type certRead struct {
	data []byte
	err  error
}

// readCerts GETs the certificates of the serials needed that the listing
// of certs/ holds, up to Parallel at once; each bounded as every read is.
func (s *Store) readCerts(ctx context.Context, need map[string]bool, listed map[string]string) map[string]certRead {
	out := map[string]certRead{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := s.Parallel
	if workers <= 0 {
		workers = DefaultParallel
	}
	sem := make(chan struct{}, workers)
	for serial := range need {
		if _, ok := listed[serial]; !ok {
			continue // missing: nil data, no error
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o, err := s.get(ctx, s.certKey(serial))
			var r certRead
			if err != nil {
				r.err = err
			} else if o != nil {
				r.data = o.data
			}
			mu.Lock()
			out[serial] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// verifyCAs checks the CA records read through their names, as
// ListVerified checks a listing; there are few, so no cache.
func (s *Store) verifyCAs(ctx context.Context, cas []*pki.Record) ([]*pki.Record, []pki.DamagedRecord) {
	need := map[string]bool{}
	listed := map[string]string{}
	for _, r := range cas {
		need[r.Serial], listed[r.Serial] = true, "?"
	}
	certs := s.readCerts(ctx, need, listed)
	bad := pki.VerifyListed(cas, func(string) bool { return false }, func(serial string) ([]byte, error) {
		c := certs[serial]
		return c.data, c.err
	})
	var damaged []pki.DamagedRecord
	out := cas[:0]
	for _, r := range cas {
		if why, isBad := bad[r.Serial]; isBad {
			damaged = append(damaged, pki.DamagedRecord{URI: "s3://" + s.Bucket + "/" + s.recordKey(r.Serial), Serial: r.Serial, Reason: why.Error(), CertMissing: errors.Is(why, pki.ErrCertMissing)})
			continue
		}
		out = append(out, r)
	}
	return out, damaged
}
