package sharedstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/apimtls/apimtls/pki"
)

// Cache keeps records between listings. Every write of a record changes
// its ETag, which ListObjectsV2 returns with each key, so a record cached
// under the ETag it was read with is exactly the stored one: a listing
// GETs only the records written since. It holds no secret (records only).
type Cache struct {
	mu      sync.Mutex
	Records map[string]cached `json:"records"`
	// Verified maps a serial to the stamp (ETags of its record, its
	// certificate and its issuers') under which ListVerified last found
	// it holds: unchanged, it is not checked again.
	Verified map[string]string `json:"verified,omitempty"`
	changed  bool
}

type cached struct {
	ETag   string      `json:"etag"`
	Record *pki.Record `json:"record"`
}

// NewCache is an empty cache.
func NewCache() *Cache { return &Cache{Records: map[string]cached{}, Verified: map[string]string{}} }

// LoadCache reads a cache file; a missing or unreadable one is an empty
// cache (it is only ever a shortcut).
func LoadCache(path string) *Cache {
	c := NewCache()
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, c) != nil || c.Records == nil {
		return NewCache()
	}
	if c.Verified == nil {
		c.Verified = map[string]string{}
	}
	return c
}

// Save writes the cache atomically if it changed.
func (c *Cache) Save(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed {
		return nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, data, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("save the listing cache: %w", err)
	}
	return nil
}

func (c *Cache) get(serial, etag string) *pki.Record {
	if c == nil || etag == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.Records[serial]; ok && e.ETag == etag {
		r := *e.Record
		return &r
	}
	return nil
}

func (c *Cache) put(serial, etag string, r *pki.Record) {
	if c == nil || etag == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rr := *r
	c.Records[serial] = cached{ETag: etag, Record: &rr}
	c.changed = true
}

func (c *Cache) verifiedAs(serial string) string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Verified[serial]
}

func (c *Cache) verified(serial, stamp string) {
	if c == nil || stamp == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Verified[serial] != stamp {
		c.Verified[serial] = stamp
		c.changed = true
	}
}
