package fakeapigw

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"
)

// maxChainLength is the longest chain API Gateway accepts. AWS: "Turn on
// mutual TLS authentication for your REST APIs"
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-mutual-tls.html):
// "Certificates can have a maximum chain length of four."
const maxChainLength = 4

// truststoreWarnings decides TruststoreWarnings with the fake's own checks,
// independent of apimtls's validator, and counts the PEM CERTIFICATE
// blocks. AWS validates X.509 syntax, integrity (signatures within the
// truststore), validity period and name chaining up to a chain length of
// four, and supports SHA-256 or stronger, RSA-2048 or stronger and
// ECDSA-256 or stronger (same page as maxChainLength). AWS says a warning
// names "the issue with the certificate and the subject of the certificate
// that produced the warning"; its exact wording is not documented, so the
// fake writes "Certificate <subject> (#n in truststore): <issue>".
// The fake also warns on a certificate that is not a CA, which AWS does
// not document (stricter).
func truststoreWarnings(data []byte, now time.Time) (warnings []string, count int) {
	type entry struct {
		n    int
		cert *x509.Certificate
	}
	var certs []entry
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		count++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("Certificate #%d in truststore: invalid X.509 syntax: %v", count, err))
			continue
		}
		certs = append(certs, entry{count, cert})
	}
	issuerOf := func(c *x509.Certificate) *x509.Certificate {
		for _, e := range certs {
			if e.cert != c && bytes.Equal(e.cert.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(e.cert) == nil {
				return e.cert
			}
		}
		return nil
	}
	selfSigned := func(c *x509.Certificate) bool {
		return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
	}
	for _, e := range certs {
		c := e.cert
		warn := func(format string, args ...any) {
			warnings = append(warnings, fmt.Sprintf("Certificate %s (#%d in truststore): ", c.Subject, e.n)+fmt.Sprintf(format, args...))
		}
		if now.After(c.NotAfter) {
			warn("certificate is expired (not after %s)", c.NotAfter.UTC().Format(time.RFC3339))
		} else if now.Before(c.NotBefore) {
			warn("certificate is not yet valid (not before %s)", c.NotBefore.UTC().Format(time.RFC3339))
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			warn("certificate is not a CA (basicConstraints CA:TRUE missing)")
		}
		switch k := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				warn("RSA key of %d bits is too weak; RSA-2048 or stronger is required", k.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if k.Curve.Params().BitSize < 256 {
				warn("ECDSA key of %d bits is too weak; ECDSA-256 or stronger is required", k.Curve.Params().BitSize)
			}
		default:
			warn("unsupported key algorithm %s", c.PublicKeyAlgorithm)
		}
		switch c.SignatureAlgorithm {
		case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
			x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
			x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		default:
			warn("insecure signature algorithm %s; SHA-256 or stronger is required", c.SignatureAlgorithm)
		}
		// Name chaining: walk up to a self-signed root inside the bundle.
		length, cur, broken := 1, c, false
		for !selfSigned(cur) && length <= len(certs) {
			up := issuerOf(cur)
			if up == nil {
				broken = true
				break
			}
			cur, length = up, length+1
		}
		switch {
		case broken:
			warn("issuer %s is not in the truststore (broken chain)", cur.Issuer)
		case length > maxChainLength:
			warn("chain length %d exceeds the maximum of %d", length, maxChainLength)
		}
	}
	return warnings, count
}
