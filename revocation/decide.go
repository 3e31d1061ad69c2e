package revocation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"
)

// ErrNoCRL is what a CRLSource returns when it has no CRL for a CA.
var ErrNoCRL = errkind.New(errkind.NotFound, "no CRL for this CA")

// InvalidCRLError is what a CRLSource returns when the CRL it found does
// not parse: the reason is crl_invalid, not crl_missing.
type InvalidCRLError struct {
	Where string // the object or file
	Err   error
}

func (e *InvalidCRLError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *InvalidCRLError) Unwrap() error { return e.Err }

// CRLSource gives the current CRL of a CA for one certificate it issued:
// from a directory, from S3, or from a map in tests. A source that holds
// several CRLs of the CA (a complete one and partitions) returns one whose
// scope covers cert; with none that does, any of them, which the Checker
// then finds does not cover it (crl_missing). Any other error than ErrNoCRL
// or InvalidCRLError (S3 unreachable, say) is reported as
// revocation_unavailable.
type CRLSource interface {
	CRL(ctx context.Context, ca *CA, cert *x509.Certificate) (*CRL, error)
}

// StaticCRLs is a CRLSource from a fixed set, one CRL per CA KeyID.
type StaticCRLs map[string]*CRL

// CRL implements CRLSource.
func (s StaticCRLs) CRL(_ context.Context, ca *CA, _ *x509.Certificate) (*CRL, error) {
	if c, ok := s[ca.KeyID]; ok {
		return c, nil
	}
	return nil, ErrNoCRL
}

// Options change how a Checker decides.
type Options struct {
	// SoftFail allows a certificate whose revocation status cannot be
	// learnt (CRL missing, expired, invalid or badly signed; responder
	// down). Never a revoked one. The decision still records why.
	SoftFail bool
	// External, when set, checks certificates whose CA has no published
	// CRL through their own CRL distribution points or OCSP responder.
	External *External
	// ClockSkew tolerated on a CRL's thisUpdate. Zero means 5 minutes.
	ClockSkew time.Duration
}

// Checker decides on client certificates.
type Checker struct {
	Truststore *Truststore
	CRLs       CRLSource
	// History keeps the highest CRL number seen per CA and scope, so that
	// an older CRL served again is refused (crl_rollback). Give the same
	// one to every Checker of a process; nil keeps none.
	History *CRLHistory
	Options
}

// Decision is the outcome for one certificate.
type Decision struct {
	Allow  bool
	Reason Reason
	// Detail says, for people and logs, which CA or CRL and what was wrong.
	Detail string
	// SoftFailed lists the problems that soft-fail let pass.
	SoftFailed []Reason
	Cert       *x509.Certificate
	Issuer     *CA
	// Revocation is the CRL entry of a revoked certificate.
	Revocation *Entry
}

func deny(d Decision, r Reason, detail string) Decision {
	d.Allow, d.Reason, d.Detail = false, r, detail
	return d
}

// Decide checks cert at now. It never panics on a certificate that
// crypto/x509 parsed and never allows on doubt unless soft-fail says so.
func (c *Checker) Decide(ctx context.Context, cert *x509.Certificate, now time.Time) Decision {
	d := Decision{Cert: cert}
	if cert == nil {
		return deny(d, NoClientCert, "the request carried no client certificate")
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return deny(d, CertExpired, "the certificate is valid from "+cert.NotBefore.UTC().Format(time.RFC3339)+" to "+cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.Truststore == nil || len(c.Truststore.CAs) == 0 {
		return deny(d, EmptyTruststore, ErrEmptyTruststore.Error())
	}
	d.Issuer = c.Truststore.IssuerOf(cert)
	if d.Issuer == nil {
		return deny(d, UnknownIssuer, "no CA in the truststore issued and signed the certificate")
	}
	// Every link up to the root: an intermediate revoked in its parent's
	// CRL takes all its certificates with it.
	link, issuer := cert, d.Issuer
	for {
		r, detail, entry := c.checkLink(ctx, link, issuer, now)
		if r != OK && link != cert {
			// The serial in the detail is the CA's, not the client's.
			detail = fmt.Sprintf("the CA above the certificate, %q: %s", link.Subject.String(), detail)
		}
		if r != OK {
			if !c.SoftFail || !r.softFailable() {
				d.Revocation = entry
				return deny(d, r, detail)
			}
			if known, e, ok := c.knownRevoked(issuer, link); ok {
				d.Revocation = &e
				return deny(d, Revoked, fmt.Sprintf("serial %s is on %s of CA %s, seen before; now: %s", hex.EncodeToString(link.SerialNumber.Bytes()), known.NumberText(), describeCA(issuer), detail))
			}
			d.SoftFailed = append(d.SoftFailed, r)
			d.Detail = detail
		}
		if issuer.Parent == nil {
			break
		}
		link, issuer = issuer.Cert, issuer.Parent
	}
	d.Allow, d.Reason = true, OK
	return d
}

// knownRevoked is a CRL of ca seen before that lists cert.
func (c *Checker) knownRevoked(ca *CA, cert *x509.Certificate) (*CRL, Entry, bool) {
	if c.History == nil {
		return nil, Entry{}, false
	}
	return c.History.listing(ca, cert)
}

// checkLink checks one certificate against its issuer's CRL.
func (c *Checker) checkLink(ctx context.Context, cert *x509.Certificate, ca *CA, now time.Time) (Reason, string, *Entry) {
	crl, err := c.CRLs.CRL(ctx, ca, cert)
	if err != nil {
		var invalid *InvalidCRLError
		switch {
		case errors.Is(err, ErrNoCRL) && c.External != nil:
			return c.External.check(ctx, c, cert, ca, now)
		case errors.Is(err, ErrNoCRL):
			return CRLMissing, "no CRL for CA " + describeCA(ca), nil
		case errors.As(err, &invalid):
			return CRLInvalid, "CRL of CA " + describeCA(ca) + ": " + err.Error(), nil
		default:
			return RevocationFailed, "CRL of CA " + describeCA(ca) + ": " + err.Error(), nil
		}
	}
	return c.checkCRL(crl, cert, ca, now)
}

// checkCRL looks cert up in crl after checking that ca signed it, that it
// is current, that it is not older than one seen before and that its scope
// covers cert.
func (c *Checker) checkCRL(crl *CRL, cert *x509.Certificate, ca *CA, now time.Time) (Reason, string, *Entry) {
	if err := crl.verifiedBy(ca.Cert); err != nil {
		return CRLBadSignature, "CRL of CA " + describeCA(ca) + ": " + err.Error(), nil
	}
	skew := c.ClockSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	// A CRL out of date is no evidence that a certificate is good, but a
	// verified one that lists it is evidence enough that it is revoked (a
	// revocation is never lifted): soft-fail must not let that one pass.
	if now.After(crl.NextUpdate()) {
		return outOfDate(crl, cert, ca, fmt.Sprintf("CRL of CA %s: nextUpdate %s has passed", describeCA(ca), crl.NextUpdate().UTC().Format(time.RFC3339)))
	}
	if now.Add(skew).Before(crl.ThisUpdate()) {
		return outOfDate(crl, cert, ca, fmt.Sprintf("CRL of CA %s: thisUpdate %s is in the future", describeCA(ca), crl.ThisUpdate().UTC().Format(time.RFC3339)))
	}
	// Only a current CRL is remembered: one signed ahead of time and
	// served early must not make today's CRL look like a rollback.
	if c.History != nil {
		if newer := c.History.observe(ca, crl); newer != nil {
			return c.rolledBack(crl, newer, cert, ca)
		}
	}
	if !crl.Covers(cert) {
		return CRLMissing, fmt.Sprintf("CRL %s of CA %s covers %s, not this certificate (RFC 5280 §5.2.5): no CRL of the CA covers it", crl.NumberText(), describeCA(ca), crl.Scope()), nil
	}
	if r, detail, e := listedIn(crl, cert, ca); r == Revoked {
		return r, detail, e
	}
	return OK, "", nil
}

// listedIn is Revoked when crl, whose scope covers cert, lists it.
func listedIn(crl *CRL, cert *x509.Certificate, ca *CA) (Reason, string, *Entry) {
	e, ok := crl.Lookup(cert.SerialNumber)
	if !ok || !crl.Covers(cert) {
		return OK, "", nil
	}
	return Revoked, fmt.Sprintf("serial %s revoked by CA %s at %s (reason %d)", hex.EncodeToString(cert.SerialNumber.Bytes()), describeCA(ca), e.Time.UTC().Format(time.RFC3339), e.Reason), &e
}

// outOfDate is the decision on a verified CRL outside its dates:
// crl_expired, unless it lists cert.
func outOfDate(crl *CRL, cert *x509.Certificate, ca *CA, detail string) (Reason, string, *Entry) {
	if r, listed, e := listedIn(crl, cert, ca); r == Revoked {
		return r, listed + " (in a CRL out of date: " + detail + ")", e
	}
	return CRLExpired, detail, nil
}

// rolledBack is the decision on a CRL older than one seen: crl_rollback.
// Soft-fail may let that pass, but never a certificate the newer CRL, which
// did verify, lists: that one is revoked.
func (c *Checker) rolledBack(crl, newer *CRL, cert *x509.Certificate, ca *CA) (Reason, string, *Entry) {
	detail := fmt.Sprintf("CRL of CA %s is %s, older than %s seen before: a rolled-back CRL is not used", describeCA(ca), crl.NumberText(), newer.NumberText())
	if c.SoftFail {
		if e, ok := newer.Lookup(cert.SerialNumber); ok {
			return Revoked, fmt.Sprintf("serial %s revoked by CA %s at %s (reason %d) in %s; %s", hex.EncodeToString(cert.SerialNumber.Bytes()), describeCA(ca), e.Time.UTC().Format(time.RFC3339), e.Reason, newer.NumberText(), detail), &e
		}
	}
	return CRLRollback, detail, nil
}

// sigCheck remembers a CRL's signature check against one CA certificate,
// so a warm decision costs a map lookup, not a signature verification.
type sigCheck struct {
	ca  *x509.Certificate
	err error
}

func (c *CRL) verifiedBy(ca *x509.Certificate) error {
	if v := c.sig.Load(); v != nil && v.ca == ca {
		return v.err
	}
	err := c.CheckSignatureFrom(ca)
	c.sig.Store(&sigCheck{ca: ca, err: err})
	return err
}

func describeCA(ca *CA) string {
	return fmt.Sprintf("%q (key %s)", ca.Cert.Subject.String(), ca.KeyID)
}

// Context is what the authorizer passes on to the backend about an
// allowed certificate, and what a deny log line names.
type Context struct {
	Subject           string `json:"subject"`
	Issuer            string `json:"issuer"`
	SerialNumber      string `json:"serialNumber"` // lowercase hex, no separators
	FingerprintSHA256 string `json:"fingerprintSha256"`
	NotAfter          string `json:"notAfter"` // RFC 3339, UTC
}

// Describe fills the context of cert. It formats names and hashes the
// certificate, so it is kept out of Decide's fast path.
func Describe(cert *x509.Certificate) Context {
	if cert == nil {
		return Context{}
	}
	sum := sha256.Sum256(cert.Raw)
	return Context{
		Subject:           cert.Subject.String(),
		Issuer:            cert.Issuer.String(),
		SerialNumber:      hex.EncodeToString(cert.SerialNumber.Bytes()),
		FingerprintSHA256: hex.EncodeToString(sum[:]),
		NotAfter:          cert.NotAfter.UTC().Format(time.RFC3339),
	}
}

// ErrorKind says what kind of failure it is (errkind).
func (*InvalidCRLError) ErrorKind() errkind.Kind { return errkind.Invalid }
