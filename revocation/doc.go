// Package revocation decides whether a client certificate may pass: the one
// decision code that the Lambda authorizer and the local gateway (serve)
// share, so that what is tried locally is what runs in AWS.
//
// API Gateway checks the chain and the validity period, never revocation.
// A Checker finds the client's issuing CA in the truststore (name, key
// identifier and signature), then walks the chain up to the root and, for
// every link, looks the certificate's serial up in its issuer's CRL. The
// CRL's signature is checked against that CA and its nextUpdate against the
// clock; any doubt denies (fail closed) unless the operator chose soft-fail.
// A CRL counts for a certificate only when its scope (issuing distribution
// point) covers it, and never when it is older than one a CRLHistory saw
// for that CA and scope.
//
// CRLs are parsed by a streaming DER reader that indexes the revoked serials
// in a map (O(1) lookups); crypto/x509's parser builds a big.Int and an
// extension slice per entry and takes seconds on a CRL of a million entries.
// The CRL's metadata and signature are still checked by crypto/x509.
package revocation

// Reason is a stable code for a decision, written in logs and in the
// authorizer's context; scripts and alarms can match on it.
type Reason string

// The reasons. OK is the only one that allows.
const (
	OK               Reason = "ok"
	NoClientCert     Reason = "no_client_cert"      // the request carried no client certificate
	BadCertificate   Reason = "bad_certificate"     // the client certificate does not parse
	CertExpired      Reason = "certificate_expired" // outside its validity period
	UnknownIssuer    Reason = "unknown_issuer"      // no CA in the truststore issued and signed it
	EmptyTruststore  Reason = "truststore_unavailable"
	Revoked          Reason = "revoked"                // the serial is on its issuer's CRL (or OCSP said revoked)
	CRLMissing       Reason = "crl_missing"            // no CRL for the issuing CA, or none whose scope covers the certificate
	CRLInvalid       Reason = "crl_invalid"            // the CRL does not parse or uses what we cannot honour
	CRLExpired       Reason = "crl_expired"            // the CRL's nextUpdate has passed (or thisUpdate is ahead)
	CRLBadSignature  Reason = "crl_bad_signature"      // not signed by the issuing CA, or names another issuer
	CRLRollback      Reason = "crl_rollback"           // a lower CRL number than one already seen for that CA and scope
	OCSPUnknown      Reason = "ocsp_unknown"           // the OCSP responder does not know the certificate
	RevocationFailed Reason = "revocation_unavailable" // an external CRL or OCSP check could not be made
)

// softFailable reports whether soft-fail may turn this reason into an allow:
// only the cases where the revocation status could not be learnt, never a
// positive answer that the certificate is bad.
func (r Reason) softFailable() bool {
	switch r {
	case CRLMissing, CRLInvalid, CRLExpired, CRLBadSignature, CRLRollback, RevocationFailed:
		return true
	}
	return false
}
