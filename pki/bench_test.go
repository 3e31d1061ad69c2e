package pki

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"testing"
	"time"
)

// BenchmarkIssueClient measures one complete issuance: key generation,
// signing, the files written and synced, and the inventory commit.
func BenchmarkIssueClient(b *testing.B) {
	for _, kt := range []KeyType{ECDSAP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			s := newTestStore(b)
			s.Now = time.Now
			createRootCA(b, s, "root", nil)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.IssueClient(ClientParams{Name: fmt.Sprintf("c%d", i), CA: "root", KeyType: kt}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKeygenAndSign is the cryptography alone, the floor under
// BenchmarkIssueClient.
func BenchmarkKeygenAndSign(b *testing.B) {
	for _, kt := range []KeyType{ECDSAP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			root := mustRoot(b, ECDSAP256, -1)
			for b.Loop() {
				key, err := GenerateKey(rand.Reader, kt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := CreateClient(rand.Reader, testNow, root, ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(1, 0, 0)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
