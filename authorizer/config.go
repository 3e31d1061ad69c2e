// Package authorizer is the Lambda authorizer that enforces revocation for
// an API Gateway custom domain with mutual TLS: API Gateway hands it the
// client certificate, it answers allow or deny with the decision of package
// revocation, over the truststore and CRLs that apimtls publishes to S3.
//
// It serves REST API REQUEST authorizers (payload 1.0, IAM policy) and HTTP
// API authorizers (payload 1.0 with an IAM policy, payload 2.0 with the
// simple response or an IAM policy), telling the payload from the event.
package authorizer

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apimtls/apimtls/revocation"
)

// Environment variables (docs/revocation.md).
const (
	EnvTruststoreURI     = "APIMTLS_TRUSTSTORE_URI"     // s3://bucket/key
	EnvTruststoreVersion = "APIMTLS_TRUSTSTORE_VERSION" // optional S3 version ID
	EnvCRLURI            = "APIMTLS_CRL_URI"            // s3://bucket/prefix/
	EnvSoftFail          = "APIMTLS_REVOCATION_SOFT_FAIL"
	EnvExternal          = "APIMTLS_EXTERNAL_REVOCATION" // crl,ocsp
	EnvCacheTTL          = "APIMTLS_CACHE_TTL"           // Go duration or seconds; default 60s
	EnvHTTPResponse      = "APIMTLS_HTTP_API_RESPONSE"   // simple (default) or policy, for payload 2.0
	// EnvResultCacheTTL is the authorizer's result cache TTL in seconds,
	// set by authorizer deploy: above 0, API Gateway applies a cached
	// policy to every method of the stage, so the policy must name them
	// all (response.go).
	EnvResultCacheTTL = "APIMTLS_RESULT_CACHE_TTL"
)

// DefaultCacheTTL is how long a fetched truststore or CRL is used before S3
// is asked again (with If-None-Match, so an unchanged object costs a 304).
const DefaultCacheTTL = 60 * time.Second

// Config is the authorizer's configuration.
type Config struct {
	TruststoreBucket, TruststoreKey, TruststoreVersion string
	CRLBucket, CRLPrefix                               string
	SoftFail                                           bool
	ExternalCRL, ExternalOCSP                          bool
	CacheTTL                                           time.Duration
	// SimpleResponse answers payload 2.0 events with {isAuthorized,
	// context}; it must match the authorizer's enableSimpleResponses.
	SimpleResponse bool
	// ResultCacheTTL is API Gateway's cache of this authorizer's answers,
	// in seconds (EnvResultCacheTTL); 0 is no caching.
	ResultCacheTTL int
}

// CRLKey is the S3 key of a CA's CRL: the prefix, the CA's KeyID (subject
// key identifier in lowercase hex) and ".crl"; the object is DER.
func (c Config) CRLKey(ca *revocation.CA) string { return c.CRLPrefix + ca.KeyID + ".crl" }

// ConfigFromEnv reads the configuration; every problem is named at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{CacheTTL: DefaultCacheTTL, SimpleResponse: true}
	var err error
	c.TruststoreBucket, c.TruststoreKey, err = parseS3URI(getenv(EnvTruststoreURI))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvTruststoreURI, err))
	} else if c.TruststoreKey == "" || strings.HasSuffix(c.TruststoreKey, "/") {
		errs = append(errs, fmt.Errorf("%s: name the truststore object, as s3://bucket/truststore.pem", EnvTruststoreURI))
	}
	c.TruststoreVersion = getenv(EnvTruststoreVersion)
	c.CRLBucket, c.CRLPrefix, err = parseS3URI(getenv(EnvCRLURI))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvCRLURI, err))
	} else if c.CRLPrefix != "" && !strings.HasSuffix(c.CRLPrefix, "/") {
		errs = append(errs, fmt.Errorf("%s: end the prefix with a slash, as s3://bucket/crl/", EnvCRLURI))
	}
	switch v := getenv(EnvSoftFail); v {
	case "", "0", "false":
	case "1", "true":
		c.SoftFail = true
	default:
		errs = append(errs, fmt.Errorf("%s=%q: use 1 or 0", EnvSoftFail, v))
	}
	if ext, err := revocation.ParseExternal(getenv(EnvExternal)); err != nil {
		errs = append(errs, fmt.Errorf("%s=%w", EnvExternal, err))
	} else if ext != nil {
		c.ExternalCRL, c.ExternalOCSP = ext.CRL, ext.OCSP
	}
	if v := getenv(EnvCacheTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			d, err = time.ParseDuration(v + "s")
		}
		if err != nil || d < 0 || d > time.Hour {
			errs = append(errs, fmt.Errorf("%s=%q: a duration from 0s to 1h, as 60s", EnvCacheTTL, v))
		}
		c.CacheTTL = d
	}
	if v := getenv(EnvResultCacheTTL); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			errs = append(errs, fmt.Errorf("%s=%q: seconds from 0 to 3600, as authorizer deploy --cache-ttl sets them", EnvResultCacheTTL, v))
		}
		c.ResultCacheTTL = n
	}
	switch v := getenv(EnvHTTPResponse); v {
	case "", "simple":
	case "policy", "iam":
		c.SimpleResponse = false
	default:
		errs = append(errs, fmt.Errorf("%s=%q: simple or policy", EnvHTTPResponse, v))
	}
	return c, errors.Join(errs...)
}

// FromEnviron is ConfigFromEnv over the process environment.
func FromEnviron() (Config, error) { return ConfigFromEnv(os.Getenv) }

func parseS3URI(s string) (bucket, key string, err error) {
	if s == "" {
		return "", "", errors.New("not set")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URI", s)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}
