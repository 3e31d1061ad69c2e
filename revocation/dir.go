package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// LoadCRLDir reads the CRLs under dir (for serve --crl-dir): every *.crl
// file (DER or PEM) and every *.pem file that holds an X509 CRL, at any
// depth, so the PKI directory itself can be given. Each is matched to the
// truststore CA whose name and key identifier it carries; its signature is
// left to Decide, so a badly signed file is refused per request with
// crl_bad_signature, exactly as the authorizer would. Of two CRLs for one
// CA and scope the one with the higher CRL number wins (CRLSet). A CRL
// that does not parse is an error naming the file; one whose CA is not in
// the truststore (a CA revoked or rotated out, whose CRL ca crl keeps
// signing) is passed over: no client of that CA is accepted anyway.
func LoadCRLDir(dir string, ts *Truststore) (CRLSet, error) {
	set := CRLSet{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(path))
		if d.IsDir() || (ext != ".crl" && ext != ".pem") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ders := [][]byte{data}
		if ext == ".pem" {
			// Every CRL of a PEM file, whatever else it holds: the bundle
			// of CA certificates and CRLs openssl verify -CAfile reads.
			ders = nil
			for rest := data; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				if b.Type == "X509 CRL" {
					ders = append(ders, b.Bytes)
				}
			}
		}
		for i, der := range ders {
			crl, err := ParseCRL(der)
			if err != nil {
				if len(ders) > 1 {
					return fmt.Errorf("%s, CRL %d: %w", path, i+1, err)
				}
				return fmt.Errorf("%s: %w", path, err)
			}
			if ca := ts.caFor(crl); ca != nil {
				set.Add(ca, crl)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load CRLs: %w", err)
	}
	return set, nil
}

// caFor finds the CA a CRL names: issuer name and authority key identifier.
func (t *Truststore) caFor(crl *CRL) *CA {
	for _, ca := range t.bySubject[string(crl.List.RawIssuer)] {
		if len(crl.List.AuthorityKeyId) == 0 || bytes.Equal(crl.List.AuthorityKeyId, ca.Cert.SubjectKeyId) {
			return ca
		}
	}
	return nil
}

// DirCRLs is a directory of CRLs that follows changes: the set is read
// again when a file under dir is added, removed or rewritten (looked at
// most once a second), so a revocation signed while serve runs takes
// effect without a restart. A directory that does not exist yet is an
// empty set, not an error: ca crl has not written it, every CA is without
// a CRL (crl_missing) until it does, and its CRLs count from the next look
// after it appears. A directory that no longer loads fails closed: every
// lookup returns its error until it loads again.
type DirCRLs struct {
	Dir        string
	Truststore *Truststore
	// Now is the clock of the once-a-second look (default time.Now).
	Now func() time.Time
	// OnLoad, when set, is told of every new reading of the directory
	// (serve logs what changed). It is called with the lock held: it must
	// not call back into d.
	OnLoad func(CRLSet, error)

	mu      sync.Mutex
	set     CRLSet
	err     error
	stamp   string
	checked time.Time
}

// CRL implements CRLSource.
func (d *DirCRLs) CRL(ctx context.Context, ca *CA, cert *x509.Certificate) (*CRL, error) {
	set, err := d.Current()
	if err != nil {
		return nil, &InvalidCRLError{Where: d.Dir, Err: err}
	}
	return set.CRL(ctx, ca, cert)
}

// Current is the set as last read, read again first when the directory
// changed since the last look (at most once a second). The set returned is
// never modified.
func (d *DirCRLs) Current() (CRLSet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if t := now(); d.set == nil && d.err == nil || t.Sub(d.checked) >= time.Second {
		d.checked = t
		if stamp := dirStamp(d.Dir); stamp != d.stamp || (d.set == nil && d.err == nil) {
			d.stamp = stamp
			if _, err := os.Stat(d.Dir); errors.Is(err, fs.ErrNotExist) {
				d.set, d.err = CRLSet{}, nil
			} else {
				d.set, d.err = LoadCRLDir(d.Dir, d.Truststore)
			}
			if d.OnLoad != nil {
				d.OnLoad(d.set, d.err)
			}
		}
	}
	return d.set, d.err
}

// dirStamp names every file under dir with its size and time.
func dirStamp(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
