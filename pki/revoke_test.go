package pki

import (
	"errors"
	"slices"
	"testing"
	"time"
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
			first, err := s.IssueClient(ClientParams{Name: "dev-" + tc.name, CA: "root", KeyType: ECDSAP256, Days: 90})
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
	first, err := s.IssueClient(ClientParams{Name: "dev", CA: "root", KeyType: ECDSAP256, Days: 90})
	if err != nil {
		t.Fatal(err)
	}
	second := renewOne(t, s, "dev", RenewParams{KeepPrevious: KeepUntilExpiry})
	third := renewOne(t, s, "dev", RenewParams{KeepPrevious: KeepUntilExpiry})
	other, err := s.IssueClient(ClientParams{Name: "other", CA: "root", KeyType: ECDSAP256})
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
	c, err := s.IssueClient(ClientParams{Name: "dev-c", CA: "root", KeyType: ECDSAP256})
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
	if _, err := s.IssueClient(ClientParams{Name: "dev-d", CA: "root", KeyType: ECDSAP256}); err != nil {
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
	real, err := s.IssueClient(ClientParams{Name: "real", CA: "root", KeyType: ECDSAP256})
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
