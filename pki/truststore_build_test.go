package pki

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

func TestBuildTruststore(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	for _, n := range []string{"b-issuing", "a-issuing"} {
		if _, err := s.CreateCA(CAParams{Name: n, Parent: "root", CommonName: n, KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateCA(CAParams{Name: "deep", Parent: "a-issuing", CommonName: "deep", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCA(CAParams{Name: "short", Parent: "root", CommonName: "short", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Days: 10}); err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t, x509cert.ECDSAP384, -1)

	// Later, "short" has expired: left out of the default bundle, with a note.
	s.Now = func() time.Time { return testNow.AddDate(0, 1, 0) }
	built, err := s.BuildTruststore(nil, []*x509.Certificate{other.Cert}, x509cert.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if built.Report.Errors != 0 || len(built.Notes) != 1 || !strings.Contains(built.Notes[0], `"short"`) {
		t.Fatalf("errors %d, notes %q", built.Report.Errors, built.Notes)
	}
	certs, err := x509cert.DecodeCertificates(built.PEM)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range certs {
		order = append(order, c.Subject.CommonName)
	}
	// Deepest first, then by subject; roots last.
	if got := strings.Join(order, ","); got != "deep,a-issuing,b-issuing,Test Root,root Root" {
		t.Fatalf("order %s", got)
	}
	again, err := s.BuildTruststore(nil, []*x509.Certificate{other.Cert}, x509cert.ValidateOptions{})
	if err != nil || string(again.PEM) != string(built.PEM) {
		t.Fatal("a second build differs from the first")
	}
	// One issuing CA: its chain only.
	one, err := s.BuildTruststore([]string{"deep"}, nil, x509cert.ValidateOptions{})
	if err != nil || one.Report.Certificates != 3 {
		t.Fatalf("--ca deep: %v certificates, %v", one.Report.Certificates, err)
	}
	// Naming the expired CA puts it in, and validation reports it.
	withExpired, err := s.BuildTruststore([]string{"short"}, nil, x509cert.ValidateOptions{})
	if err != nil || !withExpired.Report.Has(x509cert.RuleExpired) {
		t.Fatalf("--ca short: %+v, %v", withExpired.Report.Findings, err)
	}
}
