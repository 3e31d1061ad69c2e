package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/sharedstore"
)

// openShared opens the PKI directory dir as the local half of the shared
// store at uri: records, certificates and CRL numbers there, this
// operator's keys here.
func openShared(c *cli.Context, dir, uri string, write bool) (*pki.Store, error) {
	st, _, notes, err := sharedFrom(c, uri)
	if err != nil {
		return nil, err
	}
	warn := st.Notes
	if write {
		// A mistyped prefix would start a second PKI without a word. The
		// bucket's settings are said then, and by store check, not on
		// every command.
		if empty, err := st.Empty(c.Context); err == nil && empty {
			warn(st.URI() + " is empty: this starts a new shared store there (check the prefix if you meant an existing one)")
			for _, n := range notes {
				warn(n)
			}
		}
	}
	// Only reading commands list; they keep the records they read, loaded
	// at the first listing.
	if !write {
		st.CacheFile = listCachePath(st.Bucket, st.Prefix)
	}
	// Ctrl-C stops a bulk run between certificates (BulkParams.Context);
	// a write already sent to the store is let finish, so an interrupt
	// never leaves a claim without its record.
	s, err := pki.OpenShared(dir, st.Remote(context.WithoutCancel(c.Context)), write)
	if err != nil {
		return nil, err
	}
	if st.CacheFile != "" {
		// Records hold no secret; the cache spares a repeat listing a GET
		// per record unchanged since.
		s.OnClose(func() {
			if st.Cache != nil && os.MkdirAll(filepath.Dir(st.CacheFile), 0o700) == nil {
				st.Cache.Save(st.CacheFile)
			}
		})
	}
	return s, nil
}

// sharedFrom connects to the shared store at uri and checks its bucket
// keeps versions; it returns the bucket's default encryption and notes on
// what it found wanting but accepted.
func sharedFrom(c *cli.Context, uri string) (st *sharedstore.Store, encryption string, notes []string, err error) {
	bucket, prefix, err := sharedstore.ParseURI(uri)
	if err != nil {
		return nil, "", nil, usageError{err}
	}
	cfg, err := awsConfig(c.Context, c)
	if err != nil {
		return nil, "", nil, err
	}
	// List and bulk issuance keep up to DefaultParallel requests in
	// flight: keep that many connections instead of the SDK's default.
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = sharedstore.DefaultParallel
	})
	client, _ := s3ClientFrom(cfg, c)
	warn := func(msg string) { printWarning(c.App.ErrWriter, msg, noColor(c)) }
	st = &sharedstore.Store{API: client, Bucket: bucket, Prefix: prefix, Notes: warn}
	encryption, notes, err = st.CheckBucket(c.Context, client)
	if err != nil {
		return nil, "", nil, sharedError(err, bucket, uri)
	}
	return st, encryption, notes, nil
}

// listCachePath is where the records last read from a shared store are
// kept: the user's cache directory, one file per bucket and prefix.
func listCachePath(bucket, prefix string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	name := strings.ReplaceAll(strings.TrimSuffix(prefix, "/"), "/", "%2F")
	if name == "" {
		name = "%root"
	}
	return filepath.Join(base, "apimtls", bucket, name+".json")
}

// storeOpener is openStore for the packages that open the store
// themselves (setup, rotate): nil, their default, for a local directory.
func storeOpener(c *cli.Context) func(write bool) (*pki.Store, error) {
	if c.String(flagStore) == "" {
		return nil
	}
	return func(write bool) (*pki.Store, error) { return openStore(c, write) }
}

// refuseShared refuses a command that works on a local inventory only.
func refuseShared(c *cli.Context, instead string) error {
	if c.String(flagStore) == "" {
		return nil
	}
	return withHint(fmt.Errorf("%s: %w", commandPath(c), pki.ErrSharedStore), instead)
}

// storeName is where a store's records are, for messages.
func storeName(s *pki.Store) string {
	if u := s.Shared(); u != "" {
		return u
	}
	return s.Dir
}

// sharedError adds the fix to the errors of a shared store's bucket.
func sharedError(err error, bucket, uri string) error {
	where := "the shared store is " + uri + " (--" + flagStore + " or " + envStore + ")"
	switch {
	case errors.Is(err, s3store.ErrVersioningOff), errors.Is(err, s3store.ErrVersionSuspended):
		return withHint(err, "a shared store keeps every change as an object version: aws s3api put-bucket-versioning --bucket "+bucket+" --versioning-configuration Status=Enabled; "+where)
	case errors.Is(err, s3store.ErrNoSuchBucket):
		return withHint(err, "create a versioned, private, encrypted bucket (apimtls truststore push --bucket "+bucket+" --create-bucket makes one), or check the name; "+where)
	case errors.Is(err, s3store.ErrEndpointDown):
		// PKI commands take no --endpoint-url: the endpoint is the
		// environment's.
		return withHint(err, "check AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (unset for AWS itself), and the network; "+where)
	case errors.Is(err, s3store.ErrAccessDenied):
		return withHint(err, "an operator needs s3:ListBucket and s3:GetBucketVersioning on the bucket and s3:GetObject and s3:PutObject under the prefix (docs/team.md, IAM for the shared store); "+where)
	}
	return withHint(s3Error(err, bucket), where)
}
