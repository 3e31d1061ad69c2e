package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of serve and probe.
const (
	flagListen          = "listen"
	flagServerCert      = "server-cert"
	flagServerKey       = "server-key"
	flagServerCAOut     = "server-ca-out"
	flagUpstream        = "upstream"
	flagURLFile         = "url-file"
	flagClient          = "client"
	flagGoodClient      = "good-client"
	flagCert            = "cert"
	flagKeyFile         = "key"
	flagExpectRevoked   = "expect-revoked"
	flagCAFile          = "ca-file"
	flagInsecure        = "insecure"
	flagDefaultEndpoint = "default-endpoint"
	flagTimeout         = "timeout"
	serveCAFile         = "serve-ca.pem"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "a local HTTPS gateway with API Gateway's mTLS rules",
		ArgsUsage: " ",
		Description: `Serves HTTPS with API Gateway's behaviour towards client certificates, decided
by the same rules as truststore verify-client: no certificate ends the TLS
handshake; one the truststore does not accept gets HTTP 403
{"message":"Forbidden"}; an accepted one gets the clientCert context exactly
as an HTTP API Lambda authorizer receives it (payload 2.0), or reaches
--upstream with that context as JSON in the ` + gateway.ClientCertHeader + ` header.
Each decision is logged in API Gateway's words. SIGINT or SIGTERM stops it
cleanly.

Revocation is checked as the apimtls authorizer checks it, with the CRLs in
--crl-dir, or by default the PKI directory's crl/ (read again when it
changes, and once it appears if ca crl has not written it yet). Every CA of
the truststore needs a CRL there: the clients of a CA without one are
refused (crl_missing). serve says at start where its CRLs come from and
which CAs have one; --no-revocation turns the check off, and serve warns
that revoked certificates then get in. A 403 carries the reason in the
` + gateway.ReasonHeader + ` header.

Without --server-cert it makes a localhost certificate from a throwaway CA,
writes that CA next to the truststore (or to --server-ca-out), and prints the
curl and probe commands that trust it.

Example:
   apimtls serve
   apimtls serve --truststore truststore.pem --listen 127.0.0.1:9443 --upstream http://127.0.0.1:8080`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagTruststore, Usage: "the truststore `FILE` (default: truststore.pem in the PKI directory)"},
			&cli.StringFlag{Name: flagListen, Value: "127.0.0.1:8443", Usage: "address to listen on (port 0 picks a free one)"},
			&cli.StringFlag{Name: flagServerCert, Usage: "server certificate `FILE` (PEM, with its chain)"},
			&cli.StringFlag{Name: flagServerKey, Usage: "server key `FILE`"},
			&cli.StringFlag{Name: flagServerCAOut, Usage: "where to write the throwaway CA that signs the localhost certificate"},
			&cli.StringFlag{Name: flagUpstream, Usage: "proxy accepted requests to this `URL`"},
			&cli.StringFlag{Name: flagURLFile, Usage: "write the URL to `FILE` once listening, for scripts"},
			&cli.StringFlag{Name: flagCRLDir, Usage: "check revocation with the CRLs in `DIR`, as the authorizer does (default: crl/ in the PKI directory)"},
			&cli.BoolFlag{Name: flagNoRevocation, Usage: "do not check revocation, as API Gateway without the authorizer: revoked certificates get in"},
			&cli.StringFlag{Name: flagExternalRevocation, Usage: "check the clients of a CA without a CRL in --crl-dir (a partner's) through what their certificates name: `crl`, ocsp or crl,ocsp, as the authorizer's APIMTLS_EXTERNAL_REVOCATION"},
		},
		Action: func(c *cli.Context) error {
			if _, err := startNoArgs(c); err != nil {
				return err
			}
			return runServe(c.Context, c, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// defaultTruststore is --truststore, or truststore.pem in the PKI directory.
func defaultTruststore(c *cli.Context) (string, error) {
	if p := c.String(flagTruststore); p != "" {
		return p, nil
	}
	dir, err := pkiDir(c)
	if err != nil {
		return "", err
	}
	return pki.Layout{Dir: dir}.Truststore(), nil
}

// loadTruststoreForServing reads and validates a truststore, refusing one
// with errors as API Gateway would refuse to use it.
func loadTruststoreForServing(path string) (*x509cert.TruststoreReport, error) {
	data, err := readTruststoreFile(path)
	if err != nil {
		return nil, err
	}
	r, err := x509cert.CheckTruststore(data, time.Now())
	if err != nil {
		return r, withHint(fmt.Errorf("%s has %s", path, plural.Count(r.Errors, "error")), "see them with: apimtls truststore validate "+path)
	}
	return r, nil
}

func runServe(ctx context.Context, c *cli.Context, stdout, stderr io.Writer) error {
	srv, tsPath, crls, err := serveServer(c, stderr)
	if err != nil {
		return err
	}
	protected, err := outputProtection(c)
	if err != nil {
		return err
	}
	// Every output is checked before anything is served or written.
	urlFile := c.String(flagURLFile)
	if urlFile != "" {
		if _, err := outfile.Check(urlFile, protected); err != nil {
			return fmt.Errorf("--%s: %w", flagURLFile, err)
		}
	}
	serverCert, caOut, release, err := serverCertificate(c, tsPath, protected)
	if err != nil {
		return err
	}
	defer release()
	l, u, err := listenGateway(c.String(flagListen), caOut != "")
	if err != nil {
		if caOut != "" {
			os.Remove(caOut) // a throwaway CA for a server that never ran
		}
		return err
	}
	if urlFile != "" {
		if err := outfile.Write(urlFile, []byte(u+"\n"), outfile.Public, protected); err != nil {
			l.Close()
			return fmt.Errorf("--%s: %w", flagURLFile, err)
		}
	}
	printServing(stdout, u, tsPath, srv.Truststore.Certificates, caOut)
	var ext *revocation.External
	if srv.Revocation != nil {
		ext = srv.Revocation.External
	}
	printRevocation(stderr, crls, ext, noColor(c))
	if crls != nil {
		logCRLChanges(crls, srv.Log)
	}
	srv.ServerCert = serverCert
	if err := srv.Serve(ctx, l); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// serveServer is the gateway serve runs, from its flags: the truststore,
// the revocation check and the upstream; the server certificate comes
// after.
func serveServer(c *cli.Context, stderr io.Writer) (srv *gateway.Server, tsPath string, crls *revocation.DirCRLs, err error) {
	if tsPath, err = defaultTruststore(c); err != nil {
		return nil, "", nil, err
	}
	report, err := loadTruststoreForServing(tsPath)
	if err != nil {
		return nil, "", nil, err
	}
	checker, crls, err := serveRevocation(c, tsPath)
	if err != nil {
		return nil, "", nil, err
	}
	upstream, err := upstreamURL(c.String(flagUpstream))
	if err != nil {
		return nil, "", nil, err
	}
	return &gateway.Server{Truststore: report, Upstream: upstream, Revocation: checker, Log: log.New(stderr, "", log.LstdFlags)}, tsPath, crls, nil
}

func printServing(w io.Writer, u, tsPath string, certs int, caOut string) {
	fmt.Fprintf(w, "serving %s with API Gateway's mTLS rules; truststore %s (%s)\n", u, tsPath, plural.Count(certs, "certificate"))
	if caOut != "" {
		fmt.Fprintf(w, "server certificate from a throwaway CA written to %s\n", caOut)
		fmt.Fprintf(w, "try:  curl --cacert %s --cert CHAIN.pem --key KEY.pem %s\n", caOut, u)
		fmt.Fprintf(w, "      apimtls probe %s --ca-file %s --client NAME\n", u, caOut)
	}
}

func upstreamURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, usagef("--upstream %q is not an absolute URL", s)
	}
	return u, nil
}

// serverCertificate loads --server-cert and --server-key, or makes a
// throwaway localhost certificate and writes its CA (next to the
// truststore, or to --server-ca-out) under a lock held until release: a
// second serve pointed at the same file is refused rather than replacing
// the CA the first one's clients trust.
func serverCertificate(c *cli.Context, tsPath string, protected outfile.Protected) (tls.Certificate, string, func(), error) {
	noop := func() {}
	certFile, keyFile := c.String(flagServerCert), c.String(flagServerKey)
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, "", noop, usagef("--%s and --%s go together", flagServerCert, flagServerKey)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return cert, "", noop, fmt.Errorf("load the server certificate: %w", err)
		}
		return cert, "", noop, nil
	}
	caOut := c.String(flagServerCAOut)
	if caOut == "" {
		caOut = filepath.Join(filepath.Dir(tsPath), serveCAFile)
	}
	caOut, err := filepath.Abs(caOut)
	if err != nil {
		return tls.Certificate{}, "", noop, err
	}
	lock, err := outfile.Acquire(caOut, protected)
	if errors.Is(err, outfile.ErrBusy) {
		return tls.Certificate{}, "", noop, withHint(err, "another apimtls serve trusts it: stop that one, or write this one's CA elsewhere with --"+flagServerCAOut+" FILE")
	}
	if err != nil {
		return tls.Certificate{}, "", noop, fmt.Errorf("--%s: %w", flagServerCAOut, err)
	}
	release := func() { lock.Release() }
	cert, _, err := throwawayServerCert(caOut, protected)
	if err != nil {
		release()
		return cert, "", noop, err
	}
	return cert, caOut, release, nil
}

// throwawayServerCert makes a server certificate for localhost from a
// throwaway CA, and writes that CA to caPath for clients to trust.
func throwawayServerCert(caPath string, protected outfile.Protected) (tls.Certificate, *x509.Certificate, error) {
	cert, ca, err := gateway.LocalhostCertificate(time.Now())
	if err != nil {
		return cert, nil, err
	}
	return cert, ca, outfile.Write(caPath, x509cert.EncodeCertificates(ca), outfile.Public, protected)
}

// listenGateway listens on addr and returns the URL clients should use:
// by the name localhost when the certificate is the throwaway one, which
// names localhost, else by address.
func listenGateway(addr string, byLocalhost bool) (net.Listener, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, "", withHint(err, "another program uses that port: pick another with --listen 127.0.0.1:0")
		}
		return nil, "", err
	}
	if byLocalhost {
		_, port, _ := net.SplitHostPort(l.Addr().String())
		return l, "https://localhost:" + port + "/", nil
	}
	return l, "https://" + l.Addr().String() + "/", nil
}

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "prove an endpoint enforces mTLS: refused without a certificate, accepted with one",
		ArgsUsage: "URL",
		Description: `Requests URL without a client certificate, which must be refused after
the server asked for one (a handshake failure and HTTP 403 both count, and
the verdict says which was seen), and with the client certificate (and the
--good-client one), which must be let through. With --default-endpoint, also
checks that the execute-api URL refuses, since it bypasses mTLS. The
server is verified against the system roots, --ca-file, or not at all with
--insecure, as curl does. A probe reports only what it saw: a name that
does not resolve, nothing listening, a timeout, or a connection closed
before the server asked for a certificate is "could not tell" (????), with
the reason. Exit 1 when any check fails or could not tell.

When --client names a revoked client (revoked, or under a revoked CA),
or --cert is a certificate the inventory holds as revoked (a renewal's
retired one too), or --expect-revoked says it is, its refusal passes only as a
refusal for revocation: after a completed handshake, with HTTP 403, while
the --good-client was accepted in the same run, and with the gateway
saying "revoked" (serve's ` + gateway.ReasonHeader + ` header, or a "reason" in
the body). A 403 that cannot be confirmed as revocation could not tell.

Example:
   apimtls probe https://localhost:8443/ --ca-file serve-ca.pem --client stolen --good-client device
   apimtls probe https://api.example.com/health --client partner-acme \
       --default-endpoint https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/
   apimtls probe https://localhost:8443/ --ca-file serve-ca.pem --cert chain.pem --key key.pem -o json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagClient, Usage: "present this client from the inventory (its chain.pem and key.pem)"},
			&cli.StringFlag{Name: flagGoodClient, Usage: "also present this valid client `NAME` from the inventory, which must be accepted: with a revoked --client, the evidence that its refusal is for revocation"},
			&cli.StringFlag{Name: flagCert, Usage: "present this certificate `FILE` (with its chain)"},
			&cli.StringFlag{Name: flagKeyFile, Usage: "the key `FILE` of --cert"},
			&cli.BoolFlag{Name: flagExpectRevoked, Usage: "the --cert certificate is revoked (one the inventory does not hold, such as a partner's): it must be refused, for revocation"},
			&cli.StringFlag{Name: flagCAFile, Usage: "verify the server with these CA certificates instead of the system roots"},
			&cli.BoolFlag{Name: flagInsecure, Aliases: []string{"k"}, Usage: "do not verify the server's certificate"},
			&cli.StringFlag{Name: flagDefaultEndpoint, Usage: "the API's execute-api `URL`, which must refuse"},
			&cli.DurationFlag{Name: flagTimeout, Value: 10 * time.Second, Usage: "per request (1ms to 10m)", Action: durationIn(flagTimeout, time.Millisecond, 10*time.Minute)},
		},
		Action: func(c *cli.Context) error {
			format, target, err := startOneArg(c, "URL")
			if err != nil {
				return err
			}
			opts, err := probeOptions(c, target)
			if err != nil {
				return err
			}
			res := gateway.Probe(c.Context, opts)
			if format == outputJSON {
				if err := writeJSON(c.App.Writer, res); err != nil {
					return err
				}
			} else {
				printProbe(c.App.Writer, res, noColor(c))
			}
			if !res.Pass {
				return silentError{}
			}
			return nil
		},
	}
}

func probeOptions(c *cli.Context, target string) (gateway.ProbeOptions, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return gateway.ProbeOptions{}, usagef("%q is not an https:// URL: mTLS needs HTTPS", target)
	}
	opts := gateway.ProbeOptions{URL: target, Insecure: c.Bool(flagInsecure), DefaultEndpoint: c.String(flagDefaultEndpoint), Timeout: c.Duration(flagTimeout)}
	if opts.Insecure && c.String(flagCAFile) != "" {
		return opts, usagef("--%s and --%s exclude each other", flagInsecure, flagCAFile)
	}
	if f := c.String(flagCAFile); f != "" {
		var err error
		if opts.RootCAs, err = certPool(flagCAFile, f); err != nil {
			return opts, err
		}
	}
	certFile, keyFile := c.String(flagCert), c.String(flagKeyFile)
	if name := c.String(flagClient); name != "" {
		if certFile != "" || keyFile != "" {
			return opts, usagef("--%s excludes --%s and --%s", flagClient, flagCert, flagKeyFile)
		}
		var err error
		if certFile, keyFile, opts.ClientRevoked, err = clientKeyPairStatus(c, name); err != nil {
			return opts, err
		}
	}
	if (certFile == "") != (keyFile == "") {
		return opts, usagef("--%s and --%s go together", flagCert, flagKeyFile)
	}
	if name := c.String(flagGoodClient); name != "" {
		goodCert, goodKey, revoked, err := clientKeyPairStatus(c, name)
		if err != nil {
			return opts, err
		}
		if revoked {
			return opts, usagef("--%s %s: that client is revoked; name one that is valid", flagGoodClient, name)
		}
		pair, err := tls.LoadX509KeyPair(goodCert, goodKey)
		if err != nil {
			return opts, fmt.Errorf("load the --%s certificate: %w", flagGoodClient, err)
		}
		opts.GoodCert = &pair
	}
	if c.Bool(flagExpectRevoked) && certFile == "" {
		return opts, usagef("--%s goes with --%s (or a revoked --%s)", flagExpectRevoked, flagCert, flagClient)
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return opts, fmt.Errorf("load the client certificate: %w", err)
		}
		opts.ClientCert = &pair
		if c.Bool(flagExpectRevoked) {
			opts.ClientRevoked = true
		} else if c.String(flagClient) == "" {
			var known bool
			if opts.ClientRevoked, known, err = revokedInInventory(c, pair.Leaf); err != nil {
				return opts, err
			}
			if !known {
				fmt.Fprintf(c.App.ErrWriter, "note: the --%s certificate is not in this PKI directory's inventory: it is probed as a good client, which must be accepted; if it is revoked, say so with --%s\n", flagCert, flagExpectRevoked)
			}
		}
	}
	return opts, nil
}

// revokedInInventory says whether the inventory holds cert as revoked:
// revoked, retired by a renewal, or under a revoked CA; known is false for
// a certificate it does not hold (a partner's, or no PKI directory here),
// which is not known to be revoked: --expect-revoked says so.
func revokedInInventory(c *cli.Context, cert *x509.Certificate) (revoked, known bool, err error) {
	if cert == nil {
		return false, false, nil
	}
	dir, err := pkiDir(c)
	if err != nil || !fileExists(pki.Layout{Dir: dir}.Inventory()) && c.String(flagStore) == "" {
		return false, false, nil
	}
	s, err := openStore(c, false)
	if err != nil {
		return false, false, err
	}
	defer s.Close()
	rec, err := s.LookupSerial(x509cert.SerialHexInt(cert.SerialNumber))
	if rec == nil || errors.As(err, new(*pki.NotFoundError)) {
		return false, false, nil
	}
	if rec.SHA256 != x509cert.Fingerprint(cert) {
		return false, false, nil // another CA's certificate with the same serial
	}
	revokedAt, err := s.RevokedInChain(rec)
	return revokedAt != nil, true, err
}

func printProbe(w io.Writer, res *gateway.ProbeResult, noColor bool) {
	for _, ch := range res.Checks {
		verdict, attr := "PASS", colorPass
		switch ch.Verdict {
		case gateway.VerdictFail:
			verdict, attr = "FAIL", colorFail
		case gateway.VerdictUnknown:
			verdict, attr = "????", colorUnknown
		}
		fmt.Fprintf(w, "%s  %s: %s\n", paint(w, noColor, attr, verdict), ch.Name, textsafe.Escape(ch.Observed))
		if ch.Detail != "" {
			fmt.Fprintf(w, "      %s\n", textsafe.Escape(strings.TrimSpace(ch.Detail)))
		}
	}
	switch res.Verdict {
	case gateway.VerdictPass:
		fmt.Fprintf(w, "%s enforces mutual TLS\n", res.URL)
	case gateway.VerdictFail:
		fmt.Fprintf(w, "%s does not behave as a mutual TLS endpoint should\n", res.URL)
	default:
		fmt.Fprintf(w, "could not tell whether %s enforces mutual TLS: see the reasons above\n", res.URL)
	}
}

// certPool reads the CA certificates of a --ca-file-like flag.
func certPool(flag, path string) (*x509.CertPool, error) {
	data, err := readInput(path, 1<<20)
	if err != nil {
		return nil, err
	}
	certs, err := x509cert.DecodeCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flag, path, err)
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}
