package pki

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

// BenchmarkIssueClientLargeInventory issues into an inventory that already
// holds 50,000 client records: issuing must not read them all.
func BenchmarkIssueClientLargeInventory(b *testing.B) {
	s := newTestStore(b)
	s.Now = time.Now
	createRootCA(b, s, "root", nil)
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range 50_000 {
			r := &Record{Serial: fmt.Sprintf("%032x", i+1), Kind: KindClient, Name: fmt.Sprintf("device-%d", i), Dir: "clients/x", Status: StatusActive}
			if err := putRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := s.IssueClient(ClientParams{Name: fmt.Sprintf("new-%d", i), KeyType: ECDSAP256}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulkIssue measures bulk issuance per certificate: keys made and
// certificates signed on every core, files written and synced, inventory
// recorded. Compare with BenchmarkBareLoop in the same run.
func BenchmarkBulkIssue(b *testing.B) {
	for _, kt := range []KeyType{ECDSAP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			s := newTestStore(b)
			s.Now = time.Now
			createRootCA(b, s, "root", nil)
			b.ResetTimer()
			res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: kt}, Items: bulkItems("dev", b.N)})
			if err != nil {
				b.Fatal(err)
			}
			if res.Issued != b.N {
				b.Fatalf("issued %d of %d: %v", res.Issued, b.N, res.Failed)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}

// BenchmarkBareLoop is the floor under BenchmarkBulkIssue: on every core,
// generate a key, sign a certificate, PEM-encode both, nothing written.
func BenchmarkBareLoop(b *testing.B) {
	for _, kt := range []KeyType{ECDSAP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			root := mustRoot(b, ECDSAP256, -1)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key, err := GenerateKey(rand.Reader, kt)
					if err != nil {
						b.Fatal(err)
					}
					c, err := CreateClient(rand.Reader, testNow, root, ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(1, 0, 0)})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := EncodeKey(key, nil); err != nil {
						b.Fatal(err)
					}
					EncodeCertificate(c.Raw)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}
