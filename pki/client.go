package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/apimtls/apimtls/x509cert"
)

// P12Options asks for a PKCS #12 file beside the PEM files.
type P12Options struct {
	Password []byte
	// Legacy uses PBE-SHA1-3DES and a SHA-1 MAC, which old Java and macOS
	// keychains need; otherwise AES-256-CBC with PBKDF2 and a SHA-256 MAC.
	Legacy bool
}

// ClientParams describes a client certificate to issue.
type ClientParams struct {
	Name string
	// CA names the issuer; empty means the only CA that can issue.
	CA           string
	CommonName   string // default: Name
	Organization string
	KeyType      x509cert.KeyType
	Days         int // 0: DefaultClientDays, shortened to the issuer's end
	DNSNames     []string
	URIs         []*url.URL
	Emails       []string
	P12          *P12Options
	CAPassphrase x509cert.PassphraseFunc
	// CSR, when set, supplies the key and subject: the device keeps its
	// private key and no key.pem is written.
	CSR *x509cert.CheckedCSR

	// key and subject, set by renewal, keep a client's key (--reuse-key)
	// and its subject exactly as the old certificate encoded it.
	key     crypto.Signer
	subject *x509.Certificate
}

// IssueClient creates a client certificate: its key (unless signing a CSR),
// cert.pem, chain.pem, an optional PKCS #12 file, and the inventory record.
func (s *Store) IssueClient(p ClientParams) (*Issued, error) {
	if err := CheckClientName(p.Name); err != nil {
		return nil, err
	}
	if existing, _ := s.Lookup(KindClient, p.Name); existing != nil {
		return nil, &ExistsError{Kind: KindClient, Name: p.Name}
	}
	if exists(filepath.Join(s.Dir, clientsDir, p.Name)) {
		return nil, fmt.Errorf("%w (the directory %s exists but is not in the inventory; move it away)", &ExistsError{Kind: KindClient, Name: p.Name}, filepath.Join(s.Dir, clientsDir, p.Name))
	}
	ic, err := s.clientIssuer(p)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := s.buildClient(ic, p, s.Now())
		if err != nil {
			return nil, err
		}
		err = s.backend().commit(pc.issued.Record, pc.files)
		if errors.Is(err, errSerialInUse) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return pc.issued, nil
	}
}

// clientCA is an issuing CA ready to sign clients: opened once, shared
// by every certificate of a bulk run.
type clientCA struct {
	issuer x509cert.Issuer
	rec    *Record
	chain  []*x509.Certificate
	// compromised maps the SHA-256 of each public key revoked for
	// keyCompromise to that certificate's serial: such a key, from a CSR
	// or reused by a renewal, is never certified again.
	compromised map[string]string
}

// ErrCompromisedKey refuses to certify a public key that a revocation for
// keyCompromise took away.
var ErrCompromisedKey = errkind.New(errkind.Refused, "the key was revoked as compromised")

// refuseCompromised refuses pub when a certificate with it was revoked
// for keyCompromise.
func (ic *clientCA) refuseCompromised(pub crypto.PublicKey) error {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if serial, ok := ic.compromised[x509cert.SHA256Hex(spki)]; ok {
		return fmt.Errorf("%w: a certificate with this public key (serial %s) was revoked for keyCompromise; whoever holds the key must not get a certificate again: make a new key", ErrCompromisedKey, serial)
	}
	return nil
}

// compromisedKeys maps the public keys of every certificate revoked for
// keyCompromise (few: read once per command) to a serial that had it.
func (s *Store) compromisedKeys() (map[string]string, error) {
	// The brief listing reads the index only; the few revoked records are
	// decoded for their reason.
	briefs, err := s.ListBrief(func(b *Brief) bool { return b.Status == StatusRevoked || b.Status == StatusSuperseded })
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, b := range briefs {
		r, err := b.Record()
		if err != nil {
			return nil, err
		}
		if r.RevocationReason != ReasonKeyCompromise {
			continue
		}
		c, err := s.Certificate(r)
		if err != nil {
			return nil, fmt.Errorf("read the certificate of %s %q (serial %s), revoked for keyCompromise, to refuse its key: %w", r.Kind.Noun(), r.Name, r.Serial, err)
		}
		out[x509cert.SHA256Hex(c.RawSubjectPublicKeyInfo)] = r.Serial
	}
	return out, nil
}

// clientIssuer opens the CA that p names (or the default one) and checks
// it can issue now.
func (s *Store) clientIssuer(p ClientParams) (*clientCA, error) {
	if p.P12 != nil && p.CSR != nil {
		return nil, errors.New("a PKCS #12 file needs the private key, which a CSR-signed client keeps on the device")
	}
	if p.Days != 0 {
		if err := checkDays(p.Days); err != nil {
			return nil, err
		}
	}
	caName := p.CA
	if caName == "" {
		var err error
		if caName, err = s.DefaultIssuer(); err != nil {
			return nil, err
		}
	}
	issuer, issuerRec, err := s.LoadIssuer(caName, p.CAPassphrase)
	if err != nil {
		return nil, err
	}
	if st := issuerRec.StatusAt(s.Now()); st != StatusActive {
		return nil, fmt.Errorf("CA %q is %s and cannot issue", caName, st)
	}
	chain, err := s.chainOf(issuerRec)
	if err != nil {
		return nil, err
	}
	compromised, err := s.compromisedKeys()
	if err != nil {
		return nil, err
	}
	return &clientCA{issuer: issuer, rec: issuerRec, chain: chain, compromised: compromised}, nil
}

// builtClient is a signed client certificate with its files, not yet
// committed.
type builtClient struct {
	issued *Issued
	files  []stagedFile
}

// buildClient makes the key (unless p has a CSR or a Key), signs the
// certificate and encodes every file: the CPU work of an issuance, safe to
// run on many goroutines at once.
func (s *Store) buildClient(ic *clientCA, p ClientParams, now time.Time) (*builtClient, error) {
	if p.P12 != nil && p.CSR != nil {
		return nil, errors.New("a PKCS #12 file needs the private key, which a CSR-signed client keeps on the device")
	}
	days, clamp := p.Days, p.Days == 0
	if days == 0 {
		days = DefaultClientDays
	} else if err := checkDays(days); err != nil {
		return nil, err
	}
	var (
		key crypto.Signer
		req x509cert.ClientRequest
		err error
	)
	if p.CSR != nil {
		req = x509cert.ClientRequestFromCSR(p.CSR, p.DNSNames, p.Emails, p.URIs)
		if p.CommonName != "" {
			req.Subject.CommonName = p.CommonName
			req.SetSubjectAttr(oidCommonName, p.CommonName)
		}
		if req.Subject.CommonName == "" {
			req.Subject.CommonName = p.Name
			req.SetSubjectAttr(oidCommonName, p.Name)
		}
		if p.Organization != "" {
			req.SetSubjectAttr(oidOrganization, p.Organization)
		}
		if p.subject != nil {
			// A renewal from a new CSR: the key is the CSR's, the subject
			// and SANs the old certificate's.
			req.Subject, req.RawSubject = p.subject.Subject, p.subject.RawSubject
			req.Subject.ExtraNames = slices.Clone(p.subject.Subject.Names)
			req.DNSNames, req.Emails, req.URIs, req.IPs = p.subject.DNSNames, p.subject.EmailAddresses, p.subject.URIs, p.subject.IPAddresses
		}
	} else {
		key = p.key
		if key == nil {
			if key, err = x509cert.GenerateKey(s.Rand, p.KeyType); err != nil {
				return nil, err
			}
		}
		cn := p.CommonName
		if cn == "" {
			cn = p.Name
		}
		req = x509cert.ClientRequest{
			Subject:   pkix.Name{CommonName: cn},
			PublicKey: key.Public(),
			DNSNames:  p.DNSNames,
			URIs:      p.URIs,
			Emails:    p.Emails,
		}
		if p.subject != nil {
			req.Subject, req.RawSubject = p.subject.Subject, p.subject.RawSubject
			req.Subject.ExtraNames = slices.Clone(p.subject.Subject.Names)
		}
	}
	if p.Organization != "" {
		req.Subject.Organization = []string{p.Organization}
	}
	if key == nil || p.key != nil { // a CSR's key, or one a renewal reuses
		if err := ic.refuseCompromised(req.PublicKey); err != nil {
			return nil, err
		}
	}
	req.NotAfter = now.AddDate(0, 0, days)
	req.ClampNotAfter = clamp
	cert, err := x509cert.CreateClient(s.Rand, now, ic.issuer, req)
	if err != nil {
		return nil, err
	}
	rec := newRecord(KindClient, p.Name, cert)
	rec.Issuer, rec.IssuerSerial = ic.rec.Name, ic.rec.Serial
	rec.Dir = filepath.ToSlash(filepath.Join(clientsDir, p.Name))
	rec.FromCSR = p.CSR != nil
	var files []stagedFile
	if key != nil {
		keyPEM, err := x509cert.EncodeKey(key, nil)
		if err != nil {
			return nil, err
		}
		files = append(files, stagedFile{keyFile, keyPEM, keyMode})
	}
	full := append([]*x509.Certificate{cert}, ic.chain...)
	files = append(files, stagedFile{certFile, x509cert.EncodeCertificate(cert.Raw), publicMode},
		stagedFile{chainFile, x509cert.EncodeCertificates(full...), publicMode})
	if p.P12 != nil {
		pfx, err := EncodePKCS12(key, cert, ic.chain, *p.P12)
		if err != nil {
			return nil, err
		}
		files = append(files, stagedFile{p.Name + ".p12", pfx, keyMode})
	}
	issued := &Issued{Record: rec, Cert: cert}
	if clamp && cert.NotAfter.Equal(ic.issuer.Cert.NotAfter) {
		issued.Notes = append(issued.Notes, fmt.Sprintf("validity shortened to end with CA %q on %s", ic.rec.Name, cert.NotAfter.Format(time.DateOnly)))
	}
	if p.CSR != nil {
		for _, ext := range p.CSR.Ignored {
			issued.Notes = append(issued.Notes, "ignored the CSR's requested "+ext+": the client profile sets it")
		}
		for _, d := range p.CSR.Dropped {
			issued.Notes = append(issued.Notes, "dropped "+d)
		}
		if req.RawSubject == nil && subjectMultiValued(p.CSR.CSR.RawSubject) {
			issued.Notes = append(issued.Notes, "the CSR's multi-valued RDNs became one attribute per RDN, since --cn, --org or --name changed the subject")
		}
	}
	return &builtClient{issued: issued, files: files}, nil
}

// EncodePKCS12 bundles a client key, its certificate and its chain.
func EncodePKCS12(key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, opts P12Options) ([]byte, error) {
	if len(opts.Password) == 0 {
		return nil, errors.New("a PKCS #12 file needs a password")
	}
	enc := pkcs12.Modern2023
	if opts.Legacy {
		enc = pkcs12.LegacyDES
	}
	pfx, err := enc.Encode(key, cert, chain, string(opts.Password))
	if err != nil {
		return nil, fmt.Errorf("encode PKCS #12: %w", err)
	}
	return pfx, nil
}

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// subjectMultiValued reports whether a DER subject has an RDN with more
// than one attribute.
func subjectMultiValued(raw []byte) bool {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		return false
	}
	for _, rdn := range rdns {
		if len(rdn) > 1 {
			return true
		}
	}
	return false
}
