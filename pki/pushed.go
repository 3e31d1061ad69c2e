package pki

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// pushedFile records the last truststore pushed, so that enabling mTLS can
// default to exactly that URI and version.
const pushedFile = "pushed.json"

// PushedTruststore is where the last pushed truststore is.
type PushedTruststore struct {
	URI       string    `json:"uri"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	VersionID string    `json:"version_id"`
	SHA256    string    `json:"sha256"`
	Endpoint  string    `json:"endpoint,omitempty"`
	PushedAt  time.Time `json:"pushed_at"`
}

// RecordPush replaces the record of the last push, atomically.
func RecordPush(dir string, p PushedTruststore) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create PKI directory: %w", err)
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, pushedFile), append(data, '\n'), publicMode)
}

// LastPush returns the record of the last push, or nil if there was none.
func LastPush(dir string) (*PushedTruststore, error) {
	data, err := os.ReadFile(filepath.Join(dir, pushedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p PushedTruststore
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", filepath.Join(dir, pushedFile), err)
	}
	return &p, nil
}
