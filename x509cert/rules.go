package x509cert

import (
	"fmt"
	"strings"
)

// Severity says whether a finding blocks a truststore (error) or only
// deserves attention (warning).
type Severity string

// Severities of truststore findings.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Rule is one check of a truststore, with a stable ID that scripts and JSON
// output can refer to. The table below is the single source of the rules:
// the validator reports by ID, and docs/truststore.md lists this table.
type Rule struct {
	ID       string
	Severity Severity
	Summary  string
	Fix      string
}

// Rule IDs.
const (
	RuleEmpty           = "empty-file"
	RuleNotPEM          = "not-pem"
	RuleMalformedPEM    = "malformed-pem"
	RuleNotCertificate  = "non-certificate-block"
	RuleUnparsable      = "unparsable-certificate"
	RuleTooMany         = "too-many-certificates"
	RuleTooLarge        = "file-too-large"
	RuleWeakKey         = "unsupported-key"
	RuleWeakSignature   = "insecure-signature"
	RuleExpired         = "expired"
	RuleNotYetValid     = "not-yet-valid"
	RuleNotCA           = "not-a-ca"
	RuleMissingIssuer   = "incomplete-chain"
	RuleTooDeep         = "chain-too-deep"
	RulePathLen         = "path-length-exceeded"
	RuleBadSignature    = "bad-signature"
	RuleDuplicate       = "duplicate"
	RuleNoCertSign      = "ca-without-keycertsign"
	RuleEKUNoClientAuth = "ca-eku-excludes-clientauth"
	RuleFourLevels      = "four-levels"
	RuleExpiringSoon    = "expiring-soon"
	RuleTextOutside     = "text-outside-blocks"
	RuleCRLF            = "crlf-line-endings"
)

// TruststoreRules lists every rule of `truststore validate`, errors first,
// as docs/truststore.md#rules states them.
var TruststoreRules = []Rule{
	{RuleEmpty, SeverityError, "the file is empty", "build it with: apimtls truststore build"},
	{RuleNotPEM, SeverityError, "the file holds no PEM block (DER, PKCS #7 binary, or something else)", "a truststore is PEM CERTIFICATE blocks (-----BEGIN CERTIFICATE-----); convert a DER certificate with: openssl x509 -inform der -in FILE -out FILE.pem"},
	{RuleMalformedPEM, SeverityError, "a PEM structure that readers could read differently: a block with no END, text, a blank line or a second BEGIN inside a block, PEM headers, base64 that does not decode", "rebuild the file from the certificates themselves (apimtls truststore build), or repair the block at the line named"},
	{RuleNotCertificate, SeverityError, "a PEM block is not a CERTIFICATE (a private key, a CSR, a PKCS #7 bundle...)", "remove the block; for PKCS #7 extract the certificates with: openssl pkcs7 -print_certs -in FILE"},
	{RuleUnparsable, SeverityError, "a CERTIFICATE block does not parse as X.509", "replace it with the CA's certificate as its issuer publishes it"},
	{RuleTooMany, SeverityError, "more than 1,000 certificates: API Gateway's limit", "split clients across CAs so that fewer CAs need trusting, or drop unused CAs"},
	{RuleTooLarge, SeverityError, "more than 1,048,576 bytes: API Gateway's limit", "drop unused CAs or text outside the PEM blocks"},
	{RuleWeakKey, SeverityError, "a key that is not RSA 2048/3072/4096 or ECDSA P-256/P-384", "replace the CA with one whose key API Gateway accepts: apimtls ca init --key-type ecdsa-p384"},
	{RuleWeakSignature, SeverityError, "a signature with SHA-1, MD5 or anything weaker than SHA-256", "reissue the certificate with SHA-256 or stronger"},
	{RuleExpired, SeverityError, "a certificate that has expired", "remove it, or replace it with a renewed CA certificate"},
	{RuleNotYetValid, SeverityError, "a certificate that is not yet valid", "check the clock of the machine that made it, or wait until its start"},
	{RuleNotCA, SeverityError, "a certificate that is not a CA (basicConstraints CA:TRUE)", "put only CA certificates in a truststore; pin a self-signed client only with --allow-pinned-client"},
	{RuleMissingIssuer, SeverityError, "a certificate whose issuer is not in the bundle: API Gateway needs the whole chain up to the root", "add the issuer: apimtls truststore build includes every CA in the path"},
	{RuleTooDeep, SeverityError, "a chain longer than four CA levels: API Gateway refuses clients issued that deep", "issue clients from a CA at most four levels from its root"},
	{RulePathLen, SeverityError, "a chain that breaks a CA's pathLen constraint", "reissue the CA whose pathLen is too small, or flatten the hierarchy"},
	{RuleBadSignature, SeverityError, "a certificate whose signature does not verify with its issuer's key (checked with --verify-signatures)", "replace the certificate with an intact copy from its issuer"},
	{RuleDuplicate, SeverityWarning, "a certificate that appears more than once", "remove the repeated copy"},
	{RuleNoCertSign, SeverityWarning, "a CA whose keyUsage lacks keyCertSign", "reissue the CA with keyCertSign; strict verifiers reject what it signs"},
	{RuleEKUNoClientAuth, SeverityWarning, "a CA with an extendedKeyUsage that excludes clientAuth: strict verifiers then reject the chain", "reissue the CA without extendedKeyUsage, or with clientAuth"},
	{RuleFourLevels, SeverityWarning, "a chain of exactly four CA levels, API Gateway's limit", "no deeper CA can be added below it"},
	{RuleExpiringSoon, SeverityWarning, "a certificate expiring soon", "renew the CA and rebuild the truststore before it expires"},
	{RuleTextOutside, SeverityWarning, "text outside the PEM blocks", "remove it: apimtls truststore build writes PEM blocks only"},
	{RuleCRLF, SeverityWarning, "CRLF line endings", "convert with: dos2unix FILE"},
}

// RuleByID returns the rule with that ID.
func RuleByID(id string) Rule {
	for _, r := range TruststoreRules {
		if r.ID == id {
			return r
		}
	}
	panic("x509cert: unknown truststore rule " + id)
}

// rulesMarkdown renders the rules as the Markdown table docs/truststore.md
// carries, so the page is written from the same data the validator uses.
func rulesMarkdown() string {
	var b strings.Builder
	b.WriteString("| rule | severity | what | fix |\n|---|---|---|---|\n")
	for _, r := range TruststoreRules {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.ID, r.Severity, r.Summary, r.Fix)
	}
	return b.String()
}
