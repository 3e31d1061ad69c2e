package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// External checks the certificates of partner CAs, whose CRLs apimtls does
// not publish, through what the certificates themselves name: CRL
// distribution points and the OCSP responder of the authority information
// access extension. Answers are cached until their nextUpdate.
type External struct {
	CRL  bool // follow CRL distribution points (http and https only)
	OCSP bool // ask the OCSP responder; tried before the CRL when both are on
	// Timeout bounds each fetch. Zero means 3 seconds: a Lambda authorizer
	// has 30 seconds at most and the caller is waiting.
	Timeout time.Duration
	// Client makes the requests; nil means a plain http.Client.
	Client *http.Client

	mu   sync.Mutex
	crls map[string]*CRL       // distribution point URL -> last CRL fetched
	ocsp map[string]ocspAnswer // CA key ID + serial -> last answer
}

type ocspAnswer struct {
	status  int
	entry   *Entry
	expires time.Time
}

// maxCached bounds each cache; past it the cache starts over.
const maxCached = 10_000

func (e *External) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return http.DefaultClient
}

func (e *External) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return 3 * time.Second
}

// check decides one link through the certificate's own pointers, with
// c's rules for the CRLs it fetches.
func (e *External) check(ctx context.Context, c *Checker, cert *x509.Certificate, ca *CA, now time.Time) (Reason, string, *Entry) {
	var failures, scoped []string
	if e.OCSP {
		for _, server := range httpURLs(cert.OCSPServer) {
			r, detail, entry, err := e.checkOCSP(ctx, server, cert, ca, now)
			if err == nil {
				return r, detail, entry
			}
			failures = append(failures, err.Error())
		}
	}
	if e.CRL {
		for _, dp := range httpURLs(cert.CRLDistributionPoints) {
			crl, err := e.fetchCRL(ctx, dp, now)
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			// A partitioned CRL is used only for the certificates that
			// name its partition.
			if !crl.Covers(cert) {
				scoped = append(scoped, "the CRL from "+dp+" covers "+crl.Scope().String()+", not this certificate")
				continue
			}
			return c.checkCRL(crl, cert, ca, now)
		}
	}
	if len(failures) == 0 && len(scoped) > 0 {
		return CRLMissing, "no CRL for CA " + describeCA(ca) + " covers the certificate (RFC 5280 §5.2.5): " + strings.Join(scoped, "; "), nil
	}
	if len(failures) == 0 {
		return CRLMissing, "no CRL for CA " + describeCA(ca) + ", and the certificate names no CRL distribution point or OCSP responder that is enabled", nil
	}
	return RevocationFailed, "external revocation check for CA " + describeCA(ca) + ": " + failures[len(failures)-1], nil
}

func httpURLs(urls []string) []string {
	var out []string
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") {
			out = append(out, u)
		}
	}
	return out
}

func (e *External) get(ctx context.Context, method, u string, body []byte, contentType string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d", method, u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxCRLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return data, nil
}

// fetchCRL returns the CRL at a distribution point, fetched again only
// once the cached one's nextUpdate has passed.
func (e *External) fetchCRL(ctx context.Context, u string, now time.Time) (*CRL, error) {
	e.mu.Lock()
	cached := e.crls[u]
	e.mu.Unlock()
	if cached != nil && now.Before(cached.NextUpdate()) {
		return cached, nil
	}
	data, err := e.get(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return nil, err
	}
	crl, err := ParseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("CRL from %s: %w", u, err)
	}
	e.mu.Lock()
	if e.crls == nil || len(e.crls) >= maxCached {
		e.crls = map[string]*CRL{}
	}
	e.crls[u] = crl
	e.mu.Unlock()
	return crl, nil
}

// checkOCSP asks server about cert. An error means no usable answer.
func (e *External) checkOCSP(ctx context.Context, server string, cert *x509.Certificate, ca *CA, now time.Time) (Reason, string, *Entry, error) {
	key := ca.KeyID + "/" + hex.EncodeToString(cert.SerialNumber.Bytes())
	e.mu.Lock()
	a, ok := e.ocsp[key]
	e.mu.Unlock()
	if !ok || !now.Before(a.expires) {
		var err error
		a, err = e.askOCSP(ctx, server, cert, ca, now)
		if err != nil {
			return "", "", nil, err
		}
		if !a.expires.IsZero() {
			e.mu.Lock()
			if e.ocsp == nil || len(e.ocsp) >= maxCached {
				e.ocsp = map[string]ocspAnswer{}
			}
			e.ocsp[key] = a
			e.mu.Unlock()
		}
	}
	switch a.status {
	case ocsp.Good:
		return OK, "", nil, nil
	case ocsp.Revoked:
		return Revoked, fmt.Sprintf("OCSP responder %s: serial %s revoked at %s (reason %d)", server, hex.EncodeToString(cert.SerialNumber.Bytes()), a.entry.Time.UTC().Format(time.RFC3339), a.entry.Reason), a.entry, nil
	default:
		return OCSPUnknown, "OCSP responder " + server + " does not know the certificate", nil, nil
	}
}

func (e *External) askOCSP(ctx context.Context, server string, cert *x509.Certificate, ca *CA, now time.Time) (ocspAnswer, error) {
	req, err := ocsp.CreateRequest(cert, ca.Cert, nil)
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("OCSP request: %w", err)
	}
	body, err := e.get(ctx, http.MethodPost, server, req, "application/ocsp-request")
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("OCSP: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(body, cert, ca.Cert)
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("OCSP response from %s: %w", server, err)
	}
	// A delegated responder must be marked for OCSP signing (RFC 6960
	// §4.2.2.2); otherwise any certificate of the CA, a client's own
	// included, could vouch for itself.
	if rc := resp.Certificate; rc != nil && !bytes.Equal(rc.Raw, ca.Cert.Raw) && !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return ocspAnswer{}, fmt.Errorf("OCSP response from %s: signed by a certificate not allowed to sign OCSP responses", server)
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		return ocspAnswer{}, fmt.Errorf("OCSP response from %s: stale, nextUpdate %s", server, resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	if now.Add(5 * time.Minute).Before(resp.ThisUpdate) {
		return ocspAnswer{}, errors.New("OCSP response from " + server + ": thisUpdate in the future")
	}
	// Without nextUpdate newer information is always available
	// (RFC 6960 §4.2.2.1): such an answer is used once, not cached.
	a := ocspAnswer{status: resp.Status, expires: resp.NextUpdate}
	if resp.Status == ocsp.Revoked {
		a.entry = &Entry{Serial: cert.SerialNumber, Time: resp.RevokedAt, Reason: resp.RevocationReason}
	}
	return a, nil
}
