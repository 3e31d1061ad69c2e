package pki

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// TestListCodecRoundTrip: every field of a Record survives the listing
// index, and a field added to Record without the codec learning it fails
// here.
func TestListCodecRoundTrip(t *testing.T) {
	if n := reflect.TypeFor[Record]().NumField(); n != recordFields {
		t.Fatalf("Record has %d fields, the listing codec knows %d: teach appendListEntry and decodeListEntry the new ones", n, recordFields)
	}
	pl, revoked := 0, time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("", 3600))
	full := &Record{Serial: "00ab", Kind: KindIntermediate, Name: "n", Subject: "CN=n,O=é", Issuer: "root", IssuerSerial: "0f1e",
		Level: 2, PathLen: &pl, KeyType: x509cert.RSA3072, NotBefore: testNow, NotAfter: testNow.AddDate(1, 0, 0), SHA256: "ABCDEF",
		SANs: []string{"a.example", "", "spiffe://x"}, Status: StatusRevoked, KeyEncrypted: true, KMSKeyARN: "arn:aws:kms:x",
		FromCSR: true, RevokedAt: &revoked, RevocationReason: ReasonKeyCompromise, SupersededBy: "123", Renews: "ab",
		Dir: "clients/n", Files: []string{"clients/n/cert.pem", "elsewhere/key.pem", "clients/nx"}, CreatedAt: testNow.Add(time.Nanosecond)}
	v := reflect.ValueOf(full).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test record leaves %s unset", v.Type().Field(i).Name)
		}
	}
	for _, r := range []*Record{full, {Serial: "1"}, {Serial: "2", Files: []string{}, Level: -1, NotAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}} {
		var got Record
		if err := decodeListEntry([]byte(r.Serial), appendListEntry(nil, r), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", &got, r)
		}
		var brief Brief
		if err := decodeBriefEntry([]byte(r.Serial), appendListEntry(nil, r), &brief); err != nil || !sameBrief(&brief, briefOf(r)) {
			t.Fatalf("brief: %+v, %v; want %+v", brief, err, briefOf(r))
		}
		if whole, err := brief.Record(); err != nil || !reflect.DeepEqual(whole, r) {
			t.Fatalf("Brief.Record: %+v, %v; want %+v", whole, err, r)
		}
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(&got)
		if string(a) != string(b) {
			t.Fatalf("JSON differs:\n%s\n%s", b, a)
		}
	}
	entry := appendListEntry(nil, full)
	for n := range len(entry) {
		var b Brief
		err := decodeBriefEntry([]byte("00ab"), entry[:n], &b)
		if err == nil {
			_, err = b.Record()
		}
		if decodeListEntry([]byte("00ab"), entry[:n], new(Record)) == nil || err == nil {
			t.Fatalf("an entry cut to %d of %d bytes decoded", n, len(entry))
		}
	}
}

// sameListing fails unless the listing index says exactly what the
// records do: a writer that forgets the index fails it.
func sameListing(t *testing.T, s *Store, step string) {
	t.Helper()
	want, err := s.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	var indexed bool
	if err := inventoryOf(s).view(func(tx *bolt.Tx) error { indexed = hasListIndex(tx); return nil }); err != nil || !indexed {
		t.Fatalf("%s: the inventory has no listing index (%v)", step, err)
	}
	got := indexRecords(t, s)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: the listing index (%d entries) disagrees with the records (%d)", step, len(got), len(want))
	}
	brief, err := s.ListBrief(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(brief) != len(want) {
		t.Fatalf("%s: ListBrief has %d records, List %d", step, len(brief), len(want))
	}
	bySerial := map[string]*Brief{}
	for i, b := range brief {
		bySerial[b.Serial] = b
		if i > 0 && compareListed(brief[i-1].Kind, brief[i-1].Level, brief[i-1].Name, b.Kind, b.Level, b.Name) > 0 {
			t.Fatalf("%s: ListBrief is not sorted at %d", step, i)
		}
	}
	for _, r := range want {
		b := bySerial[r.Serial]
		if b == nil || !sameBrief(b, briefOf(r)) {
			t.Fatalf("%s: ListBrief gives\n%+v\nfor\n%+v", step, b, r)
		}
		if whole, err := b.Record(); err != nil || !reflect.DeepEqual(whole, r) {
			t.Fatalf("%s: Brief.Record gives\n%+v (%v)\nfor\n%+v", step, whole, err, r)
		}
	}
}

// indexRecords decodes the listing index itself, sorted as List sorts.
func indexRecords(t *testing.T, s *Store) []*Record {
	t.Helper()
	var out []*Record
	err := inventoryOf(s).view(func(tx *bolt.Tx) error {
		var err error
		out, err = decodeBucket(tx, bucketList, decodeListEntry, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	SortRecords(out)
	return out
}

// sameBrief compares what a Brief shows, not where it came from.
func sameBrief(a, b *Brief) bool {
	x, y := *a, *b
	x.rest, x.rec, y.rest, y.rec = "", nil, "", nil
	return x == y
}

// TestListingIndexFollowsEveryWriter builds a mixed inventory with every
// kind of write (CA, client, CSR-signed client, revocation, renewal, bulk
// issuance and renewal, rebuild) and compares the index-based listing with
// the decoded records after each.
func TestListingIndexFollowsEveryWriter(t *testing.T) {
	s := newTestStore(t)
	s.Now = time.Now
	createRootCA(t, s, "root", nil)
	if _, err := s.CreateCA(CAParams{Name: "issuing", Parent: "root", CommonName: "Issuing", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
		t.Fatal(err)
	}
	sameListing(t, s, "CAs")
	for _, n := range []string{"acme", "globex", "initech"} {
		if _, err := s.IssueClient(ClientParams{Name: n, CA: "issuing", KeyType: x509cert.ECDSAP256, DNSNames: []string{n + ".example"}, Days: 30}); err != nil {
			t.Fatal(err)
		}
	}
	csr, _ := checkedCSR(t, t.TempDir(), "dev")
	if _, err := s.IssueClient(ClientParams{Name: "dev", CA: "issuing", CSR: csr}); err != nil {
		t.Fatal(err)
	}
	sameListing(t, s, "issue")
	if _, err := s.Revoke(KindClient, "globex", ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	sameListing(t, s, "revoke")
	if res, err := s.IssueBulk(BulkParams{Common: ClientParams{CA: "issuing", KeyType: x509cert.ECDSAP256}, Items: bulkItems("dev", 40)}); err != nil || res.Issued != 40 {
		t.Fatal(res, err)
	}
	sameListing(t, s, "bulk issue")
	acme, err := s.Lookup(KindClient, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.RenewClients([]*Record{acme}, RenewParams{}); err != nil || res.Issued != 1 {
		t.Fatal(res, err)
	}
	sameListing(t, s, "renew")
	expiring, err := s.ClientsExpiring(time.Now().AddDate(2, 0, 0), "issuing")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.RenewClients(expiring, RenewParams{ReuseKey: true}); err != nil || res.Issued < 40 {
		t.Fatal(res, err)
	}
	sameListing(t, s, "bulk renew")
	if _, err := s.Revoke(KindIntermediate, "issuing", ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	sameListing(t, s, "revoke CA")
	before, err := s.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	if err := os.Remove(s.Layout().Inventory()); err != nil {
		t.Fatal(err)
	}
	if _, err := RebuildInventory(s.Dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := OpenStore(s.Dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sameListing(t, r, "rebuild")
	after, err := r.List(nil)
	if err != nil || len(after) != len(before) {
		t.Fatalf("rebuilt %d records of %d: %v", len(after), len(before), err)
	}
}

// TestListingOldInventory: an inventory written before the index (schema
// 1, and here a stale index too) is listed from its records when opened
// read-only, left as it was, and indexed when first opened for writing.
func TestListingOldInventory(t *testing.T) {
	s := newTestStore(t)
	createRootCA(t, s, "root", nil)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := s.IssueClient(ClientParams{Name: n, CA: "root", KeyType: x509cert.ECDSAP256}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(KindClient, "b", ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	want, err := s.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	// What an older apimtls leaves: schema 1; and an index entry that no
	// longer says what the record does (b revoked, the index says active).
	err = inventoryOf(s).db.Update(func(tx *bolt.Tx) error {
		old := *want[2]
		old.Status, old.RevokedAt, old.RevocationReason = StatusActive, nil, ""
		if old.Name != "b" {
			t.Fatalf("record 2 is %s", old.Name)
		}
		if err := tx.Bucket(bucketList).Put([]byte(old.Serial), appendListEntry(nil, &old)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(schemaNoIndex))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := s.Layout().Inventory()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	r, err := OpenStore(s.Dir, false)
	if err != nil {
		t.Fatal(err)
	}
	briefs, err := r.ListBrief(nil)
	r.Close()
	if err != nil || len(briefs) != len(want) {
		t.Fatalf("read-only ListBrief of an old inventory: %d of %d, %v", len(briefs), len(want), err)
	}
	for i, b := range briefs {
		if whole, err := b.Record(); err != nil || !sameBrief(b, briefOf(want[i])) || !reflect.DeepEqual(whole, want[i]) {
			t.Fatalf("read-only ListBrief of an old inventory: %+v for %+v (%v)", whole, want[i], err)
		}
	}
	if now, _ := os.ReadFile(path); string(now) != string(data) {
		t.Fatal("listing read-only changed the inventory")
	}

	// Opened for writing by a command that then refuses: still untouched.
	w, err := OpenStore(s.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Revoke(KindClient, "nobody", ReasonSuperseded); err == nil {
		t.Fatal("revoked a client that does not exist")
	}
	if now, _ := os.ReadFile(path); string(now) != string(data) {
		t.Fatal("a refused command upgraded the inventory")
	}
	if briefs, err := w.ListBrief(nil); err != nil || len(briefs) != len(want) || briefs[2].Status != StatusRevoked {
		t.Fatalf("schema 1 opened for writing lists %d of %d (%v), or believes its stale index", len(briefs), len(want), err)
	}
	// The first record written builds the index.
	if _, err := w.IssueClient(ClientParams{Name: "d", CA: "root", KeyType: x509cert.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	if err := inventoryOf(w).db.View(func(tx *bolt.Tx) error {
		if !hasListIndex(tx) {
			t.Fatal("the first write left the inventory without its index")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sameListing(t, w, "upgrade")
}
