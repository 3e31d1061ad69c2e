package pki

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimtls/apimtls/x509cert"
)

// Kind says what a recorded certificate is.
type Kind string

// The kinds of certificate in the inventory.
const (
	KindRoot         Kind = "root"
	KindIntermediate Kind = "intermediate"
	KindClient       Kind = "client"
)

// IsCA reports whether the kind is a CA.
func (k Kind) IsCA() bool { return k == KindRoot || k == KindIntermediate }

// Status values of a record.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	// StatusSuperseded marks a client certificate that a renewal replaced:
	// its record stays, reachable by serial, and SupersededBy names the new
	// one; the client's name points at the new record.
	StatusSuperseded = "superseded"
	StatusExpired    = "expired" // computed when shown, never stored
)

// Record is the inventory's entry for one certificate. It holds no secret.
type Record struct {
	Serial       string           `json:"serial"`
	Kind         Kind             `json:"kind"`
	Name         string           `json:"name"`
	Subject      string           `json:"subject"`
	Issuer       string           `json:"issuer,omitempty"`
	IssuerSerial string           `json:"issuer_serial,omitempty"`
	Level        int              `json:"level,omitempty"`
	PathLen      *int             `json:"path_len,omitempty"`
	KeyType      x509cert.KeyType `json:"key_type"`
	NotBefore    time.Time        `json:"not_before"`
	NotAfter     time.Time        `json:"not_after"`
	SHA256       string           `json:"sha256"`
	SANs         []string         `json:"sans,omitempty"`
	Status       string           `json:"status"`
	KeyEncrypted bool             `json:"key_encrypted,omitempty"`
	// KMSKeyARN is set for a CA whose key lives in AWS KMS (no key.pem).
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
	FromCSR   bool   `json:"from_csr,omitempty"`
	// RevokedAt and RevocationReason are set by a revocation; the record
	// and its files stay.
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason Reason     `json:"revocation_reason,omitempty"`
	// SupersededBy and Renews link a renewed certificate to its
	// successor and back.
	SupersededBy string    `json:"superseded_by,omitempty"`
	Renews       string    `json:"renews,omitempty"`
	Dir          string    `json:"dir"`
	Files        []string  `json:"files"`
	CreatedAt    time.Time `json:"created_at"`
}

// StatusAt is the record's status at time t: revoked, superseded, expired
// or active.
func (r *Record) StatusAt(t time.Time) string { return statusAt(r.Status, r.NotAfter, t) }

func statusAt(status string, notAfter, t time.Time) string {
	if status == StatusRevoked || status == StatusSuperseded {
		return status
	}
	if !t.Before(notAfter) {
		return StatusExpired
	}
	return StatusActive
}

func newRecord(kind Kind, name string, c *x509.Certificate) *Record {
	kt, _ := x509cert.KeyTypeOf(c.PublicKey)
	r := &Record{
		Serial:    x509cert.SerialHex(c),
		Kind:      kind,
		Name:      name,
		Subject:   c.Subject.String(),
		KeyType:   kt,
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA256:    x509cert.Fingerprint(c),
		Status:    StatusActive,
	}
	if c.IsCA {
		pl := x509cert.PathLen(c)
		r.PathLen = &pl
	}
	r.SANs = append(r.SANs, c.DNSNames...)
	r.SANs = append(r.SANs, c.EmailAddresses...)
	for _, u := range c.URIs {
		r.SANs = append(r.SANs, u.String())
	}
	for _, ip := range c.IPAddresses {
		r.SANs = append(r.SANs, ip.String())
	}
	return r
}

// Bucket names. certs maps serial to the JSON record; names maps
// "<namespace>/<name>" to the serial of the current certificate by that name.
var (
	bucketCerts = []byte("certs")
	bucketNames = []byte("names")
	bucketMeta  = []byte("meta")
)

// schemaVersion 2 has the listing index (listindex.go).
const schemaVersion = "2"

func nameKey(kind Kind, name string) []byte {
	if kind.IsCA() {
		return []byte("ca/" + name)
	}
	return []byte("client/" + name)
}

func initBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketCerts, bucketNames, bucketMeta, bucketList} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get([]byte("schema")); string(v) {
	case schemaVersion:
		return nil
	case "", schemaNoIndex:
		// New, or written before the listing index: index what is there.
		if err := buildListIndex(tx); err != nil {
			return fmt.Errorf("index the inventory for listing: %w", err)
		}
		return meta.Put([]byte("schema"), []byte(schemaVersion))
	default:
		return fmt.Errorf("inventory schema %s is not the %s this apimtls reads: upgrade apimtls", v, schemaVersion)
	}
}

func getRecord(tx *bolt.Tx, serial string) (*Record, error) {
	b := tx.Bucket(bucketCerts)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(serial))
	if v == nil {
		return nil, nil
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("inventory record %s is corrupt: %w", serial, err)
	}
	return &r, nil
}

func getByName(tx *bolt.Tx, kind Kind, name string) (*Record, error) {
	b := tx.Bucket(bucketNames)
	if b == nil {
		return nil, nil
	}
	serial := b.Get(nameKey(kind, name))
	if serial == nil {
		return nil, nil
	}
	return getRecord(tx, string(serial))
}

func putRecord(tx *bolt.Tx, r *Record) error {
	if err := initBuckets(tx); err != nil {
		return err
	}
	certs := tx.Bucket(bucketCerts)
	if certs.Get([]byte(r.Serial)) != nil {
		return errSerialInUse
	}
	names := tx.Bucket(bucketNames)
	if names.Get(nameKey(r.Kind, r.Name)) != nil {
		return &ExistsError{Kind: r.Kind, Name: r.Name}
	}
	if err := writeRecord(tx, r); err != nil {
		return err
	}
	return names.Put(nameKey(r.Kind, r.Name), []byte(r.Serial))
}

// errSerialInUse means a fresh random serial collided with a recorded one:
// with 128 bits it never happens, but uniqueness is checked, not assumed.
var errSerialInUse = errors.New("serial number already in the inventory")

// decodeRecords decodes every record of the inventory that keep accepts,
// splitting the work across cores: JSON decoding is most of what listing a
// large inventory costs.
func decodeRecords(tx *bolt.Tx, keep func(*Record) bool) ([]*Record, error) {
	return decodeBucket(tx, bucketCerts, func(k, v []byte, r *Record) error {
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("inventory record %s is corrupt: %w", k, err)
		}
		return nil
	}, keep)
}

// decodeBucket decodes every value of a bucket keyed by serial into a
// record, on every core, and keeps those that keep accepts.
func decodeBucket[T any](tx *bolt.Tx, bucket []byte, decode func(k, v []byte, r *T) error, keep func(*T) bool) ([]*T, error) {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil, nil
	}
	// The cursor walks the pages (faulting them in) while workers decode
	// the chunks it has passed, so reading and decoding overlap.
	const chunk = 1024
	type part struct {
		keys, vals [][]byte
		out        []*T
		err        error
	}
	var parts []*part
	work := make(chan *part, 2*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for p := range work {
				recs := make([]T, len(p.vals))
				for i := range p.vals {
					r := &recs[i]
					if p.err = decode(p.keys[i], p.vals[i], r); p.err != nil {
						break
					}
					if keep == nil || keep(r) {
						p.out = append(p.out, r)
					}
				}
			}
		})
	}
	err := func() error {
		// Even when bbolt panics on a damaged page, the workers are done
		// with the pages before the transaction ends.
		defer func() { close(work); wg.Wait() }()
		cur := &part{}
		err := b.ForEach(func(k, v []byte) error {
			if cur.keys == nil {
				cur.keys, cur.vals = make([][]byte, 0, chunk), make([][]byte, 0, chunk)
			}
			cur.keys, cur.vals = append(cur.keys, k), append(cur.vals, v)
			if len(cur.keys) == chunk {
				parts = append(parts, cur)
				work <- cur
				cur = &part{}
			}
			return nil
		})
		if len(cur.keys) > 0 {
			parts = append(parts, cur)
			work <- cur
		}
		return err
	}()
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		if p.err != nil {
			return nil, p.err
		}
		n += len(p.out)
	}
	out := make([]*T, 0, n)
	for _, p := range parts {
		out = append(out, p.out...)
	}
	return out, nil
}
