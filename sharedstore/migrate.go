package sharedstore

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/pki"
)

// NotMoved is a file of the local PKI directory that migration left where
// it is, and why.
type NotMoved struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// MigrateConflict is a local record the shared store holds differently.
type MigrateConflict struct {
	Kind   pki.Kind `json:"kind"`
	Name   string   `json:"name"`
	Serial string   `json:"serial"`
	Error  string   `json:"error"`
}

// CRLNumber is the CRL number a migration carried on.
type CRLNumber struct {
	CA     string `json:"ca"`
	Serial string `json:"ca_serial"`
	Number uint64 `json:"crl_number"`
}

// Migrated says what Migrate did.
type Migrated struct {
	From       string            `json:"from"`
	To         string            `json:"to"`
	Records    int               `json:"records"`
	Moved      int               `json:"moved"`
	Skipped    int               `json:"skipped_identical"`
	CAKeys     []NotMoved        `json:"ca_keys"`
	NotMoved   []NotMoved        `json:"not_moved"`
	CRLNumbers []CRLNumber       `json:"crl_numbers"`
	Conflicts  []MigrateConflict `json:"conflicts"`
	// Encryption is the bucket's default encryption, when the caller
	// read it (CheckBucket); Notes what it found worth saying.
	Encryption string   `json:"bucket_encryption,omitempty"`
	Notes      []string `json:"notes"`
}

// ErrMigrateConflicts is returned (with a full Migrated) when some
// records could not be moved because the shared store holds others.
var ErrMigrateConflicts = errkind.New(errkind.Conflict, "some records are in the shared store with different content: they were not overwritten")

// Migrate copies every record and certificate of the local PKI directory
// dir into the shared store: CAs first (parents before children), then
// clients, Parallel at a time. Nothing that holds a private key is
// written; CA keys are recorded as references (file, encrypted file, KMS
// key ARN) and listed. Re-running it skips what is there and identical;
// a different record under the same serial or name is left alone and
// reported, and the result is ErrMigrateConflicts.
func Migrate(ctx context.Context, dir string, to *Store) (*Migrated, error) {
	l := pki.Layout{Dir: dir}
	if _, err := os.Stat(l.Inventory()); err != nil {
		return nil, fmt.Errorf("no PKI directory at %s (%w): nothing to migrate", dir, err)
	}
	local, err := pki.OpenStore(dir, false)
	if err != nil {
		return nil, err
	}
	defer local.Close()
	recs, err := local.List(nil)
	if err != nil {
		return nil, err
	}
	res := &Migrated{From: dir, To: to.URI(), Records: len(recs), CAKeys: []NotMoved{}, NotMoved: []NotMoved{}, CRLNumbers: []CRLNumber{}, Conflicts: []MigrateConflict{}, Notes: []string{}}
	var mu sync.Mutex
	one := func(r *pki.Record) error {
		c, err := local.Certificate(r)
		if err != nil {
			return err
		}
		created, err := to.Create(ctx, r, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		mu.Lock()
		defer mu.Unlock()
		res.NotMoved = append(res.NotMoved, notMoved(l, r)...)
		switch {
		case err == nil && created.Existed:
			res.Skipped++
		case err == nil:
			res.Moved++
		case conflict(err):
			res.Conflicts = append(res.Conflicts, MigrateConflict{Kind: r.Kind, Name: r.Name, Serial: r.Serial, Error: err.Error()})
		default:
			return fmt.Errorf("%s %q: %w", r.Kind.Noun(), r.Name, err)
		}
		return nil
	}
	var clients []*pki.Record
	for _, r := range recs {
		if !r.Kind.IsCA() {
			clients = append(clients, r)
			continue
		}
		if err := one(r); err != nil {
			return nil, err
		}
		res.CAKeys = append(res.CAKeys, caKey(l, r))
		n, err := crlNumber(l, r)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			if _, err := to.RaiseCRLNumber(ctx, r.Serial, n); err != nil {
				return nil, fmt.Errorf("carry on the CRL number of CA %q: %w", r.Name, err)
			}
			res.CRLNumbers = append(res.CRLNumbers, CRLNumber{CA: r.Name, Serial: r.Serial, Number: n})
		}
	}
	workers := to.Parallel
	if workers <= 0 {
		workers = DefaultParallel
	}
	if err := parallel(ctx, clients, min(workers, 16), one); err != nil {
		return nil, err
	}
	sortNotMoved(res.NotMoved)
	if len(res.Conflicts) > 0 {
		return res, ErrMigrateConflicts
	}
	return res, nil
}

func conflict(err error) bool {
	var ex *pki.ExistsError
	var pe *PendingError
	return errors.As(err, &ex) || errors.As(err, &pe) || errors.Is(err, ErrSerialInUse) || errors.Is(err, ErrDifferentRecord)
}

// parallel runs fn over recs with n workers and returns the first error.
func parallel(ctx context.Context, recs []*pki.Record, n int, fn func(*pki.Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *pki.Record)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := fn(r); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, r := range recs {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// caKey says where a CA's key lives; it stays there.
func caKey(l pki.Layout, r *pki.Record) NotMoved {
	switch {
	case r.KMSKeyARN != "":
		return NotMoved{Path: r.KMSKeyARN, Reason: "CA " + r.Name + ": key in AWS KMS; the record keeps the key ARN, and whoever may use the key signs"}
	case r.KeyEncrypted:
		return NotMoved{Path: l.CAKey(r.Name), Reason: "CA " + r.Name + ": encrypted key file; it stays on this machine (move it to KMS to sign from anywhere)"}
	}
	return NotMoved{Path: l.CAKey(r.Name), Reason: "CA " + r.Name + ": key file; it stays on this machine (move it to KMS to sign from anywhere)"}
}

// notMoved lists a record's files other than its certificate, and why they
// stay.
func notMoved(l pki.Layout, r *pki.Record) []NotMoved {
	var out []NotMoved
	for _, f := range r.Files {
		base := path.Base(f)
		p := filepath.Join(l.Dir, filepath.FromSlash(f))
		switch {
		case base == "cert.pem":
			continue
		case base == "key.pem" && r.Kind.IsCA():
			continue // in CAKeys
		case base == "key.pem":
			out = append(out, NotMoved{Path: p, Reason: "client private key: never written to the shared store"})
		case strings.HasSuffix(base, ".p12"):
			out = append(out, NotMoved{Path: p, Reason: "PKCS #12 file: holds the client's private key"})
		case base == "chain.pem":
			out = append(out, NotMoved{Path: p, Reason: "chain: the certificate and its CAs, all in the shared store"})
		default:
			out = append(out, NotMoved{Path: p, Reason: "not part of the shared store's records"})
		}
	}
	return out
}

func sortNotMoved(n []NotMoved) {
	slices.SortFunc(n, func(a, b NotMoved) int { return strings.Compare(a.Path, b.Path) })
}

// crlNumber is the number of a CA's last signed CRL in the directory, 0
// if it has none. A number bumped for a CRL that was never written is a
// gap, never reused on a signed CRL, so the shared store may hand it out.
func crlNumber(l pki.Layout, r *pki.Record) (uint64, error) {
	der, err := os.ReadFile(l.CRL(r.Name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	list, err := x509.ParseRevocationList(der)
	if err != nil || list.Number == nil || !list.Number.IsUint64() {
		return 0, fmt.Errorf("%s is not a CRL apimtls can read the number of: %v", l.CRL(r.Name), err)
	}
	return list.Number.Uint64(), nil
}
