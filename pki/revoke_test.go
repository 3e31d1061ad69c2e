package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/x509cert"
)

// serialsOf is the serials of recs, sorted.
func serialsOf(recs []*Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Serial)
	}
	slices.Sort(out)
	return out
}

// renewOne renews the named client's current certificate.
func renewOne(t *testing.T, s *Store, name string, p RenewParams) *Record {
	t.Helper()
	cur, err := s.Lookup(KindClient, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewClients([]*Record{cur}, p); err != nil {
		t.Fatal(err)
	}
	next, err := s.Lookup(KindClient, name)
	if err != nil || next.Serial == cur.Serial {
		t.Fatalf("renewing %s: still %s, %v", name, cur.Serial, err)
	}
	return next
}

// TestRenewalRetiresThePrevious: by default the certificate a renewal
// supersedes is revoked (superseded) at once and the next CRL lists it;
// --keep-previous moves that to a later time; KeepUntilExpiry (rotate ca)
// never lists it.
func TestRenewalRetiresThePrevious(t *testing.T) {
	s := newTestStore(t)
	ca := createRootCA(t, s, "root", nil)
	for _, tc := range []struct {
		name   string
		keep   time.Duration
		listed bool // in the CRL signed right after the renewal
		at     *time.Time
	}{
		{"now", 0, true, &testNow},
		{"week", 7 * 24 * time.Hour, false, new(testNow.Add(7 * 24 * time.Hour))},
		{"forever", KeepUntilExpiry, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := s.IssueClient(ClientParams{Name: "dev-" + tc.name, CA: "root", KeyType: x509cert.ECDSAP256, Days: 90})
			if err != nil {
				t.Fatal(err)
			}
			renewOne(t, s, "dev-"+tc.name, RenewParams{ReuseKey: true, KeepPrevious: tc.keep})
			old, err := s.LookupSerial(first.Record.Serial)
			if err != nil {
				t.Fatal(err)
			}
			if old.Status != StatusSuperseded || old.RevocationReason != ReasonSuperseded && tc.at != nil {
				t.Fatalf("old record %s / %q, want superseded", old.Status, old.RevocationReason)
			}
			if (old.RevokedAt == nil) != (tc.at == nil) || tc.at != nil && !old.RevokedAt.Equal(*tc.at) {
				t.Fatalf("old record retires at %v, want %v", old.RevokedAt, tc.at)
			}
			listed, err := s.RevokedBy(ca.Record)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(serialsOf(listed), old.Serial); got != tc.listed {
				t.Fatalf("in the next CRL: %v, want %v", got, tc.listed)
			}
			if tc.at != nil && tc.keep > 0 && !Retired(old, tc.at.Add(time.Second)) {
				t.Fatal("not retired once the overlap is over")
			}
		})
	}
}

// TestRevokeByNameCoversTheLineage: revoking a client by name revokes
// every unexpired certificate it held, kept overlaps included; by serial,
// exactly that one.
func TestRevokeByNameCoversTheLineage(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	first, err := s.IssueClient(ClientParams{Name: "dev", CA: "root", KeyType: x509cert.ECDSAP256, Days: 90})
	if err != nil {
		t.Fatal(err)
	}
	second := renewOne(t, s, "dev", RenewParams{KeepPrevious: KeepUntilExpiry})
	third := renewOne(t, s, "dev", RenewParams{KeepPrevious: KeepUntilExpiry})
	other, err := s.IssueClient(ClientParams{Name: "other", CA: "root", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}

	one, err := s.Revoke(KindClient, second.Serial, ReasonCessationOfOperation)
	if err != nil {
		t.Fatal(err)
	}
	if got := serialsOf(one.Revoked); !slices.Equal(got, []string{second.Serial}) {
		t.Fatalf("revoke SERIAL revoked %v, want only %s", got, second.Serial)
	}

	all, err := s.Revoke(KindClient, "dev", ReasonCessationOfOperation)
	if err != nil {
		t.Fatal(err)
	}
	if all.Record.Serial != third.Serial {
		t.Fatalf("the name named %s, want the current %s", all.Record.Serial, third.Serial)
	}
	want := serialsOf([]*Record{first.Record, third})
	if got := serialsOf(all.Revoked); !slices.Equal(got, want) {
		t.Fatalf("revoke NAME revoked %v, want %v (the one revoked before is not counted again)", got, want)
	}
	for _, serial := range []string{first.Record.Serial, second.Serial, third.Serial} {
		if r, _ := s.LookupSerial(serial); r.Status != StatusRevoked {
			t.Fatalf("%s is %s after revoking the client", serial, r.Status)
		}
	}
	if r, _ := s.LookupSerial(other.Record.Serial); r.Status != StatusActive {
		t.Fatalf("another client was touched: %s", r.Status)
	}
	again, err := s.Revoke(KindClient, "dev", ReasonCessationOfOperation)
	if err != nil || !again.Already || len(again.Revoked) != 0 {
		t.Fatalf("revoking again: %+v, %v; want already", again, err)
	}
}

// TestKeyCompromiseFollowsTheKey: a compromised key revokes every
// unexpired certificate carrying it, under any name, even when the one
// named is addressed by serial; another key is left alone.
func TestKeyCompromiseFollowsTheKey(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	dir := t.TempDir()
	csr, _ := checkedCSR(t, dir, "dev")
	a, err := s.IssueClient(ClientParams{Name: "dev-a", CA: "root", CSR: csr})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.IssueClient(ClientParams{Name: "dev-b", CA: "root", CSR: csr}) // the same CSR signed twice
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.IssueClient(ClientParams{Name: "dev-c", CA: "root", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Revoke(KindClient, a.Record.Serial, ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := serialsOf(rev.Revoked), serialsOf([]*Record{a.Record, b.Record}); !slices.Equal(got, want) {
		t.Fatalf("keyCompromise revoked %v, want %v", got, want)
	}
	for _, r := range rev.Revoked {
		if r.RevocationReason != ReasonKeyCompromise {
			t.Fatalf("%s revoked for %q", r.Name, r.RevocationReason)
		}
	}
	if r, _ := s.LookupSerial(c.Record.Serial); r.Status != StatusActive {
		t.Fatalf("a client with another key was revoked: %s", r.Status)
	}
	// A milder revocation first, keyCompromise after: the reason is raised,
	// the earlier time kept.
	if _, err := s.IssueClient(ClientParams{Name: "dev-d", CA: "root", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(KindClient, "dev-d", ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return testNow.Add(time.Hour) }
	up, err := s.Revoke(KindClient, "dev-d", ReasonKeyCompromise)
	if err != nil || len(up.Revoked) != 1 || up.Revoked[0].RevocationReason != ReasonKeyCompromise || !up.Revoked[0].RevokedAt.Equal(testNow) {
		t.Fatalf("keyCompromise after cessation: %+v, %v", up, err)
	}
}

// TestNamesNeverShadowSerials: a name that reads as a serial is refused,
// and a serial is never looked up as a name.
func TestNamesNeverShadowSerials(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"dev", true},
		{"cafe", true},
		{"c1", true},
		{"abcdef012345678", true}, // 15 digits: a name
		{"device-0123456789abcdef0123", true},
		{"0123456789abcdef", false},
		{"0123456789ABCDEF0123456789ABCDEF", false},
		{"0xbeef", false},
		{"0XBEEF", false},
	} {
		err := CheckClientName(tc.name)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckClientName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if _, ok := ReadsAsSerial("ab:cd"); !ok {
		t.Error("a reference with colons is a serial")
	}

	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	real, err := s.IssueClient(ClientParams{Name: "real", CA: "root", KeyType: x509cert.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{real.Record.Serial, "0x" + real.Record.Serial, colonHex(real.Record.Serial)} {
		got, err := s.Find(KindClient, ref)
		if err != nil || got.Serial != real.Record.Serial {
			t.Fatalf("Find(%q) = %v, %v", ref, got, err)
		}
	}
	var nf *NotFoundError
	if _, err := s.Find(KindClient, "00000000000000000000000000000001"); !errors.As(err, &nf) || !nf.Serial {
		t.Fatalf("an unknown serial: %v, want a serial not found", err)
	}
}

// colonHex writes a hexadecimal serial as openssl does, ab:cd:...
func colonHex(serial string) string {
	var out []byte
	for i := 0; i < len(serial); i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, serial[i:i+2]...)
	}
	return string(out)
}

// damageInventory overwrites the store's inventory.db with garbage, so
// that RebuildInventory will replace it.
func damageInventory(t *testing.T, s *Store) {
	t.Helper()
	s.Close()
	if err := os.WriteFile(s.Layout().Inventory(), bytes.Repeat([]byte("damaged!"), 512), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reopen opens the store at dir for writing, with the pinned clock, and
// closes it with the test.
func reopen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return testNow }
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRebuildKeepsRevocations: a rebuild reads revocations back from the
// CRLs on disk, so a client whose revocation note is lost stays revoked
// and the next CRL still lists it; a renewal's kept overlap survives the
// rebuild through its superseded note, and one without a note retires when
// its successor starts.
func TestRebuildKeepsRevocations(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := s.IssueClient(ClientParams{Name: name, CA: "root", KeyType: x509cert.ECDSAP256, Days: 90}); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := s.Revoke(KindClient, "alice", ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	alice := rev.Record
	carolOld, _ := s.Lookup(KindClient, "carol")
	renewOne(t, s, "carol", RenewParams{ReuseKey: true, KeepPrevious: 7 * 24 * time.Hour})
	daveOld, _ := s.Lookup(KindClient, "dave")
	daveNew := renewOne(t, s, "dave", RenewParams{ReuseKey: true})
	if _, err := s.SignCRL("root", nil, 0); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir
	l := s.Layout()
	if err := os.Remove(filepath.Join(l.RecordDir(alice), revocationFile)); err != nil {
		t.Fatal(err)
	}
	daveOldNow, _ := s.LookupSerial(daveOld.Serial)
	if err := os.Remove(filepath.Join(l.RecordDir(daveOldNow), supersededFile)); err != nil {
		t.Fatal(err)
	}
	damageInventory(t, s)

	res, err := RebuildInventory(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool {
		return strings.Contains(n, alice.Serial) && strings.Contains(n, "revoked (keyCompromise)")
	}) {
		t.Errorf("no note says alice was revoked from the CRL: %q", res.Notes)
	}
	s = reopen(t, dir)
	got, err := s.LookupSerial(alice.Serial)
	if err != nil || got.Status != StatusRevoked || got.RevocationReason != ReasonKeyCompromise {
		t.Fatalf("alice after rebuild: %+v, %v; want revoked (keyCompromise)", got, err)
	}
	if got, _ := s.LookupSerial(carolOld.Serial); got.RevokedAt == nil || !got.RevokedAt.Equal(testNow.Add(7*24*time.Hour)) {
		t.Errorf("carol's previous certificate retires at %v after rebuild, want %v as --keep-previous said", got.RevokedAt, testNow.Add(7*24*time.Hour))
	}
	if got, _ := s.LookupSerial(daveOld.Serial); got.RevokedAt == nil || !got.RevokedAt.Equal(daveNew.NotBefore) {
		t.Errorf("dave's previous certificate (no note) retires at %v after rebuild, want its successor's start %v", got.RevokedAt, daveNew.NotBefore)
	}
	crl, err := s.SignCRL("root", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range list.RevokedCertificateEntries {
		listed[x509cert.SerialHexInt(e.SerialNumber)] = true
	}
	if !listed[alice.Serial] || !listed[daveOld.Serial] || listed[carolOld.Serial] {
		t.Errorf("CRL after rebuild lists %v; want alice %s and dave's previous %s, not carol's kept %s", listed, alice.Serial, daveOld.Serial, carolOld.Serial)
	}
}

// TestLocalCRLRefusesUnrevocation: when the inventory no longer says a
// certificate is revoked but the CA's last CRL lists it, ca crl refuses to
// sign, naming the serial, and leaves the last CRL as it was.
func TestLocalCRLRefusesUnrevocation(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	if _, err := s.IssueClient(ClientParams{Name: "bob", CA: "root", KeyType: x509cert.ECDSAP256, Days: 90}); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Revoke(KindClient, "bob", ReasonUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	bob := rev.Record
	if _, err := s.SignCRL("root", nil, 0); err != nil {
		t.Fatal(err)
	}
	// Lose the revocation the way an operator could: the note deleted and
	// the inventory rebuilt while the CRLs were elsewhere.
	dir, l := s.Dir, s.Layout()
	os.Remove(filepath.Join(l.RecordDir(bob), revocationFile))
	aside := t.TempDir()
	for _, p := range []string{l.CRL("root"), l.CRLPEM("root")} {
		if err := os.Rename(p, filepath.Join(aside, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	damageInventory(t, s)
	if _, err := RebuildInventory(dir, testNow); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{l.CRL("root"), l.CRLPEM("root")} {
		if err := os.Rename(filepath.Join(aside, filepath.Base(p)), p); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, dir)
	if got, _ := s.LookupSerial(bob.Serial); got.Status != StatusActive {
		t.Fatalf("setup: bob is %s, want active (the revocation lost)", got.Status)
	}
	before, _ := os.ReadFile(l.CRL("root"))
	_, err = s.SignCRL("root", nil, 0)
	if !errors.Is(err, ErrUnrevoked) || !strings.Contains(err.Error(), bob.Serial) || !strings.Contains(err.Error(), l.CRL("root")) {
		t.Fatalf("ca crl: %v; want ErrUnrevoked naming %s and %s", err, bob.Serial, l.CRL("root"))
	}
	if after, _ := os.ReadFile(l.CRL("root")); !bytes.Equal(before, after) {
		t.Fatal("the refused ca crl changed the last CRL")
	}
	if _, err := s.Revoke(KindClient, bob.Serial, ReasonUnspecified); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignCRL("root", nil, 0); err != nil {
		t.Fatalf("after revoking again: %v", err)
	}
}

// TestRebuildKeepsCRLNumberFromEitherCopy: with crl/NAME.crl lost, the
// rebuild takes the CRL number from ca/NAME/crl.pem, so the next CRL is
// numbered above every one published (never a rollback).
func TestRebuildKeepsCRLNumberFromEitherCopy(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	for range 2 {
		if _, err := s.SignCRL("root", nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	dir, l := s.Dir, s.Layout()
	if err := os.Remove(l.CRL("root")); err != nil {
		t.Fatal(err)
	}
	damageInventory(t, s)
	if _, err := RebuildInventory(dir, testNow); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir)
	crl, err := s.SignCRL("root", nil, 0)
	if err != nil || crl.Number != 3 {
		t.Fatalf("the CRL after the rebuild is number %v (%v), want 3", crl, err)
	}
}
