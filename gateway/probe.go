package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
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
}

// Check is one verdict.
type Check struct {
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Observed string `json:"observed"`
	Detail   string `json:"detail,omitempty"`
	Status   int    `json:"http_status,omitempty"`
}

// ProbeResult holds every check; Pass is true when all passed.
type ProbeResult struct {
	URL    string  `json:"url"`
	Pass   bool    `json:"pass"`
	Checks []Check `json:"checks"`
}

// outcome of one request.
type outcome struct {
	status    int
	handshake error // the TLS handshake failed: the server refused
	connect   error // nothing answered, or the server's certificate failed
}

// Probe requests the URL without a certificate, which must be refused (a
// handshake failure and HTTP 403 both count, apigateway-mtls.md §5), then
// with the client certificate, which must be let through, and optionally
// the default endpoint, which must refuse.
func Probe(ctx context.Context, o ProbeOptions) *ProbeResult {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	res := &ProbeResult{URL: o.URL, Pass: true}
	add := func(c Check) {
		res.Checks = append(res.Checks, c)
		res.Pass = res.Pass && c.Pass
	}

	without := request(ctx, o, o.URL, nil)
	c := Check{Name: "without a client certificate", Status: without.status}
	switch {
	case without.connect != nil:
		c.Observed, c.Detail = "no answer", without.connect.Error()
	case without.handshake != nil:
		c.Pass, c.Observed, c.Detail = true, "refused during the TLS handshake", without.handshake.Error()
	case without.status == http.StatusForbidden:
		c.Pass, c.Observed = true, "refused with HTTP 403"
	default:
		c.Observed = fmt.Sprintf("accepted with HTTP %d", without.status)
		c.Detail = "mTLS is not enforced: anyone can call this endpoint"
	}
	add(c)

	if o.ClientCert != nil {
		with := request(ctx, o, o.URL, o.ClientCert)
		c := Check{Name: "with the client certificate", Status: with.status}
		switch {
		case with.connect != nil:
			c.Observed, c.Detail = "no answer", with.connect.Error()
		case with.handshake != nil:
			c.Observed, c.Detail = "refused during the TLS handshake", with.handshake.Error()
		case with.status == http.StatusForbidden:
			c.Observed = "refused with HTTP 403"
			c.Detail = "the truststore does not accept this certificate: run apimtls truststore verify-client"
		default:
			c.Pass, c.Observed = true, fmt.Sprintf("accepted with HTTP %d", with.status)
		}
		add(c)
	}

	if o.DefaultEndpoint != "" {
		d := request(ctx, o, o.DefaultEndpoint, nil)
		c := Check{Name: "default execute-api endpoint", Status: d.status}
		switch {
		case d.connect != nil || d.handshake != nil:
			c.Pass, c.Observed = true, "does not answer"
			if d.connect != nil {
				c.Detail = d.connect.Error()
			}
		case d.status == http.StatusForbidden || d.status == http.StatusNotFound:
			c.Pass, c.Observed = true, fmt.Sprintf("refused with HTTP %d", d.status)
		default:
			c.Observed = fmt.Sprintf("answers with HTTP %d", d.status)
			c.Detail = "the execute-api URL bypasses mTLS: apimtls api disable-default-endpoint, then redeploy"
		}
		add(c)
	}
	return res
}

func request(ctx context.Context, o ProbeOptions, url string, cert *tls.Certificate) outcome {
	cfg := &tls.Config{RootCAs: o.RootCAs, InsecureSkipVerify: o.Insecure, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, TLSHandshakeTimeout: o.Timeout}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{connect: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		if refusedByPeer(err) {
			return outcome{handshake: err}
		}
		return outcome{connect: err}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return outcome{status: resp.StatusCode}
}

// refusedByPeer tells a server that ended the handshake (an alert, or the
// connection closed or reset during it, as curl's exit 35 shows) from one
// that never answered or whose own certificate failed verification.
func refusedByPeer(err error) bool {
	var alert tls.AlertError
	var cverr *tls.CertificateVerificationError
	var opErr *net.OpError
	switch {
	case errors.As(err, &cverr):
		return false
	case errors.As(err, &alert):
		return true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "remote error") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "EOF") || strings.Contains(msg, "broken pipe")
}
