package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// Records come from the shared store, which whoever may write to it can
// write anything into. apimtls derives every local path from a record's
// kind, name and serial, so a record is accepted only when its folder and
// files are exactly those: a record naming another folder (a CA's, or one
// outside the PKI directory) would otherwise have a CA key read, exported
// or moved as if it were a client's. Certificates read from the store are
// checked against their issuer's signature before any local key is paired
// with them (Store.Certificate, sharedBackend.checkCertificate).

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

// CheckSharedRecord says what is wrong with a record from the store, or
// nil: its name, serial, kind, folder and files must be what apimtls
// derives.
func CheckSharedRecord(r *Record) error { return checkSharedRecord(r) }

func checkSharedRecord(r *Record) error {
	if err := CheckName(r.Name); err != nil {
		return err
	}
	if s, ok := x509cert.NormalizeSerial(r.Serial); !ok || s != r.Serial {
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
	return &DamagedRecordsError{Records: []DamagedRecord{c.where(r, why)}}
}

// where names a damaged record's object and what is wrong with it.
func (c checkedRemote) where(r *Record, why error) DamagedRecord {
	return DamagedRecord{URI: fmt.Sprintf("%srecords/%s.json", c.URI(), r.Serial), Serial: r.Serial, Reason: why.Error()}
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
			de.Records = append(de.Records, c.where(r, why))
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
func (b *sharedBackend) verifyShared(rec *Record, c *x509.Certificate, depth int) error {
	b.certMu.Lock()
	done := b.verified[rec.Serial]
	b.certMu.Unlock()
	if done {
		return nil
	}
	if depth > x509cert.MaxCALevels+1 {
		return errors.New("its issuers go round in a circle")
	}
	var parent *x509.Certificate
	if rec.IssuerSerial == "" {
		if !rec.Kind.IsCA() {
			return errors.New("a client certificate recorded with no issuer")
		}
		parent = c
	} else {
		ir, err := b.remote.GetSerial(rec.IssuerSerial)
		if err != nil {
			return err
		}
		if ir == nil || !ir.Kind.IsCA() {
			return fmt.Errorf("its issuer %s is not a CA of the store", rec.IssuerSerial)
		}
		data, err := b.certificate(ir)
		if err != nil {
			return err
		}
		if parent, err = x509cert.DecodeCertificate(data); err != nil || x509cert.SerialHex(parent) != ir.Serial {
			return fmt.Errorf("the certificate of its issuer %s is damaged", ir.Serial)
		}
		if err := b.verifyShared(ir, parent, depth+1); err != nil {
			return err
		}
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return fmt.Errorf("not signed by the CA its record names: %w", err)
	}
	b.certMu.Lock()
	if b.verified == nil {
		b.verified = map[string]bool{}
	}
	b.verified[rec.Serial] = true
	b.certMu.Unlock()
	return nil
}

// ErrCertMissing is a shared record whose certificate object is gone.
var ErrCertMissing = errkind.New(errkind.Invalid, "its certificate is missing from the store")

// VerifyListed checks each record listed from a shared store against its
// certificate and the store's CAs, and returns why each one that fails
// does (by serial). A record holds when its folder and files are the ones
// apimtls derives (CheckSharedRecord), its certificate has its serial,
// SHA-256, validity and kind, and that certificate is signed by the CA
// its record names, itself holding, up to a self-signed root of the
// store. Anyone who may write to the bucket can plant a record; only a
// holder of a CA key can make one that holds.
//
// trusted(serial) says the caller checked that record before and neither
// it, its certificate nor its issuers changed since (a listing cache):
// its own certificate is then not needed. certPEM returns a stored
// certificate, nil when there is none.
func VerifyListed(recs []*Record, trusted func(serial string) bool, certPEM func(serial string) ([]byte, error)) map[string]error {
	v := &listedVerifier{bySerial: map[string]*Record{}, trusted: trusted, certPEM: certPEM,
		certs: map[string]*x509.Certificate{}, done: map[string]error{}}
	for _, r := range recs {
		v.bySerial[r.Serial] = r
	}
	bad := map[string]error{}
	for _, r := range recs {
		if err := v.check(r, 0); err != nil {
			bad[r.Serial] = err
		}
	}
	return bad
}

type listedVerifier struct {
	bySerial map[string]*Record
	trusted  func(string) bool
	certPEM  func(string) ([]byte, error)
	certs    map[string]*x509.Certificate
	done     map[string]error
}

func (v *listedVerifier) check(r *Record, depth int) error {
	if err, ok := v.done[r.Serial]; ok {
		return err
	}
	if depth > x509cert.MaxCALevels+1 {
		return errors.New("its issuers go round in a circle")
	}
	err := v.checkOne(r, depth)
	v.done[r.Serial] = err
	return err
}

func (v *listedVerifier) checkOne(r *Record, depth int) error {
	if err := checkSharedRecord(r); err != nil {
		return err
	}
	self := v.trusted(r.Serial)
	var c *x509.Certificate
	if !self {
		var err error
		if c, err = v.cert(r); err != nil {
			return err
		}
	}
	parent := c
	if r.IssuerSerial == "" {
		if r.Kind != KindRoot {
			return fmt.Errorf("a %s recorded with no issuer", r.Kind.Noun())
		}
	} else {
		issuer := v.bySerial[r.IssuerSerial]
		if issuer == nil || !issuer.Kind.IsCA() {
			return fmt.Errorf("its issuer %s is not a CA of the store", r.IssuerSerial)
		}
		if err := v.check(issuer, depth+1); err != nil {
			return fmt.Errorf("its issuer %s (%s) does not hold: %w", issuer.Serial, issuer.Name, err)
		}
		if self {
			return nil
		}
		var err error
		if parent, err = v.cert(issuer); err != nil {
			return fmt.Errorf("its issuer %s: %w", issuer.Serial, err)
		}
	}
	if self {
		return nil
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return fmt.Errorf("its certificate is not signed by the CA its record names: %w", err)
	}
	return nil
}

// cert reads and checks a record's certificate once.
func (v *listedVerifier) cert(r *Record) (*x509.Certificate, error) {
	if c, ok := v.certs[r.Serial]; ok {
		return c, nil
	}
	data, err := v.certPEM(r.Serial)
	if err != nil {
		return nil, fmt.Errorf("its certificate cannot be read: %w", err)
	}
	if data == nil {
		return nil, ErrCertMissing
	}
	c, err := x509cert.DecodeCertificate(data)
	switch {
	case err != nil:
		return nil, fmt.Errorf("its certificate: %w", err)
	case x509cert.SerialHex(c) != r.Serial || x509cert.Fingerprint(c) != r.SHA256:
		return nil, fmt.Errorf("its certificate has serial %s and SHA-256 %s, where the record says %s and %s", x509cert.SerialHex(c), x509cert.Fingerprint(c), r.Serial, r.SHA256)
	case !c.NotBefore.Equal(r.NotBefore) || !c.NotAfter.Equal(r.NotAfter):
		return nil, fmt.Errorf("its certificate is valid from %s to %s, where the record says %s to %s", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), r.NotBefore.UTC().Format(time.RFC3339), r.NotAfter.UTC().Format(time.RFC3339))
	case c.IsCA != r.Kind.IsCA():
		return nil, fmt.Errorf("its certificate says CA %v, where the record is a %s", c.IsCA, r.Kind.Noun())
	}
	v.certs[r.Serial] = c
	return c, nil
}
