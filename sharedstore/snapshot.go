package sharedstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/pki"
)

// The snapshot is a shared shortcut for a cold listing: every record's
// JSON as some earlier listing read it, in one gzip object, so that a
// machine with no listing cache reads one object instead of a GET per
// record. It decides nothing: an entry is used only when the MD5 of its
// bytes is the ETag the LIST just returned for that record (S3's ETag of a
// single-part upload without SSE-KMS or SSE-C is the MD5 of its content),
// so a stale or forged snapshot costs GETs and never changes a listing.
// A listing that had to GET many records writes a fresh one, conditional
// on the one it read; a reader without write access just does not.

// snapshotKey is where the snapshot lives.
func (s *Store) snapshotKey() string { return s.Prefix + "snapshot/records.json.gz" }

type snapshotFile struct {
	// Records maps a serial to the record's JSON exactly as stored.
	Records map[string]string `json:"records"`
}

// maxSnapshot bounds what a snapshot may decompress to (about 350,000
// records): whoever may write it cannot make every cold listing hold
// gigabytes. A larger store lists without it, a GET per record.
const maxSnapshot = 256 << 20

// snapshotRewriteAt is how many records a listing must GET before it
// writes a new snapshot: below it, the snapshot is nearly current.
const snapshotRewriteAt = 64

// readSnapshot returns the snapshot and its ETag; none (or one that
// cannot be read) is an empty snapshot.
func (s *Store) readSnapshot(ctx context.Context) (map[string]string, string) {
	out, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.snapshotKey())})
	if err != nil {
		return nil, ""
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return nil, aws.ToString(out.ETag)
	}
	var f snapshotFile
	if err := json.NewDecoder(io.LimitReader(zr, maxSnapshot)).Decode(&f); err != nil {
		return nil, aws.ToString(out.ETag)
	}
	return f.Records, aws.ToString(out.ETag)
}

// etagIsMD5 reports whether etag is the MD5 of data.
func etagIsMD5(etag string, data []byte) bool {
	sum := md5.Sum(data)
	return strings.Trim(etag, `"`) == hex.EncodeToString(sum[:])
}

// fromSnapshot decodes serial's entry if it is exactly the stored record.
func fromSnapshot(snap map[string]string, serial, etag string) (*pki.Record, []byte) {
	raw, ok := snap[serial]
	if !ok || !etagIsMD5(etag, []byte(raw)) {
		return nil, nil
	}
	var r pki.Record
	if json.Unmarshal([]byte(raw), &r) != nil || r.Serial != serial {
		return nil, nil
	}
	return &r, []byte(raw)
}

// snapshotWriter gathers what a listing read for the next snapshot.
type snapshotWriter struct {
	mu      sync.Mutex
	records map[string]string
	hits    []cachedHit // from the listing cache: encoded only if written
	fetched int         // records read with a GET
	md5     bool        // some GET showed ETags are MD5s here
}

type cachedHit struct {
	serial, etag string
	rec          *pki.Record
}

// cached notes a record the listing cache supplied.
func (w *snapshotWriter) cached(serial, etag string, r *pki.Record) {
	w.mu.Lock()
	w.hits = append(w.hits, cachedHit{serial, etag, r})
	w.mu.Unlock()
}

func (w *snapshotWriter) add(serial, etag string, raw []byte, fetched bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if fetched {
		w.fetched++
	}
	if raw == nil || !etagIsMD5(etag, raw) {
		return
	}
	w.md5 = w.md5 || fetched
	w.records[serial] = string(raw)
}

// write replaces the snapshot read with etag (none: ""), if the listing
// fetched enough records to make it worth it and the ETags here are MD5s
// at all. Failure changes nothing and is not reported: the snapshot is
// only ever a shortcut.
func (w *snapshotWriter) write(ctx context.Context, s *Store, etag string) {
	if w.fetched < snapshotRewriteAt || !w.md5 {
		return
	}
	for _, h := range w.hits {
		// The cache holds decoded records; encoded again they are the
		// stored bytes unless the record was written by another version
		// of apimtls, which the MD5 check leaves out.
		if raw, err := json.Marshal(h.rec); err == nil {
			w.add(h.serial, h.etag, raw, false)
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if json.NewEncoder(zw).Encode(snapshotFile{Records: w.records}) != nil || zw.Close() != nil {
		return
	}
	if err := s.put(ctx, s.snapshotKey(), buf.Bytes(), etag, "application/gzip"); err != nil && !errors.Is(err, errPrecondition) {
		var code string
		if code = awserr.Code(err); code != "AccessDenied" {
			s.note(fmt.Sprintf("the listing snapshot %s was not written (%v): the next cold listing reads every record", s.snapshotKey(), err))
		}
	}
}
