// Package sharedstore keeps a PKI's records, certificates, revocations and
// CRL numbers in a versioned S3 bucket, so that several operators and CI
// runners can issue and revoke against one CA with nothing of apimtls's own
// to run. There is no lock: every create is a PutObject with If-None-Match
// and every update one with If-Match on the ETag that was read, so two
// writers never both win, and the loser is told, or retries a
// read-modify-write a bounded number of times (docs/team.md, "Shared
// store").
//
// Layout under the prefix:
//
//	names/<ca|client>/<name>   {"serial","claimed_at"}: the uniqueness point of a name, created first
//	certs/<serial>.pem         the certificate, created second
//	records/<serial>.json      the inventory record (pki.Record), created last: the commit point
//	crl-numbers/<ca serial>    the CA's last CRL number, decimal, bumped with If-Match
//
// No private key is ever written: Create takes a record and a certificate,
// and refuses PEM that holds anything but certificates.
package sharedstore

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// API lists the S3 calls the shared store makes.
type API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Defaults of a Store.
const (
	// DefaultRetries bounds the read-modify-write attempts of an update.
	DefaultRetries = 8
	// DefaultParallel is how many GETs List and Check run at once.
	DefaultParallel = 64
	// DefaultStaleAfter is how old a name claim without a record must be
	// before another issuance may take the name over. A writer gives up
	// its own claim after half of it (its lease), so the two never meet
	// unless clocks are skewed by more than the other half.
	DefaultStaleAfter = 10 * time.Minute
)

// Store is one shared PKI: a bucket and a prefix.
type Store struct {
	API    API
	Bucket string
	Prefix string // "" or ending in "/"
	Now    func() time.Time
	// Retries, Parallel and StaleAfter default to the constants above.
	Retries    int
	Parallel   int
	StaleAfter time.Duration
	// Hook, for tests, runs before each step of a write ("claimed",
	// "cert", "record", "update:<key>").
	Hook func(step string)
	// Notes receives what was repaired along the way.
	Notes func(string)
	// Cache, when set, lets List skip the GET of every record unchanged
	// since it was cached. CacheFile, when set and Cache is not, is where
	// List loads it from first: a command that never lists never reads it.
	Cache     *Cache
	CacheFile string
	// NoSnapshot turns the shared listing snapshot off (snapshot.go):
	// List then neither reads nor writes it.
	NoSnapshot bool
}

// ParseURI splits s3://bucket/prefix. The prefix is optional and gets a
// trailing slash.
func ParseURI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("store %q: give s3://bucket/prefix", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := s3store.CheckBucketName(bucket); err != nil {
		return "", "", fmt.Errorf("store %q: %w", uri, err)
	}
	prefix = strings.Trim(prefix, "/")
	if strings.Contains(prefix, "//") || strings.ContainsAny(prefix, "\\\x00") || len(prefix) > 512 {
		return "", "", fmt.Errorf("store %q: invalid prefix %q", uri, prefix)
	}
	if prefix != "" {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// URI is the store's s3:// address.
func (s *Store) URI() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// DamagedError is an object of the store that apimtls cannot read as what
// its key says it is: written by hand, truncated, or by something else.
// Its earlier versions are kept (the bucket keeps versions): restoring
// the last good one repairs it.
type DamagedError struct {
	URI    string
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged (%s): restore its last good version (aws s3api list-object-versions)", e.URI, e.Reason)
}

// damaged is the *DamagedError of the object key.
func (s *Store) damaged(key, reason string) error {
	return &DamagedError{URI: "s3://" + s.Bucket + "/" + key, Reason: reason}
}

// Errors a caller acts on.
var (
	// ErrSerialInUse: another certificate is recorded with that serial.
	ErrSerialInUse = errkind.New(errkind.Conflict, "serial number already in the shared store with another certificate")
	ErrNotFound    = errkind.New(errkind.NotFound, "not in the shared store")
	ErrPrivateKey  = errkind.New(errkind.Invalid, "refusing to write a private key to the shared store")
	// ErrDifferentRecord: a re-run found its serial and name recorded
	// with other content (changed since): never overwritten.
	ErrDifferentRecord = errkind.New(errkind.Conflict, "in the shared store with a different record: refusing to overwrite it")
)

// ConflictError says someone else changed an object between our read and
// our write as often as we were willing to retry.
type ConflictError struct {
	Key      string
	Attempts int
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s was changed by someone else %d times while we updated it: retry", e.Key, e.Attempts)
}

// PendingError says a name is claimed by an issuance that has not written
// its record (yet, or ever: the claim becomes stale after StaleAfter).
type PendingError struct {
	Kind      pki.Kind
	Name      string
	Serial    string
	ClaimedAt time.Time
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s %q is being issued by someone else (serial %s, claimed %s): retry later; an interrupted issuance's claim is taken over %s after it was made (apimtls store check lists them)", e.Kind.Noun(), e.Name, e.Serial, e.ClaimedAt.UTC().Format(time.RFC3339), DefaultStaleAfter)
}

// Is makes a PendingError a pki.ErrPending.
func (e *PendingError) Is(target error) bool { return target == pki.ErrPending }

func namespace(k pki.Kind) string {
	if k.IsCA() {
		return "ca"
	}
	return "client"
}

func (s *Store) nameKey(k pki.Kind, name string) string {
	return s.Prefix + "names/" + namespace(k) + "/" + name
}
func (s *Store) certKey(serial string) string   { return s.Prefix + "certs/" + serial + ".pem" }
func (s *Store) recordKey(serial string) string { return s.Prefix + "records/" + serial + ".json" }
func (s *Store) crlKey(caSerial string) string  { return s.Prefix + "crl-numbers/" + caSerial }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) hook(step string) {
	if s.Hook != nil {
		s.Hook(step)
	}
}

func (s *Store) note(msg string) {
	if s.Notes != nil {
		s.Notes(msg)
	}
}

func (s *Store) staleAfter() time.Duration {
	if s.StaleAfter > 0 {
		return s.StaleAfter
	}
	return DefaultStaleAfter
}

func (s *Store) retries() int {
	if s.Retries > 0 {
		return s.Retries
	}
	return DefaultRetries
}

// CheckBucket refuses a bucket that does not keep versions (every change
// to a record stays recoverable as an object version), and reads its
// default encryption: a bucket without one is reported in the notes, not
// refused (S3 encrypts new objects with SSE-S3 anyway; S3-compatible
// servers may not implement it).
func (s *Store) CheckBucket(ctx context.Context, api s3store.API) (encryption string, notes []string, err error) {
	b := &s3store.Client{API: api}
	if err := b.RequireVersioning(ctx, s.Bucket); err != nil {
		return "", nil, err
	}
	enc, note, err := b.DefaultEncryption(ctx, s.Bucket)
	if err != nil {
		return "", nil, err
	}
	if note != "" {
		notes = append(notes, note+": records and certificates hold no secret, but turn it on (aws s3api put-bucket-encryption) if your policy wants every object encrypted")
	}
	return enc, notes, nil
}

// Empty reports whether nothing is stored under the prefix yet: a new
// shared store, or a mistyped prefix.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	out, err := s.API.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(s.Prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, s3store.Classify(err, "list s3://"+s.Bucket+"/"+s.Prefix)
	}
	return len(out.Contents) == 0, nil
}

// object is what get read: the bytes, the ETag to update against, when.
type object struct {
	data     []byte
	etag     string
	modified time.Time
}

// Bounds on what one GET reads. Whoever may write to the bucket can put
// an object of any size under any key; a read is bounded by its
// Content-Length before anything is read, and by an io.LimitReader in
// case that header lies, so one object can neither hold a command's
// memory nor stall it. An object over its bound is damaged: listed as
// such, never read.
const (
	// maxObject bounds name claims, CRL numbers, records and
	// certificates: apimtls writes each in under 8 KiB.
	maxObject = 64 << 10
	// maxKeptCRL bounds a kept CRL: a million revocations is about
	// 40 MB of DER.
	maxKeptCRL = 64 << 20
)

func (s *Store) get(ctx context.Context, key string) (*object, error) {
	return s.getBounded(ctx, key, maxObject)
}

// getBounded reads key, at most limit bytes; nil when it does not exist,
// a *DamagedError when it is larger.
func (s *Store) getBounded(ctx context.Context, key string, limit int64) (*object, error) {
	out, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		err = s3store.Classify(err, "read s3://"+s.Bucket+"/"+key)
		if errors.Is(err, s3store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	defer out.Body.Close()
	tooBig := func(n int64) error {
		return s.damaged(key, fmt.Sprintf("%d bytes or more, where apimtls writes at most %d: not read", n, limit))
	}
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, tooBig(n)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s.Bucket, key, err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig(limit + 1)
	}
	return &object{data: data, etag: aws.ToString(out.ETag), modified: aws.ToTime(out.LastModified)}, nil
}

// errPrecondition is a create or update that lost to another writer.
var errPrecondition = errors.New("precondition failed")

// put writes key only if it does not exist (etag "") or still has etag.
func (s *Store) put(ctx context.Context, key string, data []byte, etag, contentType string) error {
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String(contentType),
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	_, err := s.API.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	// 412 PreconditionFailed: someone else's create or update came first.
	// 409 ConditionalRequestConflict: S3 saw two conditional writes at
	// once; the same answer, try again.
	switch awserr.Code(err) {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return errPrecondition
	}
	return s3store.Classify(err, "write s3://"+s.Bucket+"/"+key)
}

// backoff sleeps before retry attempt n (1-based): 20 ms doubling, jittered,
// at most 1 s.
func backoff(ctx context.Context, n int) error {
	d := min(20*time.Millisecond<<min(n-1, 6), time.Second)
	d = d/2 + rand.N(d/2+1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// wallNow is the wall clock without Go's monotonic reading, which on
// Linux stops while the machine sleeps: a lease must count a laptop's
// sleep, during which another operator may take the name over.
func wallNow() time.Time { return time.Now().Round(0) }

// nameClaim is the body of names/<kind>/<name>.
type nameClaim struct {
	Serial    string    `json:"serial"`
	ClaimedAt time.Time `json:"claimed_at"`
}

// Created says what Create did.
type Created struct {
	Record *pki.Record
	// Existed: the same record and certificate were there already
	// (a re-run); nothing was written.
	Existed bool
	// TookOver names the serial of a stale claim this create replaced.
	TookOver string
}

// Create records a certificate: its name is claimed (If-None-Match), its
// certificate written, then its record (the commit point). A crash leaves
// at most a claim and a certificate that nothing lists; the claim is taken
// over once stale. Creating the same record and certificate again finds
// them and says so; a different certificate under a taken name is an
// *pki.ExistsError, under a taken serial ErrSerialInUse.
func (s *Store) Create(ctx context.Context, rec *pki.Record, certPEM []byte) (*Created, error) {
	if err := checkCreate(rec, certPEM); err != nil {
		return nil, err
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	start := wallNow()
	res, err := s.claim(ctx, rec)
	if err != nil || res.Existed {
		return res, err
	}
	claimed := true
	defer func() {
		if claimed {
			s.release(rec)
		}
	}()
	s.hook("claimed")
	if err := s.createOrSame(ctx, s.certKey(rec.Serial), certPEM, "application/x-pem-file"); err != nil {
		return nil, err
	}
	s.hook("cert")
	// The lease: past half of StaleAfter another issuance may be about to
	// take the name over, so this one stops short of its commit point.
	if wallNow().Sub(start) > s.staleAfter()/2 {
		return nil, fmt.Errorf("issuing %s %q took longer than its lease (%s): retry", rec.Kind.Noun(), rec.Name, s.staleAfter()/2)
	}
	if err := s.createOrSame(ctx, s.recordKey(rec.Serial), recJSON, "application/json"); err != nil {
		return nil, err
	}
	claimed = false
	s.hook("record")
	return res, nil
}

// checkCreate refuses a record or certificate that does not hold together,
// and any private key.
func checkCreate(rec *pki.Record, certPEM []byte) error {
	if err := pki.CheckName(rec.Name); err != nil {
		return err
	}
	if rec.Kind != pki.KindRoot && rec.Kind != pki.KindIntermediate && rec.Kind != pki.KindClient {
		return fmt.Errorf("record %s: unknown kind %q", rec.Serial, rec.Kind)
	}
	if n, ok := x509cert.NormalizeSerial(rec.Serial); !ok || n != rec.Serial {
		return fmt.Errorf("record of %q: serial %q is not the 32-digit lowercase hexadecimal the inventory uses", rec.Name, rec.Serial)
	}
	rest := certPEM
	var blocks int
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("%w: the certificate of %q holds a %s block", ErrPrivateKey, rec.Name, b.Type)
		}
	}
	if blocks != 1 || bytes.Contains(certPEM, []byte("PRIVATE KEY")) {
		return fmt.Errorf("the certificate of %q must be exactly one PEM CERTIFICATE block", rec.Name)
	}
	c, err := x509cert.DecodeCertificate(certPEM)
	if err != nil {
		return fmt.Errorf("the certificate of %q: %w", rec.Name, err)
	}
	if x509cert.SerialHex(c) != rec.Serial || x509cert.Fingerprint(c) != rec.SHA256 {
		return fmt.Errorf("the certificate of %q has serial %s and SHA-256 %s; the record says %s and %s", rec.Name, x509cert.SerialHex(c), x509cert.Fingerprint(c), rec.Serial, rec.SHA256)
	}
	return nil
}

// claim takes the name for rec.Serial. A claim already ours (a re-run)
// whose record is written and identical is Existed.
func (s *Store) claim(ctx context.Context, rec *pki.Record) (*Created, error) {
	key := s.nameKey(rec.Kind, rec.Name)
	body, _ := json.Marshal(nameClaim{Serial: rec.Serial, ClaimedAt: s.now().UTC()})
	res := &Created{Record: rec}
	for attempt := 1; ; attempt++ {
		err := s.put(ctx, key, body, "", "application/json")
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, errPrecondition) {
			return nil, err
		}
		cur, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if cur == nil { // released between our put and our get
			if attempt >= s.retries() {
				return nil, &ConflictError{Key: key, Attempts: attempt}
			}
			continue
		}
		var c nameClaim
		if err := json.Unmarshal(cur.data, &c); err != nil {
			return nil, fmt.Errorf("s3://%s/%s is damaged: %v", s.Bucket, key, err)
		}
		if c.Serial == "" { // released: take it over
			if err := s.put(ctx, key, body, cur.etag, "application/json"); err == nil {
				return res, nil
			} else if !errors.Is(err, errPrecondition) {
				return nil, err
			}
			if attempt >= s.retries() {
				return nil, &ConflictError{Key: key, Attempts: attempt}
			}
			continue
		}
		held, err := s.GetSerial(ctx, c.Serial)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if held != nil {
			if c.Serial == rec.Serial {
				// Ours, from an earlier run: the same record, or a refusal.
				return s.sameRecord(ctx, rec, held)
			}
			return nil, &pki.ExistsError{Kind: rec.Kind, Name: rec.Name}
		}
		if c.Serial == rec.Serial {
			// Our own claim from an interrupted run: carry on.
			return res, nil
		}
		age := s.now().Sub(cur.modified)
		if age < s.staleAfter() {
			return nil, &PendingError{Kind: rec.Kind, Name: rec.Name, Serial: c.Serial, ClaimedAt: cur.modified}
		}
		if err := s.put(ctx, key, body, cur.etag, "application/json"); err == nil {
			s.note(fmt.Sprintf("%s %q: took over the claim of serial %s, left by an issuance interrupted %s ago (it has no record; its certificate, if any, stays unlisted)", rec.Kind.Noun(), rec.Name, c.Serial, age.Round(time.Second)))
			res.TookOver = c.Serial
			return res, nil
		} else if !errors.Is(err, errPrecondition) {
			return nil, err
		}
		if attempt >= s.retries() {
			return nil, &ConflictError{Key: key, Attempts: attempt}
		}
	}
}

// sameRecord compares what a re-run would write with what is there.
func (s *Store) sameRecord(ctx context.Context, want, have *pki.Record) (*Created, error) {
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(have)
	if !bytes.Equal(a, b) {
		return nil, fmt.Errorf("%s %q (serial %s) is %w", want.Kind.Noun(), want.Name, want.Serial, ErrDifferentRecord)
	}
	return &Created{Record: have, Existed: true}, nil
}

// release gives a claim back after a failed create, so the name is free
// at once instead of after StaleAfter. It only rewrites the claim if it is
// still ours; a failure here leaves a claim that goes stale.
func (s *Store) release(rec *pki.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := s.nameKey(rec.Kind, rec.Name)
	cur, err := s.get(ctx, key)
	if err != nil || cur == nil {
		return
	}
	var c nameClaim
	if json.Unmarshal(cur.data, &c) != nil || c.Serial != rec.Serial {
		return
	}
	if r, err := s.GetSerial(ctx, rec.Serial); r != nil || !errors.Is(err, ErrNotFound) {
		return // committed after all, or nobody can tell: left to go stale
	}
	body, _ := json.Marshal(nameClaim{ClaimedAt: s.now().UTC()})
	s.put(ctx, key, body, cur.etag, "application/json")
}

// createOrSame creates a certificate or record key, or accepts it if it
// already holds data; other content there means the serial is taken.
func (s *Store) createOrSame(ctx context.Context, key string, data []byte, ct string) error {
	err := s.put(ctx, key, data, "", ct)
	if !errors.Is(err, errPrecondition) {
		return err
	}
	cur, err := s.getBounded(ctx, key, max(int64(len(data)), maxObject))
	if err != nil {
		return err
	}
	if cur != nil && bytes.Equal(cur.data, data) {
		return nil
	}
	return fmt.Errorf("%w (s3://%s/%s)", ErrSerialInUse, s.Bucket, key)
}

// GetSerial returns the record with that serial; ErrNotFound if none.
func (s *Store) GetSerial(ctx context.Context, serial string) (*pki.Record, error) {
	r, _, err := s.getRecord(ctx, serial)
	return r, err
}

func (s *Store) getRecord(ctx context.Context, serial string) (*pki.Record, string, error) {
	r, o, err := s.getRecordObject(ctx, serial)
	if err != nil {
		return nil, "", err
	}
	return r, o.etag, nil
}

// getRecordObject is getRecord with the object read, bytes and all.
func (s *Store) getRecordObject(ctx context.Context, serial string) (*pki.Record, *object, error) {
	o, err := s.get(ctx, s.recordKey(serial))
	if err != nil {
		return nil, nil, err
	}
	if o == nil {
		return nil, nil, fmt.Errorf("serial %s: %w", serial, ErrNotFound)
	}
	var r pki.Record
	if err := json.Unmarshal(o.data, &r); err != nil || r.Serial != serial {
		return nil, nil, s.damaged(s.recordKey(serial), "not the record of serial "+serial)
	}
	return &r, o, nil
}

// Get returns the record of the CA or client called name. A name claimed
// by an issuance with no record yet is a *PendingError.
func (s *Store) Get(ctx context.Context, kind pki.Kind, name string) (*pki.Record, error) {
	if err := pki.CheckName(name); err != nil {
		return nil, err
	}
	key := s.nameKey(kind, name)
	o, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	var c nameClaim
	if o != nil {
		if err := json.Unmarshal(o.data, &c); err != nil {
			return nil, s.damaged(key, err.Error())
		}
	}
	if c.Serial == "" {
		return nil, &pki.NotFoundError{Kind: kind, Name: name}
	}
	r, err := s.GetSerial(ctx, c.Serial)
	if errors.Is(err, ErrNotFound) {
		return nil, &PendingError{Kind: kind, Name: name, Serial: c.Serial, ClaimedAt: o.modified}
	}
	if err != nil {
		return nil, err
	}
	return s.current(ctx, r)
}

// Certificate returns the PEM certificate of a serial.
func (s *Store) Certificate(ctx context.Context, serial string) ([]byte, error) {
	o, err := s.get(ctx, s.certKey(serial))
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("certificate of serial %s: %w", serial, ErrNotFound)
	}
	return o.data, nil
}

// update is a bounded read-modify-write of one record with If-Match.
// change returns false when there is nothing to write.
func (s *Store) update(ctx context.Context, serial string, change func(*pki.Record) (bool, error)) (*pki.Record, bool, error) {
	key := s.recordKey(serial)
	for attempt := 1; ; attempt++ {
		r, etag, err := s.getRecord(ctx, serial)
		if err != nil {
			return nil, false, err
		}
		write, err := change(r)
		if err != nil || !write {
			return r, false, err
		}
		data, err := json.Marshal(r)
		if err != nil {
			return nil, false, err
		}
		s.hook("update:" + key)
		err = s.put(ctx, key, data, etag, "application/json")
		if err == nil {
			return r, true, nil
		}
		if !errors.Is(err, errPrecondition) {
			return nil, false, err
		}
		if attempt >= s.retries() {
			return nil, false, &ConflictError{Key: key, Attempts: attempt}
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, false, err
		}
	}
}

// Revoke marks the record with serial revoked at now with reason.
// Revoking twice changes nothing: the first time and reason stay, and
// Revoked is false.
func (s *Store) Revoke(ctx context.Context, serial string, reason pki.Reason) (rec *pki.Record, revoked bool, err error) {
	if _, err := pki.ParseReason(string(reason)); err != nil {
		return nil, false, err
	}
	now := s.now().UTC().Truncate(time.Second)
	return s.update(ctx, serial, func(r *pki.Record) (bool, error) {
		if r.Kind == pki.KindRoot {
			return false, pki.ErrRootRevoke
		}
		out, changed := pki.RevokeRecord(r, reason, now)
		*r = *out
		return changed, nil
	})
}

// NextCRLNumber bumps a CA's CRL number and returns it: one more than the
// last, unique across every writer. A number at pki.MaxCRLNumber is
// refused (a *pki.CRLNumberError), never wrapped.
func (s *Store) NextCRLNumber(ctx context.Context, caSerial string) (uint64, error) {
	return s.bumpCRLNumber(ctx, caSerial, func(cur uint64) (uint64, bool) { return cur + 1, true })
}

// RaiseCRLNumber makes a CA's CRL number at least n (a migration carries
// the local number on); it never lowers it.
func (s *Store) RaiseCRLNumber(ctx context.Context, caSerial string, n uint64) (uint64, error) {
	if n > pki.MaxCRLNumber {
		return 0, fmt.Errorf("CA serial %s: CRL number %d is above %d, the largest apimtls signs", caSerial, n, uint64(pki.MaxCRLNumber))
	}
	return s.bumpCRLNumber(ctx, caSerial, func(cur uint64) (uint64, bool) { return max(cur, n), n > cur })
}

// CRLNumber is a CA's last CRL number, 0 if none was handed out.
func (s *Store) CRLNumber(ctx context.Context, caSerial string) (uint64, error) {
	n, _, err := s.readCRLNumber(ctx, caSerial)
	return n, err
}

func (s *Store) readCRLNumber(ctx context.Context, caSerial string) (uint64, string, error) {
	key := s.crlKey(caSerial)
	o, err := s.get(ctx, key)
	if err != nil || o == nil {
		return 0, "", err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(o.data)), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("s3://%s/%s is damaged: %v", s.Bucket, key, err)
	}
	return n, o.etag, nil
}

func (s *Store) bumpCRLNumber(ctx context.Context, caSerial string, next func(uint64) (uint64, bool)) (uint64, error) {
	if n, ok := x509cert.NormalizeSerial(caSerial); !ok || n != caSerial {
		return 0, fmt.Errorf("CA serial %q is not the inventory's hexadecimal form", caSerial)
	}
	key := s.crlKey(caSerial)
	for attempt := 1; ; attempt++ {
		cur, etag, err := s.readCRLNumber(ctx, caSerial)
		if err != nil {
			return 0, err
		}
		if cur >= pki.MaxCRLNumber {
			// Only a number written by hand gets here: its previous
			// version (the bucket keeps them) is the repair.
			return 0, fmt.Errorf("%w: restore the object's previous version (aws s3api list-object-versions --bucket %s --prefix %s), one at or above the highest CRL kept under %scrls/%s/", &pki.CRLNumberError{Where: "s3://" + s.Bucket + "/" + key, Number: cur}, s.Bucket, key, s.Prefix, caSerial)
		}
		n, write := next(cur)
		if !write {
			return n, nil
		}
		s.hook("update:" + key)
		err = s.put(ctx, key, []byte(strconv.FormatUint(n, 10)+"\n"), etag, "text/plain")
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errPrecondition) {
			return 0, err
		}
		if attempt >= s.retries() {
			return 0, &ConflictError{Key: key, Attempts: attempt}
		}
		if err := backoff(ctx, attempt); err != nil {
			return 0, err
		}
	}
}

// keys lists every key under sub, in pages, sending each to out.
func (s *Store) keys(ctx context.Context, sub string, out func(key, etag string, modified time.Time) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(s.Prefix + sub)}
	for {
		page, err := s.API.ListObjectsV2(ctx, in)
		if err != nil {
			return s3store.Classify(err, "list s3://"+s.Bucket+"/"+s.Prefix+sub)
		}
		for _, o := range page.Contents {
			if err := out(aws.ToString(o.Key), aws.ToString(o.ETag), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}

// List returns every record as stored, sorted as pki.Store.List sorts:
// pages of keys are listed while up to Parallel GETs read the records not
// in the Cache under the ETag listed. Objects that cannot be read as
// records are left out and reported in a *pki.DamagedRecordsError. It
// does not check records against their certificates: ListVerified does,
// and is what every command lists with.
func (s *Store) List(ctx context.Context) ([]*pki.Record, error) {
	recs, _, err := s.list(ctx)
	return recs, err
}

// list is List, with the ETag each record was listed under.
func (s *Store) list(ctx context.Context) ([]*pki.Record, map[string]string, error) {
	if s.Cache == nil && s.CacheFile != "" {
		s.Cache = LoadCache(s.CacheFile)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serials := make(chan string, 1024)
	// The snapshot is read at the first record the cache does not hold:
	// a warm cache never needs it.
	var (
		snap     map[string]string
		snapETag string
		snapRead bool
	)
	snapNext := &snapshotWriter{records: map[string]string{}}
	var (
		mu      sync.Mutex
		out     []*pki.Record
		damaged []pki.DamagedRecord
		etags   = map[string]string{}
		first   error
		wg      sync.WaitGroup
		workers = s.Parallel
	)
	if workers <= 0 {
		workers = DefaultParallel
	}
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for serial := range serials {
				r, o, err := s.getRecordObject(ctx, serial)
				var de *DamagedError
				if errors.As(err, &de) {
					mu.Lock()
					damaged = append(damaged, pki.DamagedRecord{URI: de.URI, Serial: serial, Reason: de.Reason})
					mu.Unlock()
					continue
				}
				if err != nil {
					fail(err)
					continue
				}
				s.Cache.put(serial, o.etag, r)
				snapNext.add(serial, o.etag, o.data, true)
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		}()
	}
	err := s.keys(ctx, "records/", func(key, etag string, _ time.Time) error {
		serial, ok := strings.CutSuffix(strings.TrimPrefix(key, s.Prefix+"records/"), ".json")
		if !ok {
			return nil
		}
		mu.Lock()
		etags[serial] = etag
		mu.Unlock()
		if r := s.Cache.get(serial, etag); r != nil {
			snapNext.cached(serial, etag, r)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
			return nil
		}
		if !snapRead && !s.NoSnapshot {
			snap, snapETag = s.readSnapshot(ctx)
			snapRead = true
		}
		if r, raw := fromSnapshot(snap, serial, etag); r != nil {
			s.Cache.put(serial, etag, r)
			snapNext.add(serial, etag, raw, false)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
			return nil
		}
		select {
		case serials <- serial:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(serials)
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	if err != nil {
		return nil, nil, err
	}
	if snapRead {
		snapNext.write(ctx, s, snapETag)
	}
	pki.SortRecords(out)
	if len(damaged) > 0 {
		slices.SortFunc(damaged, func(a, b pki.DamagedRecord) int { return strings.Compare(a.URI, b.URI) })
		return out, etags, &pki.DamagedRecordsError{Records: damaged}
	}
	return out, etags, nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*DamagedError) ErrorKind() errkind.Kind { return errkind.Invalid }

// ErrorKind says what kind of failure it is (errkind).
func (*ConflictError) ErrorKind() errkind.Kind { return errkind.Conflict }

// ErrorKind says what kind of failure it is (errkind).
func (*PendingError) ErrorKind() errkind.Kind { return errkind.Conflict }
