package fakeapigw

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
)

// mtlsChange is what one create or update asks of the truststore; nil
// pointers mean "not sent".
type mtlsChange struct {
	uri, version *string
}

// Ownership verification. AWS: API reference, DomainName
// ownershipVerificationCertificateArn ("The ARN of the public certificate
// issued by ACM to validate ownership of your custom domain. Only required
// when configuring mutual TLS and using an ACM imported or private CA
// certificate ARN as the regionalCertificateArn.") and the developer guide,
// "Turn on mutual TLS authentication for your REST APIs" (an imported or
// AWS Private CA certificate needs an ACM-issued ownershipVerificationCertificate).
// The refusal's wording is hashicorp/terraform-provider-aws#35741
// ("BadRequestException: Missing ownershipVerificationCertificate."), where
// the provider left the field out of the update.
const msgMissingOwnership = "Missing ownershipVerificationCertificate."

// needsOwnership reports whether a server certificate is one that mTLS
// needs an ownership verification certificate for. Certificates unknown
// to the fake's ACM are taken for public ACM ones.
func (f *Fake) needsOwnership(certArn string) bool {
	c := f.Certs[certArn]
	return c != nil && (c.Type == "IMPORTED" || c.Type == "PRIVATE")
}

// checkOwnership applies the ownership rules to the domain as it would be
// after an update that turns or keeps mTLS on: with no ownership
// certificate the update is refused; with one that is not a public, issued
// ACM certificate for the domain, the domain is accepted but goes to
// PENDING_OWNERSHIP_VERIFICATION (AWS's DomainNameStatus: "PENDING_OWNERSHIP_VERIFICATION")
// and stays there until an update gives a valid one.
func (f *Fake) checkOwnership(d *Domain) *apiError {
	if d.TruststoreURI == "" || !f.needsOwnership(d.CertificateArn) {
		if d.Status == "PENDING_OWNERSHIP_VERIFICATION" {
			d.Status = "AVAILABLE"
		}
		return nil
	}
	if d.OwnershipCertArn == "" {
		return badRequest(msgMissingOwnership)
	}
	c := f.Certs[d.OwnershipCertArn]
	if c == nil {
		return badRequest("Invalid certificate ARN: %s. Certificate could not be found.", d.OwnershipCertArn)
	}
	switch {
	case c.Type != "AMAZON_ISSUED":
		d.Status, d.StatusMessage = "PENDING_OWNERSHIP_VERIFICATION", fmt.Sprintf("Ownership verification certificate %s is %s; it must be a public certificate issued by ACM.", c.Arn, c.Type)
	case c.Status != "ISSUED":
		d.Status, d.StatusMessage = "PENDING_OWNERSHIP_VERIFICATION", fmt.Sprintf("Ownership verification certificate %s is %s, not ISSUED.", c.Arn, c.Status)
	case c.Domain != "" && !covers(c.Domain, d.Name):
		d.Status, d.StatusMessage = "PENDING_OWNERSHIP_VERIFICATION", fmt.Sprintf("Ownership verification certificate %s is for %s, not %s.", c.Arn, c.Domain, d.Name)
	default:
		if d.Status == "PENDING_OWNERSHIP_VERIFICATION" {
			d.Status = "AVAILABLE"
		}
	}
	return nil
}

// covers reports whether a certificate name (possibly a wildcard) covers host.
func covers(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		_, parent, found := strings.Cut(host, ".")
		return found && strings.EqualFold(parent, rest)
	}
	return strings.EqualFold(pattern, host)
}

// applyMTLS does what API Gateway does with a create's or update's mutual
// TLS settings: keep the old version when only the URI is sent, read the
// object as the caller, compute warnings.
func (f *Fake) applyMTLS(ctx context.Context, d *Domain, ch mtlsChange, caller string) *apiError {
	if ch.uri == nil && ch.version == nil {
		return nil
	}
	uri, version := d.TruststoreURI, d.TruststoreVersion
	if ch.uri != nil {
		uri = *ch.uri
	}
	if ch.version != nil {
		version = *ch.version
	}
	if uri == "" {
		d.TruststoreURI, d.TruststoreVersion, d.Warnings = "", "", nil
		return nil
	}
	return f.applyTruststore(ctx, d, uri, version, caller)
}

// Truststore limits. AWS: "Amazon API Gateway launches mutual TLS" (AWS
// Compute Blog / What's New, 2020): up to 1,000 certificates and 1 MB per
// truststore. The refusal's wording is the fake's own.
const (
	maxTruststoreBytes = 1 << 20
	maxTruststoreCerts = 1000
)

func (f *Fake) applyTruststore(ctx context.Context, d *Domain, uri, version, caller string) *apiError {
	if d.EndpointType != "REGIONAL" {
		return badRequest("Mutual TLS is only supported for REGIONAL domain names")
	}
	if d.SecurityPolicy != "TLS_1_2" {
		return badRequest("Mutual TLS is only supported with the TLS_1_2 security policy")
	}
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" || len(uri) > 2048 || len(version) > 64 {
		return badRequest("Invalid truststore URI/versionId specified.")
	}
	data, err := f.Read(ctx, caller, bucket, key, version)
	if err != nil {
		if accessDenied(err) {
			// AWS: seen in the field (docs/aws.md of apimtls, issue 11):
			// "Unable to access truststore URI s3://... version N/A" when no
			// version was given. That the version is printed when one is
			// given is the fake's reading.
			return badRequest("Unable to access truststore URI %s version %s", uri, orNA(version))
		}
		return badRequest("Invalid truststore URI/versionId specified.")
	}
	if len(data) > maxTruststoreBytes {
		return badRequest("Truststore %s is %d bytes; the limit is %d bytes.", uri, len(data), maxTruststoreBytes)
	}
	warnings, count := truststoreWarnings(data, f.Clock.Now())
	if count == 0 {
		// Nothing that API Gateway could use: the fake refuses rather than
		// turn on mTLS that trusts nobody (AWS's wording is not documented).
		return badRequest("Invalid truststore: no PEM certificates found in %s", uri)
	}
	if count > maxTruststoreCerts {
		return badRequest("Truststore %s holds %d certificates; the limit is %d.", uri, count, maxTruststoreCerts)
	}
	if d.ExtraWarning != "" {
		warnings = append(warnings, d.ExtraWarning)
	}
	d.TruststoreURI, d.TruststoreVersion, d.Warnings = uri, version, warnings
	return nil
}

func accessDenied(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "Forbidden") {
		return true
	}
	return errors.Is(err, ErrAccessDenied) || strings.Contains(strings.ToLower(err.Error()), "access denied")
}

func orNA(s string) string {
	if s == "" {
		return "N/A"
	}
	return s
}
