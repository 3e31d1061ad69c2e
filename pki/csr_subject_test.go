package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/x509cert"
)

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// TestSignCSRKeepsSubject: client sign keeps DC, UID, emailAddress and
// multi-valued RDNs of a CSR's subject, and says what it dropped:
// otherName and registeredID SANs, and the grouping of RDNs when --cn
// changes the subject.
func TestSignCSRKeepsSubject(t *testing.T) {
	oidDC := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	rdns := pkix.RDNSequence{
		{{Type: oidDC, Value: "com"}},
		{{Type: oidDC, Value: "example"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Devices"}},
		{{Type: oidUID, Value: "u-42"}},
		{{Type: oidEmail, Value: "ops@example.com"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "device-42"}},
	}
	rawSubject, _ := asn1.Marshal(rdns)
	// subjectAltName: dNSName, otherName (UPN-like), registeredID.
	san, _ := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("device.example.com")},
		{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3})},
		{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: []byte{0x2a, 0x03}},
	})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: rawSubject,
		ExtraExtensions: []pkix.Extension{{Id: oidSubjectAltName, Value: san}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509cert.DecodeCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	checked, err := x509cert.CheckCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t)
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	issued, err := s.IssueClient(ClientParams{Name: "device-42", CA: "root", CSR: checked})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(issued.Cert.RawSubject, rawSubject) {
		t.Errorf("subject %s, want the CSR's %s exactly", issued.Cert.Subject, csr.Subject)
	}
	notes := strings.Join(issued.Notes, "\n")
	for _, want := range []string{"dropped the otherName SAN", "dropped the registeredID SAN"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	if len(issued.Cert.DNSNames) != 1 {
		t.Errorf("DNS SANs %v", issued.Cert.DNSNames)
	}

	renamed, err := s.IssueClient(ClientParams{Name: "renamed", CA: "root", CSR: checked, CommonName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	var attrs []string
	for _, atv := range renamed.Cert.Subject.Names {
		attrs = append(attrs, fmt.Sprintf("%s=%v", atv.Type, atv.Value))
	}
	got := strings.Join(attrs, ",")
	for _, want := range []string{"2.5.4.3=other", oidDC.String() + "=example", oidDC.String() + "=com", "2.5.4.11=Devices", "2.5.4.10=Acme", oidUID.String() + "=u-42", oidEmail.String() + "=ops@example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("renamed subject %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "device-42") {
		t.Errorf("renamed subject %s kept the old CN", got)
	}
	if !strings.Contains(strings.Join(renamed.Notes, "\n"), "multi-valued RDNs") {
		t.Errorf("notes %q do not say the multi-valued RDN was split", renamed.Notes)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
