package pki

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apimtls/apimtls/internal/errkind"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// InventoryDamagedError says inventory.db cannot be read: truncated,
// overwritten or corrupted. The certificate files are the source of truth
// and RebuildInventory makes a new inventory from them.
type InventoryDamagedError struct {
	Path   string
	Reason string
}

func (e *InventoryDamagedError) Error() string {
	return fmt.Sprintf("the inventory %s is damaged (%s)", e.Path, e.Reason)
}

// boltMagic is the number bbolt writes in both meta pages of a database.
const boltMagic = 0xED0CDAED

// checkInventoryFile looks at an existing inventory before bbolt does:
// bbolt answers a 0-byte file opened read-only with "bad file descriptor"
// and reads a corrupted one into assertion panics.
func checkInventoryFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open inventory: %w", err)
	}
	defer f.Close()
	head := make([]byte, 32)
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0:
		return &InventoryDamagedError{path, "the file is empty"}
	case err != nil:
		return &InventoryDamagedError{path, fmt.Sprintf("the file is only %d bytes", n)}
	}
	// Page header (16 bytes), then the meta: magic first, in the byte
	// order of the machine that wrote it; apimtls runs on little-endian
	// machines, which is all bbolt's users in practice.
	if binary.LittleEndian.Uint32(head[16:20]) != boltMagic {
		return &InventoryDamagedError{path, "it is not a bbolt database"}
	}
	return nil
}

// openInventory opens inventory.db, turning every sign of damage, panics
// included, into an *InventoryDamagedError.
func openInventory(path string, write bool) (db *bolt.DB, err error) {
	if err := checkInventoryFile(path); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &InventoryDamagedError{path, fmt.Sprint(r)}
		}
	}()
	db, err = bolt.Open(path, keyMode, &bolt.Options{Timeout: lockTimeout, ReadOnly: !write})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w (waited %s for its lock on %s)", ErrLocked, lockTimeout, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, &InventoryDamagedError{path, err.Error()}
	}
	return nil, fmt.Errorf("open inventory: %w", err)
}

// guard runs a transaction, turning a bbolt panic (its answer to a page
// that does not hold what it should) into an *InventoryDamagedError.
// bbolt's View and Update roll back on a panic, so the store stays closable.
func (b *boltBackend) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &InventoryDamagedError{Layout{Dir: b.s.Dir}.Inventory(), fmt.Sprint(r)}
		}
	}()
	return fn()
}

// checkBuckets reports whether every bucket and the schema are in place,
// or the inventory is of schema 1, which the first record written
// upgrades (writeRecord): a command that only refuses leaves it as it was.
func checkBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketCerts, bucketNames, bucketMeta} {
		if tx.Bucket(b) == nil {
			return errors.New("missing bucket")
		}
	}
	if v := string(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != schemaVersion && v != schemaNoIndex {
		return errors.New("schema")
	}
	return nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*InventoryDamagedError) ErrorKind() errkind.Kind { return errkind.Invalid }
