package x509cert

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net/url"
	"slices"
)

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// extensionNames names the extensions a CSR most often requests, for the
// report of what was ignored.
var extensionNames = map[string]string{
	"2.5.29.15": "keyUsage",
	"2.5.29.37": "extKeyUsage",
	"2.5.29.19": "basicConstraints",
	"2.5.29.14": "subjectKeyIdentifier",
	"2.5.29.30": "nameConstraints",
}

// CheckedCSR is a CSR whose signature and key apimtls has checked, with the
// requested extensions it will not honour.
type CheckedCSR struct {
	CSR     *x509.CertificateRequest
	KeyType KeyType
	// Ignored lists requested extensions other than subjectAltName: the
	// client profile decides key usage, extended key usage and CA status,
	// never the requester.
	Ignored []string
	// Dropped says what of the request the certificate cannot carry:
	// otherName, x400Address, directoryName, ediPartyName and
	// registeredID SANs, which apimtls does not issue.
	Dropped []string
}

// sanTagNames names the GeneralName choices (RFC 5280 §4.2.1.6) that Go's
// CSR parser skips without a word.
var sanTagNames = map[int]string{0: "otherName", 3: "x400Address", 4: "directoryName", 5: "ediPartyName", 8: "registeredID"}

// droppedSANs lists the GeneralNames of a subjectAltName extension that
// apimtls does not issue.
func droppedSANs(ext []byte) []string {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(ext, &seq); err != nil || len(rest) > 0 {
		return nil // the CSR parser has refused it already
	}
	var out []string
	for rest := seq.Bytes; len(rest) > 0; {
		var gn asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &gn); err != nil {
			return out
		}
		if name, ok := sanTagNames[gn.Tag]; ok && gn.Class == asn1.ClassContextSpecific {
			out = append(out, name)
		}
	}
	return out
}

// CheckCSR verifies a CSR's self-signature (proof that the requester holds
// the key), its signature algorithm and its key type.
func CheckCSR(csr *x509.CertificateRequest) (*CheckedCSR, error) {
	switch csr.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.DSAWithSHA256:
		return nil, fmt.Errorf("CSR is signed with %s: use SHA-256 or stronger", csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature does not verify (the request was altered or not signed by its key): %w", err)
	}
	kt, err := KeyTypeOf(csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("CSR key: %w", err)
	}
	checked := &CheckedCSR{CSR: csr, KeyType: kt}
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(oidSubjectAltName) {
			for _, n := range droppedSANs(ext.Value) {
				checked.Dropped = append(checked.Dropped, "the "+n+" SAN (apimtls issues DNS, email, URI and IP SANs only)")
			}
			continue
		}
		name := extensionNames[ext.Id.String()]
		if name == "" {
			name = ext.Id.String()
		}
		checked.Ignored = append(checked.Ignored, name)
	}
	return checked, nil
}

// ClientRequestFromCSR builds a client request with the CSR's key and
// subject, and its subject alternative names merged with extra ones.
func ClientRequestFromCSR(c *CheckedCSR, dns, emails []string, uris []*url.URL) ClientRequest {
	req := ClientRequest{
		Subject:   c.CSR.Subject,
		PublicKey: c.CSR.PublicKey,
		DNSNames:  union(c.CSR.DNSNames, dns),
		Emails:    union(c.CSR.EmailAddresses, emails),
		IPs:       slices.Clone(c.CSR.IPAddresses),
	}
	req.URIs = slices.Clone(c.CSR.URIs)
	for _, u := range uris {
		if !slices.ContainsFunc(req.URIs, func(v *url.URL) bool { return v.String() == u.String() }) {
			req.URIs = append(req.URIs, u)
		}
	}
	// Go writes a subject from its named fields (C, O, OU, L, ST, street,
	// postal code, serial, CN) and drops every other attribute of a parsed
	// one: DC, UID, emailAddress. Carrying every parsed attribute in
	// ExtraNames, in the CSR's order, keeps them all.
	req.Subject.ExtraNames = slices.Clone(c.CSR.Subject.Names)
	req.RawSubject = c.CSR.RawSubject
	return req
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
