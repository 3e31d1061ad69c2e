package pki

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// The listing index. The certs bucket holds each record as JSON, the
// inventory's source of truth; the list bucket holds the same records,
// keyed by the same serial, in a compact binary form (listCodec): under
// half the bytes, decoded many times faster. Listing a large inventory
// reads only the index, so it touches a fraction of the pages and decodes
// no JSON.
//
// Every writer of a record writes both, in the same transaction, through
// writeRecord; the entry format never changes without a new schema. A
// damaged entry makes listing fall back to the records. An inventory of
// schema 1 (written before the index existed) gets its index built with
// the first record written to it (writeRecord), and schema 2 from then
// on, which apimtls versions that do not keep the index refuse to write
// ("upgrade apimtls"): they would let it go stale. Opened read-only, a
// schema 1 inventory is listed from its JSON records.
var bucketList = []byte("list")

// schemaNoIndex is the schema of inventories written before the index.
const schemaNoIndex = "1"

// writeRecord stores r, new or replacing the record with its serial, as
// JSON in the certs bucket and in the listing index.
func writeRecord(tx *bolt.Tx, r *Record) error {
	if !hasListIndex(tx) {
		// A schema 1 inventory gets its index with its first write.
		if err := initBuckets(tx); err != nil {
			return err
		}
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketCerts).Put([]byte(r.Serial), v); err != nil {
		return err
	}
	list := tx.Bucket(bucketList)
	if list == nil {
		return errors.New("inventory has no listing index")
	}
	return list.Put([]byte(r.Serial), appendListEntry(nil, r))
}

// buildListIndex writes the index of every record of the certs bucket,
// replacing any index there was.
func buildListIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketList) != nil {
		if err := tx.DeleteBucket(bucketList); err != nil {
			return err
		}
	}
	list, err := tx.CreateBucket(bucketList)
	if err != nil {
		return err
	}
	// Keys arrive in order: full pages instead of half-full ones.
	list.FillPercent = 1
	recs, err := decodeRecords(tx, nil)
	if err != nil {
		return err
	}
	for _, r := range recs {
		// bbolt keeps the value until the commit: one buffer each.
		if err := list.Put([]byte(r.Serial), appendListEntry(nil, r)); err != nil {
			return err
		}
	}
	return nil
}

// hasListIndex reports whether the inventory's listing index can be
// trusted: written by a version that keeps it.
func hasListIndex(tx *bolt.Tx) bool {
	meta := tx.Bucket(bucketMeta)
	return meta != nil && string(meta.Get([]byte("schema"))) == schemaVersion && tx.Bucket(bucketList) != nil
}

// ListBrief returns the Brief of each record that keep accepts, sorted as
// List sorts (and, among equals, by serial), read from the listing index:
// what client list shows costs a fraction of decoding whole records, and
// Brief.Record decodes one when it is needed. An inventory without the
// index is listed from its records. keep must be safe to call from
// several goroutines.
func (s *Store) ListBrief(keep func(*Brief) bool) ([]*Brief, error) {
	out, err := s.backend().listBrief(keep)
	slices.SortFunc(out, func(a, b *Brief) int {
		if c := compareListed(a.Kind, a.Level, a.Name, b.Kind, b.Level, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
	return out, err
}

// compareListed orders CAs before clients, then by level and name, as
// sortRecords does.
func compareListed(ka Kind, la int, na string, kb Kind, lb int, nb string) int {
	switch {
	case ka.IsCA() != kb.IsCA():
		if ka.IsCA() {
			return -1
		}
		return 1
	case la != lb:
		return cmp.Compare(la, lb)
	}
	return strings.Compare(na, nb)
}

// listCodec: the fields of a Record, the serial excepted (it is the key),
// those of a Brief first. Strings are a uvarint length and the bytes;
// hexadecimal strings and file paths under the record's directory carry a
// flag in the length's low bit and are stored as bytes or relative paths.
// Times are Unix seconds, nanoseconds and the zone offset. recordFields
// is checked by a test against Record, so that a field added to Record
// and not here fails it.
const recordFields = 24

func appendListEntry(b []byte, r *Record) []byte {
	// What client list shows and filters on comes first (a Brief):
	// ListBrief decodes it, Brief.Record the rest when asked.
	b = appendStr(b, string(r.Kind))
	b = appendStr(b, r.Name)
	b = appendStr(b, r.Issuer)
	b = appendHexStr(b, r.IssuerSerial)
	b = binary.AppendVarint(b, int64(r.Level))
	b = appendStr(b, string(r.KeyType))
	b = appendTime(b, r.NotAfter)
	b = appendStr(b, r.Status)

	b = appendStr(b, r.Subject)
	if r.PathLen == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, int64(*r.PathLen))
	}
	b = appendTime(b, r.NotBefore)
	b = appendHexStr(b, r.SHA256)
	b = binary.AppendUvarint(b, uint64(len(r.SANs)))
	for _, s := range r.SANs {
		b = appendStr(b, s)
	}
	b = append(b, boolByte(r.KeyEncrypted)|boolByte(r.FromCSR)<<1|boolByte(r.RevokedAt != nil)<<2|boolByte(r.Files != nil)<<3)
	b = appendStr(b, r.KMSKeyARN)
	if r.RevokedAt != nil {
		b = appendTime(b, *r.RevokedAt)
	}
	b = appendStr(b, string(r.RevocationReason))
	b = appendHexStr(b, r.SupersededBy)
	b = appendHexStr(b, r.Renews)
	b = appendStr(b, r.Dir)
	b = binary.AppendUvarint(b, uint64(len(r.Files)))
	prefix := r.Dir + "/"
	for _, f := range r.Files {
		if rel, ok := strings.CutPrefix(f, prefix); ok {
			b = binary.AppendUvarint(b, uint64(len(rel))<<1|1)
			b = append(b, rel...)
		} else {
			b = binary.AppendUvarint(b, uint64(len(f))<<1)
			b = append(b, f...)
		}
	}
	return appendTime(b, r.CreatedAt)
}

// Brief is what client list shows and filters on of a record: the
// first fields of its index entry; Record decodes the rest.
type Brief struct {
	Serial       string
	Kind         Kind
	Name         string
	Issuer       string
	IssuerSerial string
	Level        int
	KeyType      x509cert.KeyType
	NotAfter     time.Time
	Status       string

	rest string  // the rest of its index entry, for Record
	rec  *Record // or the record itself, listed without the index
}

// Record is the whole record the Brief was listed from, decoded now: a
// list prints each record as it goes instead of holding them all.
func (b *Brief) Record() (*Record, error) {
	if b.rec != nil {
		return b.rec, nil
	}
	r := &Record{Serial: b.Serial, Kind: b.Kind, Name: b.Name, Issuer: b.Issuer, IssuerSerial: b.IssuerSerial,
		Level: b.Level, KeyType: b.KeyType, NotAfter: b.NotAfter, Status: b.Status}
	d := listDecoder{s: b.rest}
	if err := d.rest(b.Serial, r); err != nil {
		return nil, err
	}
	return r, nil
}

// StatusAt is the status at time t, as Record.StatusAt says it.
func (b *Brief) StatusAt(t time.Time) string { return statusAt(b.Status, b.NotAfter, t) }

// briefsOf is the Briefs of recs that keep accepts.
func briefsOf(recs []*Record, keep func(*Brief) bool) []*Brief {
	var out []*Brief
	for _, r := range recs {
		if b := briefOf(r); keep == nil || keep(b) {
			out = append(out, b)
		}
	}
	return out
}

func briefOf(r *Record) *Brief {
	return &Brief{Serial: r.Serial, Kind: r.Kind, Name: r.Name, Issuer: r.Issuer, IssuerSerial: r.IssuerSerial,
		Level: r.Level, KeyType: r.KeyType, NotAfter: r.NotAfter, Status: r.Status, rec: r}
}

func decodeListEntry(key, v []byte, r *Record) error {
	d := listDecoder{s: string(v)} // one allocation: the strings are its parts
	b := d.brief(key)
	r.Serial, r.Kind, r.Name, r.Issuer, r.IssuerSerial = b.Serial, b.Kind, b.Name, b.Issuer, b.IssuerSerial
	r.Level, r.KeyType, r.NotAfter, r.Status = b.Level, b.KeyType, b.NotAfter, b.Status
	return d.rest(string(key), r)
}

func decodeBriefEntry(key, v []byte, b *Brief) error {
	d := listDecoder{s: string(v)} // one allocation: the strings are its parts
	*b = d.brief(key)
	if d.err != nil {
		return fmt.Errorf("listing index entry %s is corrupt", key)
	}
	b.rest = d.s
	return nil
}

func (d *listDecoder) brief(key []byte) Brief {
	return Brief{
		Serial:       string(key),
		Kind:         Kind(d.str()),
		Name:         d.str(),
		Issuer:       d.str(),
		IssuerSerial: d.hexStr(),
		Level:        int(d.varint()),
		KeyType:      x509cert.KeyType(d.str()),
		NotAfter:     d.time(),
		Status:       d.str(),
	}
}

// rest decodes what follows the brief part of an entry.
func (d *listDecoder) rest(key string, r *Record) error {
	r.Subject = d.str()
	if d.byte() == 1 {
		pl := int(d.varint())
		r.PathLen = &pl
	}
	r.NotBefore = d.time()
	r.SHA256 = d.hexStr()
	if n := d.count(); n > 0 {
		r.SANs = make([]string, n)
		for i := range r.SANs {
			r.SANs[i] = d.str()
		}
	}
	flags := d.byte()
	r.KeyEncrypted, r.FromCSR = flags&1 != 0, flags&2 != 0
	r.KMSKeyARN = d.str()
	if flags&4 != 0 {
		t := d.time()
		r.RevokedAt = &t
	}
	r.RevocationReason = Reason(d.str())
	r.SupersededBy = d.hexStr()
	r.Renews = d.hexStr()
	r.Dir = d.str()
	if n := d.count(); n > 0 || flags&8 != 0 {
		r.Files = make([]string, n)
		for i := range r.Files {
			l := d.uvarint()
			s := d.take(l >> 1)
			if l&1 != 0 {
				s = r.Dir + "/" + s
			}
			r.Files[i] = s
		}
	}
	r.CreatedAt = d.time()
	if d.err != nil || len(d.s) != 0 {
		return fmt.Errorf("listing index entry %s is corrupt", key)
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendHexStr stores lowercase hexadecimal of even length as its bytes
// (half the size), anything else as appendStr would, with the length
// shifted left and the low bit saying which.
func appendHexStr(b []byte, s string) []byte {
	if len(s)%2 == 0 && isLowerHex(s) {
		b = binary.AppendUvarint(b, uint64(len(s)/2)<<1|1)
		b, _ = hex.AppendDecode(b, []byte(s)) // checked: it is hex
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func appendTime(b []byte, t time.Time) []byte {
	_, off := t.Zone()
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// listDecoder reads what appendListEntry wrote; the first error sticks.
type listDecoder struct {
	s   string
	err error
}

var errShortEntry = errors.New("short entry")

func (d *listDecoder) fail() {
	d.err, d.s = errShortEntry, ""
}

func (d *listDecoder) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.fail()
	return 0
}

func (d *listDecoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *listDecoder) take(n uint64) string {
	if n > uint64(len(d.s)) {
		d.fail()
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *listDecoder) byte() byte {
	if len(d.s) == 0 {
		d.fail()
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *listDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)) { // every element takes at least a byte
		d.fail()
		return 0
	}
	return int(n)
}

func (d *listDecoder) str() string { return d.take(d.uvarint()) }

func (d *listDecoder) hexStr() string {
	l := d.uvarint()
	v := d.take(l >> 1)
	if l&1 == 0 {
		return v
	}
	const digits = "0123456789abcdef"
	var sb strings.Builder // one allocation, where hex.EncodeToString makes two
	sb.Grow(2 * len(v))
	for i := range len(v) {
		sb.WriteByte(digits[v[i]>>4])
		sb.WriteByte(digits[v[i]&15])
	}
	return sb.String()
}

func (d *listDecoder) time() time.Time {
	sec, nsec, off := d.varint(), d.uvarint(), d.varint()
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}
