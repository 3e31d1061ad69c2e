package x509cert

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"
)

// The refusals API Gateway gives for a client certificate, in
// its own words where they are known (docs/apigateway-rules.md#what-clients-and-backends-see).
const (
	RefusalNoIssuer        = "Could not find issuer for certificate"
	RefusalInsecureSig     = "Client cert using an insecure Signature Algorithm"
	RefusalSelfSigned      = "self signed certificate"
	RefusalExpired         = "certificate has expired"
	RefusalNotYetValid     = "certificate is not yet valid"
	RefusalChainTooLong    = "certificate chain too long"
	RefusalUnsupportedKey  = "unsupported certificate key"
	RefusalWrongPurpose    = "unsupported certificate purpose"
	RefusalPathLenExceeded = "path length constraint exceeded"
	RefusalCAInvalid       = "invalid CA certificate"
	RefusalBadSignature    = "certificate signature failure"
)

// ClientDecision is what API Gateway would do with a client certificate.
type ClientDecision struct {
	Accept bool `json:"accept"`
	// Reason is API Gateway's wording for a refusal; Detail says which
	// certificate and why; Fix says what to do.
	Reason string       `json:"reason,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Fix    string       `json:"fix,omitempty"`
	Chain  []ChainLink  `json:"chain"`
	Client ClientFields `json:"client"`
}

// ChainLink is one certificate of the path API Gateway would build.
type ChainLink struct {
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"`
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"not_after"`
	Position int       `json:"truststore_position,omitempty"`
}

// ClientFields describe the client certificate.
type ClientFields struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func linkOf(c *x509.Certificate, pos int) ChainLink {
	return ChainLink{Subject: c.Subject.String(), Serial: fmt.Sprintf("%x", c.SerialNumber), SHA256: Fingerprint(c), NotAfter: c.NotAfter.UTC(), Position: pos}
}

// VerifyClient decides as API Gateway would whether client is accepted by
// the truststore at time at: the issuer must be in the truststore with the
// whole chain to a root within four CA levels (intermediates the client
// would send are not used), every certificate valid, with accepted keys and
// signatures.
func VerifyClient(report *TruststoreReport, client *x509.Certificate, at time.Time) *ClientDecision {
	d := &ClientDecision{Chain: []ChainLink{linkOf(client, 0)}, Client: ClientFields{
		Subject: client.Subject.String(), Issuer: client.Issuer.String(), Serial: fmt.Sprintf("%x", client.SerialNumber),
		NotBefore: client.NotBefore.UTC(), NotAfter: client.NotAfter.UTC(),
	}}
	reject := func(reason, detail, fix string) *ClientDecision {
		d.Reason, d.Detail, d.Fix = reason, detail, fix
		return d
	}
	if why := weakSignature(client.SignatureAlgorithm); why != "" {
		return reject(RefusalInsecureSig, "the client certificate is "+why, "reissue it: apimtls client issue or client sign use SHA-256 or stronger")
	}
	if _, err := KeyTypeOf(client.PublicKey); err != nil {
		return reject(RefusalUnsupportedKey, "client key: "+err.Error(), "issue a new certificate with an ecdsa-p256 or rsa-2048 key or stronger")
	}
	if r := validityReason(client, at); r != "" {
		return reject(r, fmt.Sprintf("the client certificate is valid from %s to %s", client.NotBefore.UTC().Format(time.RFC3339), client.NotAfter.UTC().Format(time.RFC3339)), "renew it: apimtls client issue a new one from the same CA")
	}
	if len(client.ExtKeyUsage)+len(client.UnknownExtKeyUsage) > 0 && !slices.Contains(client.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(client.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return reject(RefusalWrongPurpose, "the client certificate's extendedKeyUsage does not include clientAuth", "issue a client certificate: apimtls client issue sets clientAuth")
	}
	if IsSelfIssued(client) {
		for _, e := range report.Entries {
			if e.Ref.SHA256 == Fingerprint(client) {
				d.Accept = true
				return d
			}
		}
		return reject(RefusalSelfSigned, "the client certificate is self-signed and not pinned in the truststore", "issue the client from a CA in the truststore")
	}
	var issuer *TrustEntry
	for _, e := range report.Entries {
		if !e.Duplicate && signedBy(client, e.Cert) {
			issuer = e
			break
		}
	}
	if issuer == nil {
		return reject(RefusalNoIssuer, fmt.Sprintf("the issuer %q is not in the truststore", client.Issuer.String()),
			"add the issuing CA and every CA above it: apimtls truststore build; API Gateway does not use intermediates the client sends")
	}
	levels := 0
	for e := issuer; ; e = e.Issuer {
		levels++
		d.Chain = append(d.Chain, linkOf(e.Cert, e.Ref.Position))
		if levels > MaxCALevels {
			return reject(RefusalChainTooLong, fmt.Sprintf("the chain has more than %d CA levels", MaxCALevels), "issue clients from a CA at most four levels from its root")
		}
		c := e.Cert
		if !c.IsCA || !c.BasicConstraintsValid {
			return reject(RefusalCAInvalid, describe(e)+" is not a CA", "rebuild the truststore from CA certificates only")
		}
		if why := weakSignature(c.SignatureAlgorithm); why != "" {
			return reject(RefusalInsecureSig, describe(e)+" is "+why, "reissue that CA with SHA-256 or stronger")
		}
		if _, err := KeyTypeOf(c.PublicKey); err != nil {
			return reject(RefusalUnsupportedKey, describe(e)+": "+err.Error(), "replace that CA")
		}
		if r := validityReason(c, at); r != "" {
			return reject(r, fmt.Sprintf("%s is valid from %s to %s", describe(e), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339)), "renew that CA, reissue its clients and rebuild the truststore")
		}
		if pl := PathLen(c); pl >= 0 && levels-1 > pl {
			return reject(RefusalPathLenExceeded, fmt.Sprintf("%s allows %d CA levels below it, and the chain has %d", describe(e), pl, levels-1), "reissue the CA with a larger pathLen, or flatten the hierarchy")
		}
		if e.SelfSigned {
			break
		}
		if e.Issuer != nil && !signatureValid(c, e.Issuer.Cert) {
			return reject(RefusalBadSignature, describe(e)+" does not verify with its issuer's key", "replace that certificate in the truststore with an intact copy")
		}
		if e.Issuer == nil {
			return reject(RefusalNoIssuer, fmt.Sprintf("%s was issued by %q, which is not in the truststore", describe(e), c.Issuer.String()),
				"add every CA up to the root: apimtls truststore build")
		}
	}
	d.Accept = true
	return d
}

func validityReason(c *x509.Certificate, at time.Time) string {
	switch {
	case !at.Before(c.NotAfter):
		return RefusalExpired
	case at.Before(c.NotBefore):
		return RefusalNotYetValid
	}
	return ""
}
