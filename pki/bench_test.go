package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// BenchmarkIssueClient measures one complete issuance: key generation,
// signing, the files written and synced, and the inventory commit.
func BenchmarkIssueClient(b *testing.B) {
	for _, kt := range []x509cert.KeyType{x509cert.ECDSAP256, x509cert.RSA2048} {
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
	for _, kt := range []x509cert.KeyType{x509cert.ECDSAP256, x509cert.RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			root := mustRoot(b, x509cert.ECDSAP256, -1)
			for b.Loop() {
				key, err := x509cert.GenerateKey(rand.Reader, kt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := x509cert.CreateClient(rand.Reader, testNow, root, x509cert.ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(1, 0, 0)}); err != nil {
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
	err := inventoryOf(s).db.Update(func(tx *bolt.Tx) error {
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
		if _, err := s.IssueClient(ClientParams{Name: fmt.Sprintf("new-%d", i), KeyType: x509cert.ECDSAP256}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulkIssue measures bulk issuance per certificate: keys made and
// certificates signed on every core, files written and synced, inventory
// recorded. Compare with BenchmarkBareLoop in the same run.
func BenchmarkBulkIssue(b *testing.B) {
	for _, kt := range []x509cert.KeyType{x509cert.ECDSAP256, x509cert.RSA2048} {
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
	for _, kt := range []x509cert.KeyType{x509cert.ECDSAP256, x509cert.RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			root := mustRoot(b, x509cert.ECDSAP256, -1)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key, err := x509cert.GenerateKey(rand.Reader, kt)
					if err != nil {
						b.Fatal(err)
					}
					c, err := x509cert.CreateClient(rand.Reader, testNow, root, x509cert.ClientRequest{Subject: pkix.Name{CommonName: "c"}, PublicKey: key.Public(), NotAfter: testNow.AddDate(1, 0, 0)})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := x509cert.EncodeKey(key, nil); err != nil {
						b.Fatal(err)
					}
					x509cert.EncodeCertificate(c.Raw)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}

// largeStore is a store with n client records (no files: listing and
// showing read only the inventory).
func largeStore(b testing.TB, dir string, n int) *Store {
	s, err := OpenStore(dir, true)
	if err != nil {
		b.Fatal(err)
	}
	root := createRootCA(b, s, "root", nil)
	err = inventoryOf(s).db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			r := &Record{Serial: fmt.Sprintf("%032x", i+1), Kind: KindClient, Name: fmt.Sprintf("device-%06d", i), Subject: fmt.Sprintf("CN=device-%06d", i),
				Issuer: "root", IssuerSerial: root.Record.Serial, KeyType: x509cert.ECDSAP256, NotBefore: testNow, NotAfter: testNow.AddDate(0, 0, i%400),
				SHA256: fmt.Sprintf("%064x", i), SANs: []string{fmt.Sprintf("device-%06d.example.com", i)}, Status: StatusActive,
				Dir: fmt.Sprintf("clients/device-%06d", i), Files: []string{"clients/x/key.pem", "clients/x/cert.pem", "clients/x/chain.pem"}, CreatedAt: testNow}
			if err := putRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// TestMakeLargeInventory writes a 100,000-client inventory into
// $APIMTLS_MAKE_INVENTORY for timing the CLI by hand (bench/fleet.sh).
func TestMakeLargeInventory(t *testing.T) {
	dir := os.Getenv("APIMTLS_MAKE_INVENTORY")
	if dir == "" {
		t.Skip("set APIMTLS_MAKE_INVENTORY=DIR")
	}
	largeStore(t, dir, 100_000).Close()
}

// BenchmarkList100k lists 100,000 clients from the inventory, as client
// list does.
func BenchmarkList100k(b *testing.B) {
	s := largeStore(b, filepath.Join(b.TempDir(), "pki"), 100_000)
	defer s.Close()
	for b.Loop() {
		recs, err := s.List(func(r *Record) bool { return r.Kind == KindClient })
		if err != nil || len(recs) != 100_000 {
			b.Fatal(len(recs), err)
		}
	}
}

// BenchmarkShow100k looks one client up by name among 100,000.
func BenchmarkShow100k(b *testing.B) {
	s := largeStore(b, filepath.Join(b.TempDir(), "pki"), 100_000)
	defer s.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Lookup(KindClient, fmt.Sprintf("device-%06d", i%100_000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulkSign signs b.N device CSRs in one bulk run (client sign
// --csr-dir): no key generation, each CSR's signature checked.
func BenchmarkBulkSign(b *testing.B) {
	s := newTestStore(b)
	s.Now = time.Now
	createRootCA(b, s, "root", nil)
	items := make([]BulkItem, b.N)
	for i := range items {
		key, err := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
		if err != nil {
			b.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: fmt.Sprintf("dev-%d", i)}}, key)
		if err != nil {
			b.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			b.Fatal(err)
		}
		checked, err := x509cert.CheckCSR(csr)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = BulkItem{Source: "csr", Params: ClientParams{Name: fmt.Sprintf("dev-%d", i), CSR: checked}}
	}
	b.ResetTimer()
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root"}, Items: items})
	if err != nil || res.Issued != b.N {
		b.Fatal(res, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
}

// BenchmarkListBriefRecords100k lists 100,000 clients from the listing
// index and decodes each whole record, as client list -o json does.
func BenchmarkListBriefRecords100k(b *testing.B) {
	s := largeStore(b, filepath.Join(b.TempDir(), "pki"), 100_000)
	defer s.Close()
	for b.Loop() {
		briefs, err := s.ListBrief(func(r *Brief) bool { return r.Kind == KindClient })
		if err != nil || len(briefs) != 100_000 {
			b.Fatal(len(briefs), err)
		}
		for _, br := range briefs {
			if _, err := br.Record(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkListBrief100k lists the Brief of 100,000 clients from the
// listing index, as client list's table does.
func BenchmarkListBrief100k(b *testing.B) {
	s := largeStore(b, filepath.Join(b.TempDir(), "pki"), 100_000)
	defer s.Close()
	for b.Loop() {
		recs, err := s.ListBrief(func(r *Brief) bool { return r.Kind == KindClient })
		if err != nil || len(recs) != 100_000 {
			b.Fatal(len(recs), err)
		}
	}
}
