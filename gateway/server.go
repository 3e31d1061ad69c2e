package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
)

// ClientCertHeader carries the clientCert context, as JSON, to --upstream.
const ClientCertHeader = "X-Apimtls-Client-Cert"

// ReasonHeader says, on a 403, why the certificate was refused: the
// authorizer's deny reason (revoked, crl_missing, ...) after the
// truststore accepted it, or API Gateway's words when the truststore did
// not. API Gateway's own 403 says nothing; probe reads this header (or a
// "reason" in the body, which a REST API's gateway response can add) to
// tell a revocation from any other refusal.
const ReasonHeader = "X-Apimtls-Reason"

// Server is an HTTPS endpoint with API Gateway's mTLS behaviour: no client
// certificate ends the handshake; a certificate the truststore does not
// accept gets HTTP 403 {"message":"Forbidden"}; an accepted one reaches the
// backend with the clientCert context.
type Server struct {
	Truststore *x509cert.TruststoreReport
	ServerCert tls.Certificate
	// Upstream, when set, receives accepted requests with the context in
	// ClientCertHeader; otherwise the server answers with the context.
	Upstream *url.URL
	// Revocation, when set, is the authorizer's own decision applied after
	// the handshake: a revoked client, or one whose CA's CRL is missing,
	// expired or badly signed, gets 403 as the authorizer would give it.
	Revocation *revocation.Checker
	// Log receives one line per decision, in API Gateway's words.
	Log *log.Logger
	Now func() time.Time
}

// Serve accepts connections on l until ctx ends, then shuts down cleanly.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = log.New(io.Discard, "", 0)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{s.ServerCert},
		// The TLS_1_2 security policy that mTLS requires: with it API
		// Gateway ends a handshake without a client certificate, which
		// curl reports as exit 35 (docs/apigateway-rules.md#what-clients-and-backends-see).
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS12,
		// Any certificate is taken at the TLS layer, with proof that the
		// client holds its key; the truststore decision comes after, as
		// API Gateway answers an untrusted certificate with 403, not an
		// alert. No certificate at all fails the handshake, as there.
		ClientAuth: tls.RequireAnyClientCert,
	}
	srv := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(handshakeLog{s.Log}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(l, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func (s *Server) handler() http.Handler {
	var proxy *httputil.ReverseProxy
	if s.Upstream != nil {
		proxy = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(s.Upstream)
			r.SetXForwarded()
		}}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			forbidden(w, string(revocation.NoClientCert))
			return
		}
		client := r.TLS.PeerCertificates[0]
		now := s.Now()
		d := x509cert.VerifyClient(s.Truststore, client, now)
		if !d.Accept {
			s.Log.Printf("reject %s: %s (%s)", textsafe.Escape(client.Subject.String()), d.Reason, textsafe.Escape(d.Detail))
			forbidden(w, d.Reason)
			return
		}
		if s.Revocation != nil {
			if rd := s.Revocation.Decide(r.Context(), client, now); !rd.Allow {
				s.Log.Printf("reject %s: %s (%s)", textsafe.Escape(client.Subject.String()), rd.Reason, textsafe.Escape(rd.Detail))
				forbidden(w, string(rd.Reason))
				return
			}
		}
		s.Log.Printf("accept %s, serial %x, %s %s", textsafe.Escape(client.Subject.String()), client.SerialNumber, r.Method, textsafe.Escape(r.URL.Path))
		rc := newRequestContext(client, r.Method, r.URL.Path, now)
		if proxy != nil {
			ctx, err := json.Marshal(rc.RequestContext.Authentication.ClientCert)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			r.Header.Set(ClientCertHeader, string(ctx))
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rc)
	})
}

// forbidden answers as API Gateway does, with the reason in ReasonHeader.
func forbidden(w http.ResponseWriter, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(ReasonHeader, reason)
	w.Header().Set("X-Amzn-Errortype", "ForbiddenException")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintln(w, `{"message":"Forbidden"}`)
}

// LocalhostCertificate makes a throwaway CA and a server certificate for
// localhost, 127.0.0.1 and ::1 signed by it. The CA certificate is what a
// client must trust (curl --cacert).
func LocalhostCertificate(now time.Time) (tls.Certificate, *x509.Certificate, error) {
	caKey, err := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509cert.CreateRoot(rand.Reader, now, x509cert.CARequest{CommonName: "apimtls serve throwaway CA", Key: caKey, NotAfter: now.AddDate(0, 0, 30), MaxPathLen: 0})
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := x509cert.GenerateKey(rand.Reader, x509cert.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509cert.CreateServer(rand.Reader, now, x509cert.Issuer{Cert: ca, Key: caKey, Level: 1}, key.Public(), []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, now.AddDate(0, 0, 30))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: key, Leaf: leaf}, ca, nil
}

// handshakeLog turns net/http's handshake errors into decisions in API
// Gateway's terms; other server errors are dropped as noise of scanners
// and closed connections.
type handshakeLog struct{ l *log.Logger }

func (h handshakeLog) Write(p []byte) (int, error) {
	msg := string(p)
	if i := strings.Index(msg, "TLS handshake error from "); i >= 0 {
		rest := strings.TrimSpace(msg[i+len("TLS handshake error from "):])
		from, why, _ := strings.Cut(rest, ": ")
		if strings.Contains(why, "didn't provide a certificate") {
			h.l.Printf("refuse %s: no client certificate, handshake ended", from)
		} else {
			h.l.Printf("refuse %s: handshake failed: %s", from, why)
		}
	}
	return len(p), nil
}
