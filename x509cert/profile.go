package x509cert

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/internal/textsafe"
)

// MaxCALevels is the deepest CA hierarchy API Gateway accepts: a root and up
// to three intermediates. A client issued by a fifth level is refused
// (docs/apigateway-rules.md#truststore).
const MaxCALevels = 4

// MaxDays is the longest validity apimtls issues, a hundred years:
// longer than any CA needs, and far from where time arithmetic and
// X.509's year 9999 end.
const MaxDays = 36500

// backdate moves NotBefore into the past so that a verifier whose clock runs
// slightly behind ours does not see a certificate from the future.
const backdate = time.Minute

// ErrTooDeep is returned when a new CA would exceed MaxCALevels or its
// parent's pathLen constraint.
var ErrTooDeep = errkind.New(errkind.Invalid, "CA hierarchy too deep")

// ErrOutlivesIssuer is returned when a requested validity ends after the
// issuer's.
var ErrOutlivesIssuer = errkind.New(errkind.Invalid, "certificate would outlive its issuer")

// Issuer is a CA that signs: its certificate, its key and its level in the
// hierarchy (1 for a root). Its certificates and CRLs are signed through
// one seam (Signs, signer.go).
type Issuer struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Level int
	// Signer, when set, signs instead of Key: a CA that returns whole
	// certificates rather than signatures (AWS Private CA).
	Signer CASigner
}

// CARequest describes a CA certificate to create.
type CARequest struct {
	CommonName   string
	Organization string
	Key          crypto.Signer
	NotAfter     time.Time
	// MaxPathLen is the pathLen constraint; a negative value takes the
	// largest that API Gateway's four levels allow below this CA.
	MaxPathLen int
	// ClampNotAfter shortens a NotAfter past the issuer's instead of
	// refusing it; set when the validity is a default, not the user's.
	ClampNotAfter bool
}

// ClientRequest describes a client certificate to create.
type ClientRequest struct {
	Subject       pkix.Name
	PublicKey     crypto.PublicKey
	DNSNames      []string
	URIs          []*url.URL
	Emails        []string
	IPs           []net.IP
	NotAfter      time.Time
	ClampNotAfter bool
	// RawSubject, when set, is the subject exactly as a CSR encoded it,
	// multi-valued RDNs included; it is used while Subject's attributes
	// are the ones parsed from it (SetSubjectAttr clears it).
	RawSubject []byte
}

// SetSubjectAttr sets one attribute of a subject taken from a CSR,
// replacing any the CSR had with the same type.
func (r *ClientRequest) SetSubjectAttr(oid asn1.ObjectIdentifier, value string) {
	r.RawSubject = nil
	names := r.Subject.ExtraNames[:0:0]
	for _, atv := range r.Subject.ExtraNames {
		if !atv.Type.Equal(oid) {
			names = append(names, atv)
		}
	}
	r.Subject.ExtraNames = append(names, pkix.AttributeTypeAndValue{Type: oid, Value: value})
}

// NewSerial returns 128 random bits as a positive serial number, as RFC 5280
// §4.1.2.2 and the CA/Browser Forum's unpredictability rule ask.
func NewSerial(rand io.Reader) (*big.Int, error) {
	buf := make([]byte, 16)
	for {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("read random serial: %w", err)
		}
		n := new(big.Int).SetBytes(buf)
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID follows RFC 7093 §2 method 1: the leftmost 160 bits of the
// SHA-256 of the subjectPublicKey BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}

// PathLen returns a CA certificate's pathLen constraint, or -1 when it has
// none.
func PathLen(c *x509.Certificate) int {
	if c.MaxPathLen > 0 || (c.MaxPathLen == 0 && c.MaxPathLenZero) {
		return c.MaxPathLen
	}
	return -1
}

// CreateRoot makes a self-signed root CA certificate.
func CreateRoot(rand io.Reader, now time.Time, req CARequest) (*x509.Certificate, error) {
	maxPath := MaxCALevels - 1
	if req.MaxPathLen > maxPath {
		return nil, fmt.Errorf("%w: pathLen %d allows more than API Gateway's %d CA levels; the largest useful value is %d", ErrTooDeep, req.MaxPathLen, MaxCALevels, maxPath)
	}
	if req.MaxPathLen >= 0 {
		maxPath = req.MaxPathLen
	}
	kt, err := KeyTypeOf(req.Key.Public())
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(rand, now, req, maxPath)
	if err != nil {
		return nil, err
	}
	// RFC 5280 lets a self-signed certificate omit the authority key
	// identifier; docs/pki.md promises one on every certificate, and a root's
	// is its own subject key identifier.
	tmpl.AuthorityKeyId = tmpl.SubjectKeyId
	tmpl.SignatureAlgorithm = signatureAlgorithm(kt)
	return KeySigner{req.Key}.SignCertificate(rand, tmpl, tmpl, req.Key.Public())
}

// CreateIntermediate makes a CA certificate signed by parent. It refuses a
// CA below level MaxCALevels and one that breaks the parent's pathLen.
func CreateIntermediate(rand io.Reader, now time.Time, parent Issuer, req CARequest) (*x509.Certificate, error) {
	level := parent.Level + 1
	if level > MaxCALevels {
		return nil, fmt.Errorf("%w: a CA under %q would be level %d, and API Gateway accepts at most %d CA levels", ErrTooDeep, parent.Cert.Subject.CommonName, level, MaxCALevels)
	}
	allowed := MaxCALevels - level
	if pl := PathLen(parent.Cert); pl >= 0 {
		if pl == 0 {
			return nil, fmt.Errorf("%w: %q has pathLen 0 and may issue only client certificates", ErrTooDeep, parent.Cert.Subject.CommonName)
		}
		allowed = min(allowed, pl-1)
	}
	maxPath := allowed
	if req.MaxPathLen > allowed {
		return nil, fmt.Errorf("%w: pathLen %d is more than the %d allowed under %q", ErrTooDeep, req.MaxPathLen, allowed, parent.Cert.Subject.CommonName)
	}
	if req.MaxPathLen >= 0 {
		maxPath = req.MaxPathLen
	}
	if _, err := KeyTypeOf(req.Key.Public()); err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(rand, now, req, maxPath)
	if err != nil {
		return nil, err
	}
	if err := fitValidity(tmpl, parent.Cert, req.ClampNotAfter); err != nil {
		return nil, err
	}
	return signBy(rand, tmpl, parent, req.Key.Public())
}

func caTemplate(rand io.Reader, now time.Time, req CARequest, maxPath int) (*x509.Certificate, error) {
	if strings.TrimSpace(req.CommonName) == "" {
		return nil, errors.New("a CA needs a common name")
	}
	if err := checkNotAfter(now, req.NotAfter); err != nil {
		return nil, err
	}
	serial, err := NewSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(req.Key.Public())
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: req.CommonName}
	if req.Organization != "" {
		subject.Organization = []string{req.Organization}
	}
	if err := CheckSubject(subject); err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-backdate).UTC(),
		NotAfter:     req.NotAfter.UTC(),
		// A CA signs certificates and CRLs and nothing else (RFC 5280
		// §4.2.1.3); no extKeyUsage, since one that left out clientAuth
		// would make strict verifiers reject every client below it.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPath,
		MaxPathLenZero:        maxPath == 0,
		SubjectKeyId:          ski,
	}, nil
}

// ubCommonName is RFC 5280's upper bound on a common name (ub-common-name,
// Appendix A.1), in characters; ub-organization-name is the same.
const ubCommonName = 64

// CheckSubject refuses a subject apimtls will not sign: a common name or
// organization past RFC 5280's 64 characters, or any attribute holding a
// control or formatting character, which no name needs and which would
// reach terminals and logs from every tool that shows the certificate.
func CheckSubject(n pkix.Name) error {
	for _, f := range []struct {
		what string
		v    []string
	}{{"common name", []string{n.CommonName}}, {"organization", n.Organization}} {
		for _, v := range f.v {
			if c := utf8.RuneCountInString(v); c > ubCommonName {
				return fmt.Errorf("the %s is %d characters, more than the %d RFC 5280 allows", f.what, c, ubCommonName)
			}
		}
	}
	values := [][]string{{n.CommonName, n.SerialNumber}, n.Organization, n.OrganizationalUnit, n.Country, n.Province, n.Locality, n.StreetAddress, n.PostalCode}
	for _, atv := range append(slices.Clone(n.Names), n.ExtraNames...) {
		if s, ok := atv.Value.(string); ok {
			values = append(values, []string{s})
		}
	}
	for _, vs := range values {
		for _, v := range vs {
			if textsafe.HasControl(v) {
				return fmt.Errorf("the subject holds a control or formatting character (%s): refused, since it would reach terminals and logs", textsafe.Escape(v))
			}
		}
	}
	return nil
}

// CreateClient makes a client certificate signed by issuer.
func CreateClient(rand io.Reader, now time.Time, issuer Issuer, req ClientRequest) (*x509.Certificate, error) {
	if _, err := KeyTypeOf(req.PublicKey); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Subject.CommonName) == "" {
		return nil, errors.New("a client certificate needs a common name")
	}
	if err := CheckSubject(req.Subject); err != nil {
		return nil, err
	}
	if err := checkNotAfter(now, req.NotAfter); err != nil {
		return nil, err
	}
	if err := CheckSANs(req.DNSNames, req.Emails, req.URIs); err != nil {
		return nil, err
	}
	serial, err := NewSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := req.PublicKey.(*rsa.PublicKey); ok {
		// TLS 1.2 RSA key exchange encrypts with the key, so RSA clients
		// keep keyEncipherment (RFC 5280 §4.2.1.3); ECDSA ones only sign.
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              req.NotAfter.UTC(),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, // an explicit CA:FALSE
		IsCA:                  false,
		SubjectKeyId:          ski,
		DNSNames:              req.DNSNames,
		EmailAddresses:        req.Emails,
		URIs:                  req.URIs,
		IPAddresses:           req.IPs,
		RawSubject:            req.RawSubject,
	}
	if err := fitValidity(tmpl, issuer.Cert, req.ClampNotAfter); err != nil {
		return nil, err
	}
	return signBy(rand, tmpl, issuer, req.PublicKey)
}

// checkNotAfter refuses an end that is not after now or further than
// MaxDays away: what a wrapped or mistyped duration produces.
func checkNotAfter(now, notAfter time.Time) error {
	if !notAfter.After(now) || notAfter.After(now.AddDate(0, 0, MaxDays+1)) {
		return fmt.Errorf("validity ending %s is out of range: it must end after now and within %d days", notAfter.UTC().Format(time.DateOnly), MaxDays)
	}
	return nil
}

// fitValidity keeps tmpl inside the issuer's validity: nothing outlives
// its issuer, and nothing starts before it.
func fitValidity(tmpl, issuer *x509.Certificate, clamp bool) error {
	if tmpl.NotBefore.Before(issuer.NotBefore) {
		tmpl.NotBefore = issuer.NotBefore
	}
	if tmpl.NotAfter.After(issuer.NotAfter) {
		if !clamp {
			return fmt.Errorf("%w: requested end %s is after %q ends on %s",
				ErrOutlivesIssuer, tmpl.NotAfter.Format(time.DateOnly), issuer.Subject.CommonName, issuer.NotAfter.UTC().Format(time.DateOnly))
		}
		tmpl.NotAfter = issuer.NotAfter
	}
	if !tmpl.NotAfter.After(tmpl.NotBefore) {
		return fmt.Errorf("%w: %q has expired or ends before the new certificate would start", ErrOutlivesIssuer, issuer.Subject.CommonName)
	}
	return nil
}

func signBy(rand io.Reader, tmpl *x509.Certificate, issuer Issuer, pub crypto.PublicKey) (*x509.Certificate, error) {
	signer := issuer.Signs()
	kt, err := KeyTypeOf(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	tmpl.SignatureAlgorithm = signatureAlgorithm(kt)
	tmpl.AuthorityKeyId = issuer.Cert.SubjectKeyId
	return signer.SignCertificate(rand, tmpl, issuer.Cert, pub)
}

// CheckSANs refuses DNS names, email addresses and URIs that cannot be
// subject alternative names of a client certificate.
func CheckSANs(dns, emails []string, uris []*url.URL) error {
	for _, d := range dns {
		if !validDNSName(d) {
			return fmt.Errorf("invalid DNS name %q: use letters, digits, hyphens and dots, no wildcard", d)
		}
	}
	for _, e := range emails {
		addr, err := mail.ParseAddress(e)
		if err != nil || addr.Address != e {
			return fmt.Errorf("invalid email address %q: give a bare address such as ops@example.com", e)
		}
	}
	for _, u := range uris {
		if u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			return fmt.Errorf("invalid URI %q: give an absolute URI such as spiffe://example.org/device/1", u.String())
		}
	}
	return nil
}

// ParseURIs parses SAN URIs given on the command line.
func ParseURIs(raw []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(raw))
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			return nil, fmt.Errorf("invalid URI %q: give an absolute URI such as spiffe://example.org/device/1", r)
		}
		out = append(out, u)
	}
	return out, nil
}

func validDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// CreateServer makes a TLS server certificate for the local gateway:
// serverAuth only, for the given DNS names and IP addresses.
func CreateServer(rand io.Reader, now time.Time, issuer Issuer, pub crypto.PublicKey, dns []string, ips []net.IP, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := NewSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	cn := "localhost"
	if len(dns) > 0 {
		cn = dns[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	if err := fitValidity(tmpl, issuer.Cert, true); err != nil {
		return nil, err
	}
	return signBy(rand, tmpl, issuer, pub)
}
