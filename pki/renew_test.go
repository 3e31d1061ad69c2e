package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// TestRenew: the new certificate verifies and keeps the subject and SANs,
// the old record is superseded and linked, the name points at the new one,
// the old files stay reachable by serial, and a CSR-signed client is not
// silently given a key.
func TestRenew(t *testing.T) {
	s := newTestStore(t)
	s.Now = time.Now
	root := createRootCA(t, s, "root", nil)
	old, err := s.IssueClient(ClientParams{Name: "acme", CA: "root", KeyType: x509cert.ECDSAP256, Organization: "Acme", DNSNames: []string{"a.example"}, Emails: []string{"ops@a.example"}, Days: 40})
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := checkedCSR(t, t.TempDir(), "dev")
	if _, err := s.IssueClient(ClientParams{Name: "dev", CA: "root", CSR: csr}); err != nil {
		t.Fatal(err)
	}
	expiring, err := s.ClientsExpiring(time.Now().AddDate(0, 0, 400), "")
	if err != nil || len(expiring) != 2 {
		t.Fatalf("expiring %d, %v", len(expiring), err)
	}
	res, err := s.RenewClients(expiring, RenewParams{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 1 || len(res.Failed) != 1 || res.Failed[0].Name != "dev" || res.Failed[0].Reason != ErrNeedsCSR.Error() {
		t.Fatalf("renewed %d, failed %+v", res.Issued, res.Failed)
	}
	cur, err := s.Lookup(KindClient, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Serial == old.Record.Serial || cur.Renews != old.Record.Serial || cur.Serial != res.Serials["acme"] {
		t.Fatalf("the name points at %s (renews %q), old %s", cur.Serial, cur.Renews, old.Record.Serial)
	}
	was, err := s.LookupSerial(old.Record.Serial)
	if err != nil || was.Status != StatusSuperseded || was.SupersededBy != cur.Serial {
		t.Fatalf("old record %+v, %v", was, err)
	}
	oldCert, err := s.Certificate(was)
	if err != nil || oldCert.SerialNumber.Cmp(old.Cert.SerialNumber) != 0 {
		t.Fatalf("old certificate not where its record says: %v", err)
	}
	c, err := s.Certificate(cur)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if c.Subject.String() != old.Cert.Subject.String() || !slices.Equal(c.DNSNames, old.Cert.DNSNames) || !slices.Equal(c.EmailAddresses, old.Cert.EmailAddresses) {
		t.Fatalf("subject %s SANs %v, want %s %v", c.Subject, c.DNSNames, old.Cert.Subject, old.Cert.DNSNames)
	}
	if publicKeysEqual(c.PublicKey, old.Cert.PublicKey) {
		t.Fatal("renewal kept the key without --reuse-key")
	}
	if d, want := c.NotAfter.Sub(c.NotBefore), old.Cert.NotAfter.Sub(old.Cert.NotBefore); d != want {
		t.Fatalf("validity %s, want the old %s", d, want)
	}
	// The CSR-signed client is untouched: no key written for it.
	if _, err := os.Stat(s.Layout().ClientKey("dev")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key appeared for the CSR-signed client: %v", err)
	}
	// Superseded is final; the new one renews again, keeping its key.
	if res, _ := s.RenewClients([]*Record{was}, RenewParams{}); len(res.Failed) != 1 {
		t.Fatalf("renewed a superseded record: %+v", res)
	}
	res, err = s.RenewClients([]*Record{cur}, RenewParams{ReuseKey: true})
	if err != nil || res.Issued != 1 {
		t.Fatal(res, err)
	}
	again, _ := s.Lookup(KindClient, "acme")
	c2, _ := s.Certificate(again)
	if !publicKeysEqual(c2.PublicKey, c.PublicKey) {
		t.Fatal("--reuse-key made a new key")
	}
	// A CSR-signed client renews from a new CSR, keeping its subject.
	csr2, key2 := checkedCSR(t, t.TempDir(), "other-cn")
	devRec, _ := s.Lookup(KindClient, "dev")
	res, err = s.RenewClients([]*Record{devRec}, RenewParams{CSR: csr2})
	if err != nil || res.Issued != 1 {
		t.Fatal(res, err)
	}
	dev2, _ := s.Lookup(KindClient, "dev")
	dc, _ := s.Certificate(dev2)
	if dc.Subject.CommonName != "dev" || !publicKeysEqual(dc.PublicKey, key2.Public()) || !dev2.FromCSR {
		t.Fatalf("CSR renewal: CN %q, from_csr %v", dc.Subject.CommonName, dev2.FromCSR)
	}
	// A superseded certificate can still be revoked, and rebuild keeps both.
	if _, err := s.Revoke(KindClient, old.Record.Serial, ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	before, err := s.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkConsistent(t, s.Dir)
	// store rebuild restores the superseded records and their links.
	os.Remove(s.Layout().Inventory())
	if _, err := RebuildInventory(s.Dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err = OpenStore(s.Dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range before {
		got, err := s.LookupSerial(r.Serial)
		if err != nil || got == nil {
			t.Fatalf("%s lost by rebuild: %v", r.Serial, err)
		}
		if got.Status != r.Status || got.SupersededBy != r.SupersededBy || got.Renews != r.Renews || got.Dir != r.Dir {
			t.Errorf("rebuilt %s %s: status %s→%s superseded_by %q→%q renews %q→%q", r.Name, r.Serial, r.Status, got.Status, r.SupersededBy, got.SupersededBy, r.Renews, got.Renews)
		}
	}
	if cur, err := s.Lookup(KindClient, "acme"); err != nil || cur.Serial != again.Serial {
		t.Fatalf("after rebuild acme is %v, %v", cur, err)
	}
}

func helperRenew() int {
	crashHook = func(step string) {
		if step == os.Getenv("PKI_CRASH_AT") {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	s, err := OpenStore(os.Getenv("PKI_DIR"), true)
	if err != nil {
		return 1
	}
	defer s.Close()
	recs, err := s.ClientsExpiring(time.Now().AddDate(1, 0, 0), "")
	if err != nil {
		return 1
	}
	if _, err := s.RenewClients(recs, RenewParams{}); err != nil {
		return 1
	}
	return 0
}

// TestRenewKilled kills a renewal after its commit, before the files
// move: the next open moves the old files aside and the new into place.
func TestRenewKilled(t *testing.T) {
	s := newTestStore(t)
	s.Now = time.Now
	createRootCA(t, s, "root", nil)
	res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "root", KeyType: x509cert.ECDSAP256, Days: 30}, Items: bulkItems("dev", 20)})
	if err != nil || res.Issued != 20 {
		t.Fatal(res, err)
	}
	dir := s.Dir
	s.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PKI_TEST_HELPER=renew", "PKI_DIR="+dir, "PKI_CRASH_AT=batch-committed")
	if err := cmd.Run(); !killedBySignal(err) {
		t.Fatalf("not killed: %v", err)
	}
	checkConsistent(t, dir)
	s, err = OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, serial := range res.Serials {
		r, err := s.Lookup(KindClient, name)
		if err != nil || r.Renews != serial || r.Dir != "clients/"+name {
			t.Fatalf("%s: %+v", name, r)
		}
		if _, err := os.Stat(filepath.Join(dir, "superseded", name, serial, "cert.pem")); err != nil {
			t.Fatal(err)
		}
	}
}
