package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apimtls/apimtls/revocation"
)

// ProbeOptions describe what to prove about an endpoint.
type ProbeOptions struct {
	URL string
	// ClientCert is presented in the second request.
	ClientCert *tls.Certificate
	// RootCAs verify the server; nil means the system roots.
	RootCAs  *x509.CertPool
	Insecure bool
	// DefaultEndpoint, when set, is the execute-api URL that must refuse.
	DefaultEndpoint string
	Timeout         time.Duration
	// ClientRevoked says the client certificate is revoked: then a 200 is
	// the failure, and a 403 passes only with evidence that it was for
	// revocation (see revokedCert).
	ClientRevoked bool
	// GoodCert, when set, is a valid certificate presented before
	// ClientCert, which must be let through: the control that shows a
	// revoked client's 403 is not the gateway refusing everyone.
	GoodCert *tls.Certificate
}

// Verdicts of a check and of a probe. A probe reports only what it saw:
// when nothing it saw proves or disproves enforcement (no DNS name, no
// listener, a timeout, a connection closed before any TLS), it could not
// tell.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictUnknown = "could not tell"
)

// Check is one verdict.
type Check struct {
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Verdict  string `json:"verdict"`
	Observed string `json:"observed"`
	Detail   string `json:"detail,omitempty"`
	Status   int    `json:"http_status,omitempty"`
	// AskedForCert says the server sent a TLS CertificateRequest.
	AskedForCert bool `json:"asked_for_certificate"`
	// Reason is why the gateway says it refused (ReasonHeader, or a
	// "reason" in a JSON body), when it says.
	Reason string `json:"reason,omitempty"`
}

// ProbeResult holds every check; Pass is true when all passed, and Verdict
// is fail when any failed, else could not tell when any could not.
type ProbeResult struct {
	URL     string  `json:"url"`
	Pass    bool    `json:"pass"`
	Verdict string  `json:"verdict"`
	Checks  []Check `json:"checks"`
}

func (r *ProbeResult) add(c Check) {
	c.Pass = c.Verdict == VerdictPass
	r.Checks = append(r.Checks, c)
	switch {
	case c.Verdict == VerdictFail:
		r.Verdict = VerdictFail
	case c.Verdict == VerdictUnknown && r.Verdict != VerdictFail:
		r.Verdict = VerdictUnknown
	}
	r.Pass = r.Verdict == VerdictPass
}

// outcome of one request.
type outcome struct {
	status int
	// asked: the server sent a CertificateRequest during the handshake.
	asked bool
	// unreachable: no TLS conversation took place (DNS, refused, timeout),
	// or the server's own certificate failed; nothing is proven.
	unreachable error
	// ended: the connection ended during or right after the handshake.
	ended error
	// reason: why the gateway says it refused, if it says.
	reason string
}

// Probe requests the URL without a certificate, which must be refused
// after the server asked for one (a handshake failure and HTTP 403 both
// count, docs/apigateway-rules.md#what-clients-and-backends-see), then
// with the good certificate and the client certificate, which must be let
// through (a revoked one refused for revocation), and optionally the
// default endpoint, which must refuse.
func Probe(ctx context.Context, o ProbeOptions) *ProbeResult {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	res := &ProbeResult{URL: o.URL, Pass: true, Verdict: VerdictPass}
	res.add(withoutCert(request(ctx, o, o.URL, nil)))
	var good *Check
	if o.GoodCert != nil {
		c := withCert(request(ctx, o, o.URL, o.GoodCert))
		c.Name = "with the good client certificate"
		res.add(c)
		good = &res.Checks[len(res.Checks)-1]
	}
	switch {
	case o.ClientCert != nil && o.ClientRevoked:
		res.add(revokedCert(request(ctx, o, o.URL, o.ClientCert), good))
	case o.ClientCert != nil:
		res.add(withCert(request(ctx, o, o.URL, o.ClientCert)))
	}
	if o.DefaultEndpoint != "" {
		res.add(defaultEndpoint(request(ctx, o, o.DefaultEndpoint, nil)))
	}
	return res
}

const notAsked = "the server never asked for a client certificate: it does not do mutual TLS"

func withoutCert(out outcome) Check {
	c := Check{Name: "without a client certificate", Status: out.status, AskedForCert: out.asked}
	switch {
	case out.unreachable != nil:
		c.Verdict, c.Observed, c.Detail = VerdictUnknown, "could not tell", out.unreachable.Error()
	case out.ended != nil && out.asked:
		c.Verdict, c.Observed, c.Detail = VerdictPass, "refused during the TLS handshake", out.ended.Error()
	case out.ended != nil:
		c.Verdict, c.Observed = VerdictUnknown, "could not tell"
		c.Detail = "the connection ended before the server asked for a client certificate: " + out.ended.Error()
	case !out.asked:
		c.Verdict, c.Observed, c.Detail = VerdictFail, fmt.Sprintf("answered with HTTP %d", out.status), notAsked
	case out.status == http.StatusForbidden:
		c.Verdict, c.Observed = VerdictPass, "refused with HTTP 403"
	default:
		c.Verdict, c.Observed = VerdictFail, fmt.Sprintf("accepted with HTTP %d", out.status)
		c.Detail = "mTLS is not enforced: anyone can call this endpoint"
	}
	return c
}

func withCert(out outcome) Check {
	c := Check{Name: "with the client certificate", Status: out.status, AskedForCert: out.asked, Reason: out.reason}
	switch {
	case out.unreachable != nil:
		c.Verdict, c.Observed, c.Detail = VerdictUnknown, "could not tell", out.unreachable.Error()
	case out.ended != nil && out.asked:
		c.Verdict, c.Observed, c.Detail = VerdictFail, "refused during the TLS handshake", out.ended.Error()
	case out.ended != nil:
		c.Verdict, c.Observed = VerdictUnknown, "could not tell"
		c.Detail = "the connection ended before the server asked for a client certificate: " + out.ended.Error()
	case !out.asked:
		c.Verdict, c.Observed, c.Detail = VerdictFail, fmt.Sprintf("answered with HTTP %d", out.status), notAsked
	case out.status == http.StatusForbidden && out.reason != "":
		c.Verdict, c.Observed = VerdictFail, "refused with HTTP 403 for "+out.reason
		c.Detail = refusedFor(out.reason)
	case out.status == http.StatusForbidden:
		c.Verdict, c.Observed = VerdictFail, "refused with HTTP 403"
		c.Detail = "the truststore does not accept this certificate, or it is revoked: run apimtls truststore verify-client"
	default:
		c.Verdict, c.Observed = VerdictPass, fmt.Sprintf("accepted with HTTP %d", out.status)
	}
	return c
}

// revokedCert judges a revoked certificate's request. Only a refusal for
// revocation passes, and a 403 alone does not show one: a truststore that
// lacks the CA, or a gateway without a CRL for it, answers 403 too. The
// evidence: a completed handshake (the authorizer runs after it, so a
// handshake refusal is something else), the good certificate accepted in
// the same run, and the gateway saying revoked. Without the good
// certificate, or when the gateway does not say why, it could not tell.
func revokedCert(out outcome, good *Check) Check {
	c := Check{Name: "with the revoked client certificate", Status: out.status, AskedForCert: out.asked, Reason: out.reason}
	switch {
	case out.unreachable != nil:
		c.Verdict, c.Observed, c.Detail = VerdictUnknown, "could not tell", out.unreachable.Error()
	case out.ended != nil && out.asked:
		c.Verdict, c.Observed = VerdictFail, "refused during the TLS handshake"
		c.Detail = "revocation is checked after a completed handshake, so this refusal is not revocation's: " + out.ended.Error()
	case out.ended != nil:
		c.Verdict, c.Observed = VerdictUnknown, "could not tell"
		c.Detail = "the connection ended before the server asked for a client certificate: " + out.ended.Error()
	case !out.asked:
		c.Verdict, c.Observed, c.Detail = VerdictFail, fmt.Sprintf("answered with HTTP %d", out.status), notAsked
	case out.status != http.StatusForbidden:
		c.Verdict, c.Observed = VerdictFail, fmt.Sprintf("accepted with HTTP %d", out.status)
		c.Detail = "a revoked certificate got in: revocation is not enforced (no authorizer, its CRL not pushed yet, or a cached result: docs/revocation.md)"
	case out.reason != "" && out.reason != string(revocation.Revoked):
		c.Verdict, c.Observed = VerdictFail, "refused with HTTP 403 for "+out.reason
		c.Detail = "refused, but not for revocation, so this proves nothing about it: " + refusedFor(out.reason)
	case good == nil:
		c.Verdict, c.Observed = VerdictUnknown, "refused with HTTP 403, not shown to be for revocation"
		c.Detail = "no good client was presented in this run, so the 403 may refuse everyone: add --good-client NAME"
	case !good.Pass:
		c.Verdict, c.Observed = VerdictUnknown, "refused with HTTP 403, not shown to be for revocation"
		c.Detail = "the good client was not accepted either, so the 403 may refuse everyone: fix that first"
	case out.reason == "":
		c.Verdict, c.Observed = VerdictUnknown, "refused with HTTP 403, reason not confirmed"
		c.Detail = "the good client was accepted, but the gateway does not say why this one was refused, so the reason could not be confirmed as revocation (the authorizer logs it; docs/revocation.md says how to expose it)"
	default:
		c.Verdict, c.Observed = VerdictPass, "refused with HTTP 403 for revoked"
		c.Detail = "the gateway says revoked and accepted the good client: revocation is enforced"
	}
	return c
}

// refusedFor says what a refusal reason means and what to do.
func refusedFor(reason string) string {
	switch revocation.Reason(reason) {
	case revocation.Revoked:
		return "the certificate is revoked"
	case revocation.CRLMissing, revocation.CRLExpired, revocation.CRLInvalid, revocation.CRLBadSignature, revocation.RevocationFailed:
		return "the gateway has no usable CRL for a CA of the certificate's chain: sign them (apimtls ca crl) and publish them (apimtls crl push)"
	}
	return "the truststore does not accept this certificate: run apimtls truststore verify-client"
}

func defaultEndpoint(out outcome) Check {
	c := Check{Name: "default execute-api endpoint", Status: out.status, AskedForCert: out.asked}
	switch {
	case out.unreachable != nil:
		c.Verdict, c.Observed, c.Detail = VerdictUnknown, "could not tell", out.unreachable.Error()
	case out.ended != nil:
		c.Verdict, c.Observed, c.Detail = VerdictUnknown, "could not tell", "the connection ended without an HTTP answer: "+out.ended.Error()
	case out.status == http.StatusForbidden || out.status == http.StatusNotFound:
		c.Verdict, c.Observed = VerdictPass, fmt.Sprintf("refused with HTTP %d", out.status)
	default:
		c.Verdict, c.Observed = VerdictFail, fmt.Sprintf("answers with HTTP %d", out.status)
		c.Detail = "the execute-api URL bypasses mTLS: apimtls api disable-default-endpoint, then redeploy"
	}
	return c
}

func request(ctx context.Context, o ProbeOptions, url string, cert *tls.Certificate) outcome {
	var asked atomic.Bool
	cfg := &tls.Config{RootCAs: o.RootCAs, InsecureSkipVerify: o.Insecure, MinVersion: tls.VersionTLS12,
		// Called only when the server sends a CertificateRequest: the one
		// sign that it does mutual TLS.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked.Store(true)
			if cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, TLSHandshakeTimeout: o.Timeout}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{unreachable: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		if why := unreachable(err); why != "" {
			return outcome{asked: asked.Load(), unreachable: fmt.Errorf("%s: %w", why, err)}
		}
		return outcome{asked: asked.Load(), ended: err}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	out := outcome{status: resp.StatusCode, asked: asked.Load()}
	if resp.StatusCode == http.StatusForbidden {
		out.reason = refusalReason(resp.Header, body)
	}
	return out
}

// refusalReason is why a 403 says it was given: ReasonHeader (serve), or a
// "reason" string in a JSON body (an API Gateway gateway response can
// carry the authorizer's $context.authorizer.reason). The server is not
// trusted: the reason is cut short here and escaped where it is printed.
func refusalReason(h http.Header, body []byte) string {
	reason := h.Get(ReasonHeader)
	if reason == "" {
		var b struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(body, &b) == nil {
			reason = b.Reason
		}
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 100 {
		reason = reason[:100]
	}
	return reason
}

// unreachable names why no TLS conversation could be judged: the name
// does not resolve, nothing listens, the network or the server is too
// slow, or the server's own certificate failed verification. It returns ""
// when the server took part in a handshake and then ended it.
func unreachable(err error) string {
	var dns *net.DNSError
	var cverr *tls.CertificateVerificationError
	var uaerr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &dns):
		return "the name does not resolve"
	case errors.As(err, &cverr), errors.As(err, &uaerr), errors.As(err, &hostErr):
		return "the server's certificate did not verify (use --ca-file, or --insecure)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there (connection refused)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "could not connect"
	case strings.Contains(err.Error(), "server gave HTTP response"), strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return "the server does not speak TLS"
	}
	return ""
}
