package pki

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// TestValidityOverflowRefused: a validity that time arithmetic would wrap
// (106752 days is past time.Duration's end) or that is absurdly long is
// refused at the API, never turned into a certificate from 1734 or silently
// shortened.
func TestValidityOverflowRefused(t *testing.T) {
	s := newTestStore(t)
	for _, days := range []int{-1, x509cert.MaxDays + 1, 106752, 3000000} {
		if _, err := s.CreateCA(CAParams{Name: "r", CommonName: "r", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Days: days}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("CreateCA days %d: %v, want out of range", days, err)
		}
	}
	if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Days: x509cert.MaxDays}); err != nil {
		t.Fatalf("CreateCA days %d: %v", x509cert.MaxDays, err)
	}
	for _, days := range []int{-5, x509cert.MaxDays + 1, 106752} {
		if _, err := s.IssueClient(ClientParams{Name: "c", CA: "root", KeyType: x509cert.ECDSAP256, Days: days}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("IssueClient days %d: %v, want out of range", days, err)
		}
	}
	key := mustKey(t, x509cert.ECDSAP256).Key
	for _, end := range []time.Time{testNow.Add(-time.Hour), testNow.AddDate(0, 0, x509cert.MaxDays+2), testNow.Add(time.Duration(1<<63 - 1))} {
		if _, err := x509cert.CreateRoot(rand.Reader, testNow, x509cert.CARequest{CommonName: "x", Key: key, NotAfter: end, MaxPathLen: -1}); err == nil {
			t.Errorf("CreateRoot ending %s: accepted", end)
		}
	}
}
