package pki

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"
)

// A bulk run stages its files in .staging/bulk-<random>/<serial>/, a
// directory whose lock file (.lock) it holds for its whole life. Between
// batches it releases the inventory, so another process (a second bulk
// run, a client list) gets its turn; their recovery leaves a batch alone
// while its lock is held.
const (
	batchPrefix   = "bulk-"
	batchLockFile = ".lock"
	// sharedPrefix names the batch directories of a shared store, whose
	// .store file says which one.
	sharedPrefix   = "shared-"
	batchStoreFile = ".store"
	// DefaultBatchSize is how many certificates one inventory transaction
	// records.
	DefaultBatchSize = 500
)

// BulkItem is one client of a bulk issuance: Params.Name and whatever
// differs per client (common name, SANs, days, CSR). Source says where it
// came from ("line 7", "device-1.csr") for messages.
type BulkItem struct {
	Source string
	Params ClientParams
}

// BulkParams describes a bulk issuance.
type BulkParams struct {
	// Common holds what every item shares: CA, Organization, KeyType, Days,
	// P12, CAPassphrase. An item's own non-zero values win.
	Common ClientParams
	Items  []BulkItem
	// Workers generating keys and signing; 0: one per core.
	Workers int
	// BatchSize is the number of certificates per inventory transaction;
	// 0: DefaultBatchSize.
	BatchSize int
	// FailFast stops at the first failure (what is already signed is still
	// recorded).
	FailFast bool
	// Progress, when set, is called once before the first certificate and
	// then after each certificate is signed (or fails), from one
	// goroutine: a run of slow RSA-4096 keys moves as it goes, not once a
	// batch. It must return quickly; a display throttles itself.
	Progress func(BulkProgress)
	// Context, when it ends (Ctrl-C, SIGTERM), stops the run after the
	// certificates already signed are recorded; the result is then
	// ErrInterrupted, and running the same request again issues the rest.
	Context context.Context
	// renew, set by RenewBulk, links each new record to the one it renews;
	// keepPrevious is how long each renewed certificate stays valid once
	// its successor is recorded (RenewParams.KeepPrevious).
	renew        []*Record
	keepPrevious time.Duration
}

// BulkProgress is how far a bulk run is: Done items of Total are signed,
// failed or skipped (already in the inventory), Elapsed after the start.
type BulkProgress struct {
	Done, Total int
	Elapsed     time.Duration
}

// BulkFailure is one item that was not issued, and why.
type BulkFailure struct {
	Name   string `json:"name,omitempty"`
	Source string `json:"source,omitempty"`
	Reason string `json:"reason"`
}

// BulkResult is the outcome of a bulk run.
type BulkResult struct {
	Requested int `json:"requested"`
	Issued    int `json:"issued"`
	// Skipped counts names already in the inventory: a re-run after a
	// crash issues only the rest.
	Skipped int           `json:"skipped"`
	Failed  []BulkFailure `json:"failed"`
	// Ignored lists the entries of a CSR directory that were not read
	// (links, pipes, folders, hidden files), each with why.
	Ignored []BulkFailure `json:"ignored,omitempty"`
	Issuer  string        `json:"issuer,omitempty"`
	Seconds float64       `json:"seconds"`
	// Rate is certificates issued per second.
	Rate float64 `json:"rate"`
	// Serials maps each issued name to its new serial.
	Serials map[string]string `json:"-"`
}

// IssueBulk issues many clients: keys generated and certificates signed on
// every core, files staged and synced once per batch, each batch recorded
// in one inventory transaction and then moved into place. Names already in
// the inventory are skipped, so re-running the same request after a crash
// issues exactly what is missing. The store must be open for writing.
func (s *Store) IssueBulk(p BulkParams) (*BulkResult, error) {
	start := time.Now()
	res := &BulkResult{Requested: len(p.Items), Failed: []BulkFailure{}, Serials: map[string]string{}}
	ic, err := s.clientIssuer(p.Common)
	if err != nil {
		return nil, err
	}
	res.Issuer = ic.rec.Name
	todo, err := s.bulkTodo(p, res)
	if err != nil {
		return nil, err
	}
	if len(todo) == 0 || (p.FailFast && len(res.Failed) > 0) {
		return finish(res, start), nil
	}
	b, err := s.newBatchDir()
	if err != nil {
		return nil, err
	}
	defer b.close()
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	size := p.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	now := s.Now()
	jobs := make(chan int)
	out := make(chan built, 2*size) // workers keep signing while a batch commits
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				out <- s.buildStaged(ic, p, i, now, b.dir)
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, i := range todo {
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	// The inventory is released while keys are made, and taken per batch.
	s.backend().release()
	var (
		pending  []built
		firstErr error
		stopped  bool
	)
	done := res.Skipped + len(res.Failed)
	progress := func() {
		if p.Progress != nil {
			p.Progress(BulkProgress{Done: done, Total: len(p.Items), Elapsed: time.Since(start)})
		}
	}
	progress()
	flush := func() {
		if len(pending) == 0 || (firstErr != nil && !errors.Is(firstErr, ErrInterrupted)) {
			return
		}
		if err := s.commitBatch(b, pending, p, res); err != nil {
			firstErr = err
			return
		}
		pending = pending[:0]
	}
	var interrupted <-chan struct{}
	if p.Context != nil {
		interrupted = p.Context.Done()
	}
	for {
		var r built
		var ok bool
		select {
		case r, ok = <-out:
		case <-interrupted:
			interrupted = nil // once; keep draining what is in flight
			if !stopped {
				stopped = true
				close(stop)
			}
			if firstErr == nil {
				firstErr = ErrInterrupted
			}
			continue
		}
		if !ok {
			break
		}
		done++
		progress()
		if r.err != nil {
			res.Failed = append(res.Failed, BulkFailure{Name: p.Items[r.index].Params.Name, Source: p.Items[r.index].Source, Reason: r.err.Error()})
			if p.FailFast && !stopped {
				stopped = true
				close(stop)
			}
			continue
		}
		pending = append(pending, r)
		if len(pending) >= size {
			flush()
			if firstErr != nil && !stopped {
				stopped = true
				close(stop)
			}
		}
	}
	flush()
	if err := s.backend().retake(); err != nil && firstErr == nil {
		firstErr = err
	}
	if errors.Is(firstErr, ErrInterrupted) && res.Issued+res.Skipped+len(res.Failed) == res.Requested {
		firstErr = nil // interrupted after the last one: nothing was left undone
	}
	if firstErr != nil {
		return finish(res, start), firstErr
	}
	return finish(res, start), nil
}

// ErrInterrupted is a bulk run stopped by its context: what was signed is
// recorded, the rest is not issued.
var ErrInterrupted = errkind.New(errkind.Interrupted, "interrupted: the certificates signed so far are recorded, the rest were not issued; run the same command again to issue them")

func finish(res *BulkResult, start time.Time) *BulkResult {
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.Rate = float64(res.Issued) / res.Seconds
	}
	return res
}

// bulkTodo returns the indexes of the items to issue: bad or repeated
// names fail, names already in the inventory are skipped.
func (s *Store) bulkTodo(p BulkParams, res *BulkResult) ([]int, error) {
	var todo []int
	seen := make(map[string]string, len(p.Items))
	err := s.backend().issuedNames(func(issued func(name string) bool) {
		for i, it := range p.Items {
			name := it.Params.Name
			fail := func(reason string) {
				res.Failed = append(res.Failed, BulkFailure{Name: name, Source: it.Source, Reason: reason})
			}
			if err := CheckClientName(name); err != nil {
				fail(err.Error())
				continue
			}
			if first, dup := seen[name]; dup {
				fail(fmt.Sprintf("the name %q is also on %s", name, first))
				continue
			}
			seen[name] = it.Source
			if p.renew == nil && issued(name) {
				res.Skipped++
				continue
			}
			if p.renew == nil && exists(filepath.Join(s.Dir, clientsDir, name)) {
				fail(fmt.Sprintf("the directory %s exists but is not in the inventory; move it away", filepath.Join(s.Dir, clientsDir, name)))
				continue
			}
			todo = append(todo, i)
		}
	})
	return todo, err
}

// built is one signed client whose files are staged.
type built struct {
	index  int
	staged string
	bc     *builtClient
	err    error
}

// buildStaged signs item i and writes its files into the batch directory,
// unsynced: the batch is synced once before its commit.
func (s *Store) buildStaged(ic *clientCA, p BulkParams, i int, now time.Time, dir string) built {
	it := p.Items[i].Params
	c := p.Common
	c.Name, c.CSR, c.URIs = it.Name, it.CSR, it.URIs
	c.DNSNames, c.Emails = it.DNSNames, it.Emails
	c.key, c.subject = it.key, it.subject
	if it.CommonName != "" {
		c.CommonName = it.CommonName
	}
	if it.Days != 0 {
		c.Days = it.Days
	}
	if it.KeyType != "" {
		c.KeyType = it.KeyType
	}
	if it.CSR != nil {
		c.P12 = nil
	}
	bc, err := s.buildClient(ic, c, now)
	if err != nil {
		return built{index: i, err: err}
	}
	if p.renew != nil {
		bc.issued.Record.Renews = p.renew[i].Serial
	}
	staged := filepath.Join(dir, bc.issued.Record.Serial)
	if err := os.Mkdir(staged, dirMode); err != nil {
		return built{index: i, err: fmt.Errorf("stage files: %w", err)}
	}
	if err := s.backend().stageClaim(dir, bc.issued.Record); err != nil {
		os.RemoveAll(staged)
		return built{index: i, err: err}
	}
	for _, f := range bc.files {
		if err := writeNew(filepath.Join(staged, f.name), f.data, f.mode, false); err != nil {
			os.RemoveAll(staged)
			return built{index: i, err: err}
		}
		bc.issued.Record.Files = append(bc.issued.Record.Files, bc.issued.Record.Dir+"/"+f.name)
	}
	return built{index: i, staged: staged, bc: bc}
}

// commitBatch makes a batch durable, records it and moves its directories
// into place (the backend's commitBatch, with the store taken back for
// it), and syncs the moves.
func (s *Store) commitBatch(b *batchDir, batch []built, p BulkParams, res *BulkResult) error {
	dirs := make([]string, len(batch))
	for i, r := range batch {
		dirs[i] = r.staged
	}
	if err := syncStaged(b.dir, dirs); err != nil {
		return fmt.Errorf("sync staged files: %w", err)
	}
	crashHook("batch-staged")
	if err := s.backend().retake(); err != nil {
		return err
	}
	defer s.backend().release()
	if err := s.backend().commitBatch(b, batch, p, res); err != nil {
		return err
	}
	if err := syncDir(s.Layout().Clients()); err != nil {
		return err
	}
	return syncDir(b.dir)
}

// batchDir is a bulk run's staging directory and its lock.
type batchDir struct {
	dir  string
	lock *os.File
	keep bool
}

func (s *Store) newBatchDir() (*batchDir, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Dir, stagingDir, s.backend().batchPrefix()+hex.EncodeToString(r[:]))
	if err := os.Mkdir(dir, dirMode); err != nil {
		return nil, fmt.Errorf("stage files: %w", err)
	}
	lock, ok, err := lockBatch(filepath.Join(dir, batchLockFile))
	if err == nil && ok {
		err = s.backend().markBatch(dir)
	}
	if err != nil || !ok {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock %s: %v", dir, err)
	}
	return &batchDir{dir: dir, lock: lock}, nil
}

// close removes the batch directory: everything in it was committed and
// moved, or never recorded. With keep (a committed entry could not be
// moved into place) it only releases the lock, and the next run finishes
// the move.
func (b *batchDir) close() {
	if !b.keep {
		os.RemoveAll(b.dir)
	}
	b.lock.Close()
}
