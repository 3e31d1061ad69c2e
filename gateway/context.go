// Package gateway is a local stand-in for an API Gateway custom domain with
// mutual TLS: a server that applies API Gateway's rules to client
// certificates, and a probe that proves a live endpoint enforces them.
package gateway

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"
)

// apigwTime is how API Gateway writes certificate dates in the request
// context, for example "Aug  5 09:36:04 2021 GMT" (docs/apigateway-rules.md#what-clients-and-backends-see).
const apigwTime = "Jan _2 15:04:05 2006 GMT"

// ClientCert is the clientCert object API Gateway puts in the request
// context (requestContext.authentication.clientCert for HTTP API payload
// 2.0), with the same field names.
type ClientCert struct {
	ClientCertPem string   `json:"clientCertPem"`
	SubjectDN     string   `json:"subjectDN"`
	IssuerDN      string   `json:"issuerDN"`
	SerialNumber  string   `json:"serialNumber"`
	Validity      Validity `json:"validity"`
}

// Validity holds the dates in API Gateway's format.
type Validity struct {
	NotBefore string `json:"notBefore"`
	NotAfter  string `json:"notAfter"`
}

// ClientCertOf builds the context API Gateway would pass for c.
func ClientCertOf(c *x509.Certificate) ClientCert {
	return ClientCert{
		ClientCertPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
		SubjectDN:     c.Subject.String(),
		IssuerDN:      c.Issuer.String(),
		SerialNumber:  colonHex(c.SerialNumber.Bytes()),
		Validity: Validity{
			NotBefore: c.NotBefore.UTC().Format(apigwTime),
			NotAfter:  c.NotAfter.UTC().Format(apigwTime),
		},
	}
}

// colonHex writes bytes as "a1:b2:...", as AWS's examples show serials.
func colonHex(b []byte) string {
	const digits = "0123456789abcdef"
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = string([]byte{digits[c>>4], digits[c&15]})
	}
	return strings.Join(parts, ":")
}

// RequestContext is the part of an HTTP API payload 2.0 event that carries
// the client certificate, as the local gateway answers it.
type RequestContext struct {
	RequestContext struct {
		Authentication struct {
			ClientCert ClientCert `json:"clientCert"`
		} `json:"authentication"`
		RequestTimeEpoch int64   `json:"timeEpoch"`
		HTTP             HTTPCtx `json:"http"`
	} `json:"requestContext"`
}

// HTTPCtx mirrors requestContext.http.
type HTTPCtx struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

func newRequestContext(c *x509.Certificate, method, path string, now time.Time) RequestContext {
	var rc RequestContext
	rc.RequestContext.Authentication.ClientCert = ClientCertOf(c)
	rc.RequestContext.RequestTimeEpoch = now.UnixMilli()
	rc.RequestContext.HTTP = HTTPCtx{Method: method, Path: path}
	return rc
}
