package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path"
)

// Records come from the shared store, which whoever may write to it can
// write anything into. apimtls derives every local path from a record's
// kind, name and serial, so a record is accepted only when its folder and
// files are exactly those: a record naming another folder (a CA's, or one
// outside the PKI directory) would otherwise have a CA key read, exported
// or moved as if it were a client's. Certificates read from the store are
// checked against their issuer's signature before any local key is paired
// with them (Store.Certificate).

// checkedRemote refuses records whose paths are not the ones apimtls
// derives: such a record is damaged.
type checkedRemote struct{ Remote }

// sharedRecordDir is the folder apimtls keeps a record's files in.
func sharedRecordDir(r *Record) string {
	switch {
	case r.Kind.IsCA():
		return path.Join(caDir, r.Name)
	case r.SupersededBy != "":
		return path.Join(supersededDir, r.Name, r.Serial)
	}
	return path.Join(clientsDir, r.Name)
}

// checkSharedRecord says what is wrong with a record from the store, or
// nil.
func checkSharedRecord(r *Record) error {
	if err := CheckName(r.Name); err != nil {
		return err
	}
	if s, ok := NormalizeSerial(r.Serial); !ok || s != r.Serial {
		return fmt.Errorf("serial %q", r.Serial)
	}
	switch r.Kind {
	case KindRoot, KindIntermediate, KindClient:
	default:
		return fmt.Errorf("kind %q", r.Kind)
	}
	dir := sharedRecordDir(r)
	if r.Dir != dir {
		return fmt.Errorf("folder %q where apimtls keeps it in %q", r.Dir, dir)
	}
	for _, f := range r.Files {
		switch base := path.Base(f); {
		case path.Dir(f) != dir:
			return fmt.Errorf("file %q outside %q", f, dir)
		case base == keyFile, base == certFile, base == chainFile, base == kmsFile, base == r.Name+".p12":
		default:
			return fmt.Errorf("file %q", f)
		}
	}
	return nil
}

func (c checkedRemote) damaged(r *Record, why error) error {
	return &DamagedRecordsError{URIs: []string{c.where(r, why)}}
}

// where names a damaged record's object and what is wrong with it.
func (c checkedRemote) where(r *Record, why error) string {
	return fmt.Sprintf("%srecords/%s.json (%v)", c.URI(), r.Serial, why)
}

func (c checkedRemote) Get(kind Kind, name string) (*Record, error) {
	r, err := c.Remote.Get(kind, name)
	if err == nil {
		if why := checkSharedRecord(r); why != nil {
			return nil, c.damaged(r, why)
		}
	}
	return r, err
}

func (c checkedRemote) GetSerial(serial string) (*Record, error) {
	r, err := c.Remote.GetSerial(serial)
	if err == nil && r != nil {
		if why := checkSharedRecord(r); why != nil {
			return nil, c.damaged(r, why)
		}
	}
	return r, err
}

func (c checkedRemote) List() ([]*Record, error) { return c.keep(c.Remote.List()) }
func (c checkedRemote) CAs() ([]*Record, error)  { return c.keep(c.Remote.CAs()) }

// keep drops the records that fail the check, adding them to the damaged
// ones the store reported.
func (c checkedRemote) keep(recs []*Record, err error) ([]*Record, error) {
	var de *DamagedRecordsError
	if err != nil && !errors.As(err, &de) {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if why := checkSharedRecord(r); why != nil {
			if de == nil {
				de = &DamagedRecordsError{}
			}
			de.URIs = append(de.URIs, c.where(r, why))
			continue
		}
		out = append(out, r)
	}
	if de != nil {
		return out, de
	}
	return out, nil
}

// verifyShared checks that c, read from the shared store for rec, is
// signed by the certificate of the issuer rec names (a root by itself),
// up the chain: whoever may write to the store cannot make apimtls pair a
// local key with a certificate no CA of the store signed.
func (s *Store) verifyShared(rec *Record, c *x509.Certificate, depth int) error {
	s.certMu.Lock()
	done := s.verified[rec.Serial]
	s.certMu.Unlock()
	if done {
		return nil
	}
	if depth > MaxCALevels+1 {
		return errors.New("its issuers go round in a circle")
	}
	var parent *x509.Certificate
	if rec.IssuerSerial == "" {
		if !rec.Kind.IsCA() {
			return errors.New("a client certificate recorded with no issuer")
		}
		parent = c
	} else {
		ir, err := s.remote.GetSerial(rec.IssuerSerial)
		if err != nil {
			return err
		}
		if ir == nil || !ir.Kind.IsCA() {
			return fmt.Errorf("its issuer %s is not a CA of the store", rec.IssuerSerial)
		}
		data, err := s.sharedCertificate(ir)
		if err != nil {
			return err
		}
		if parent, err = DecodeCertificate(data); err != nil || SerialHex(parent) != ir.Serial {
			return fmt.Errorf("the certificate of its issuer %s is damaged", ir.Serial)
		}
		if err := s.verifyShared(ir, parent, depth+1); err != nil {
			return err
		}
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return fmt.Errorf("not signed by the CA its record names: %w", err)
	}
	s.certMu.Lock()
	if s.verified == nil {
		s.verified = map[string]bool{}
	}
	s.verified[rec.Serial] = true
	s.certMu.Unlock()
	return nil
}
