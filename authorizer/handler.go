package authorizer

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apimtls/apimtls/revocation"
)

// Handler answers authorizer events. One Handler lives for the whole
// Lambda execution environment, so its caches outlast invocations.
type Handler struct {
	Config Config
	Log    *slog.Logger
	Now    func() time.Time // nil: time.Now

	objects  objectCache
	external *revocation.External
	// history keeps the highest CRL number seen per CA for the
	// environment's life: an older CRL put back in S3 is crl_rollback.
	history revocation.CRLHistory
}

// NewHandler builds a handler over an S3 client.
func NewHandler(cfg Config, api S3API, log *slog.Logger) *Handler {
	h := &Handler{Config: cfg, Log: log}
	h.objects = objectCache{api: api, ttl: cfg.CacheTTL}
	if cfg.ExternalCRL || cfg.ExternalOCSP {
		h.external = &revocation.External{CRL: cfg.ExternalCRL, OCSP: cfg.ExternalOCSP}
	}
	return h
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Handle answers one raw event. An event it cannot read is an error (API
// Gateway then answers 500 and lets nothing through); every other outcome
// is a response, deny included.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	ev, err := ParseEvent(raw)
	if err != nil {
		h.Log.Warn("deny", "reason", "bad_event", "detail", err.Error())
		return nil, errors.New("Unauthorized")
	}
	d := h.decide(ctx, ev)
	h.logDecision(ev, d)
	return h.response(ev, d), nil
}

// decide turns the event into a revocation decision.
func (h *Handler) decide(ctx context.Context, ev *Event) revocation.Decision {
	now := h.now()
	if ev.ClientCertPEM == "" {
		return revocation.Decision{Reason: revocation.NoClientCert, Detail: "the event has no clientCert: is mutual TLS enabled on the custom domain, and the default endpoint disabled?"}
	}
	cert, err := parseClientCert(ev.ClientCertPEM)
	if err != nil {
		return revocation.Decision{Reason: revocation.BadCertificate, Detail: err.Error()}
	}
	ts, err := h.truststore(ctx, now)
	if err != nil {
		return revocation.Decision{Reason: revocation.EmptyTruststore, Detail: err.Error(), Cert: cert}
	}
	chk := revocation.Checker{
		Truststore: ts,
		CRLs:       &s3CRLs{h: h, now: now},
		History:    &h.history,
		Options:    revocation.Options{SoftFail: h.Config.SoftFail, External: h.external},
	}
	return chk.Decide(ctx, cert, now)
}

func parseClientCert(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("clientCertPem is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("clientCertPem: %w", err)
	}
	return cert, nil
}

func (h *Handler) truststore(ctx context.Context, now time.Time) (*revocation.Truststore, error) {
	c := h.Config
	v, err := h.objects.get(ctx, c.TruststoreBucket, c.TruststoreKey, c.TruststoreVersion, now, func(data []byte) (any, error) {
		return revocation.ParseTruststore(data)
	})
	if errors.Is(err, errNoObject) {
		return nil, fmt.Errorf("truststore s3://%s/%s: no such object", c.TruststoreBucket, c.TruststoreKey)
	}
	if err != nil {
		return nil, fmt.Errorf("truststore s3://%s/%s: %w", c.TruststoreBucket, c.TruststoreKey, err)
	}
	return v.(*revocation.Truststore), nil
}

// s3CRLs is the CRL source of one invocation: CA KeyID -> S3 object.
type s3CRLs struct {
	h   *Handler
	now time.Time
}

// CRL implements revocation.CRLSource: the one object of the CA, whatever
// its scope; the Checker refuses it for a certificate it does not cover.
func (s *s3CRLs) CRL(ctx context.Context, ca *revocation.CA, _ *x509.Certificate) (*revocation.CRL, error) {
	c := s.h.Config
	key := c.CRLKey(ca)
	v, err := s.h.objects.get(ctx, c.CRLBucket, key, "", s.now, func(data []byte) (any, error) {
		return revocation.ParseCRL(data)
	})
	switch {
	case errors.Is(err, errNoObject):
		return nil, revocation.ErrNoCRL
	case err != nil && v == nil && isParseError(err):
		return nil, &revocation.InvalidCRLError{Where: "s3://" + c.CRLBucket + "/" + key, Err: err}
	case err != nil:
		return nil, err
	}
	return v.(*revocation.CRL), nil
}

// isParseError tells a CRL that did not parse (kept in the cache with its
// ETag) from a failed request.
func isParseError(err error) bool {
	var pe *parseError
	return errors.As(err, &pe)
}
