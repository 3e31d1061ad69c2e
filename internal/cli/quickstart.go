package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

const quickstartClient = "quickstart-client"

func quickstartCommand() *cli.Command {
	return &cli.Command{
		Name:      "quickstart",
		Usage:     "the whole story on loopback, no AWS needed",
		ArgsUsage: " ",
		Description: `In a new directory (a fresh temporary one unless --dir names an empty or
missing one; APIMTLS_DIR is ignored): creates a root and an issuing CA, a client certificate and the
truststore; validates it; starts the local gateway on a free loopback port;
proves it refuses a request without a certificate and accepts one with it;
prints the commands to try it yourself; stops the gateway. It never touches
your real PKI directory.

Example:
   apimtls quickstart
   apimtls quickstart --dir ./demo -o json`,
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			dir := ""
			// Only a --dir typed here: APIMTLS_DIR names the user's real PKI,
			// which quickstart never touches.
			if flagTyped(c, flagDir) {
				if dir, err = pkiDir(c); err != nil {
					return err
				}
				if info, err := os.Stat(dir); err == nil && !info.IsDir() {
					return usagef("--dir %s is a file: quickstart needs an empty or missing directory", dir)
				}
				if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
					return withHint(fmt.Errorf("%s is not empty: quickstart builds a PKI from nothing", dir), "leave out --dir for a fresh temporary directory")
				}
			} else if dir, err = os.MkdirTemp("", "apimtls-quickstart-"); err != nil {
				return err
			}
			w := c.App.Writer
			if format == outputJSON {
				w = io.Discard
			}
			res, err := quickstart(c.Context, dir, w, c.App.ErrWriter, noColor(c))
			if err != nil {
				return err
			}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			if !res.Probe.Pass {
				return errors.New("the local gateway did not behave as API Gateway does (the probe above says how): please report it")
			}
			return nil
		},
	}
}

type quickstartResult struct {
	Dir        string               `json:"dir"`
	Truststore string               `json:"truststore"`
	Client     string               `json:"client"`
	URL        string               `json:"url"`
	Probe      *gateway.ProbeResult `json:"probe"`
}

func quickstart(ctx context.Context, dir string, w, logw io.Writer, noColor bool) (*quickstartResult, error) {
	step := func(n int, format string, args ...any) {
		fmt.Fprintf(w, "%d. "+format+"\n", append([]any{n}, args...)...)
	}
	fmt.Fprintf(w, "apimtls quickstart in %s\n", dir)
	report, err := quickstartPKI(dir, step)
	if err != nil {
		return nil, err
	}
	l := pki.Layout{Dir: dir}
	caPath := filepath.Join(dir, serveCAFile)
	url, probe, err := quickstartProbe(ctx, report, caPath, l, logw, step)
	if err != nil {
		return nil, err
	}
	printProbe(w, probe, noColor)
	step(7, "gateway stopped. Try it yourself:")
	chain, key := l.ClientChain(quickstartClient), l.ClientKey(quickstartClient)
	fmt.Fprintf(w, "   APIMTLS_DIR=%s apimtls serve --listen 127.0.0.1:8443 &\n", dir)
	fmt.Fprintf(w, "   curl --cacert %s --cert %s --key %s https://localhost:8443/\n", caPath, chain, key)
	fmt.Fprintf(w, "   curl --cacert %s https://localhost:8443/    # refused: no client certificate\n", caPath)
	fmt.Fprintln(w, "next, on AWS: apimtls truststore push --bucket YOUR-BUCKET --create-bucket")
	return &quickstartResult{Dir: dir, Truststore: l.Truststore(), Client: l.ClientDir(quickstartClient), URL: url, Probe: probe}, nil
}

// quickstartPKI makes the root, the issuing CA, the client and the
// truststore (steps 1 to 4).
func quickstartPKI(dir string, step func(int, string, ...any)) (*x509cert.TruststoreReport, error) {
	s, err := pki.OpenStore(dir, true)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	root, err := s.CreateCA(pki.CAParams{Name: pki.DefaultRootName, CommonName: "Quickstart Root CA", KeyType: pki.DefaultRootKeyType, MaxPathLen: -1})
	if err != nil {
		return nil, err
	}
	step(1, "root CA %q (%s, until %s)", root.Record.Subject, root.Record.KeyType, root.Record.NotAfter.Format(time.DateOnly))
	issuing, err := s.CreateCA(pki.CAParams{Name: "issuing", Parent: pki.DefaultRootName, CommonName: "Quickstart Issuing CA", KeyType: pki.DefaultRootKeyType, MaxPathLen: -1})
	if err != nil {
		return nil, err
	}
	step(2, "issuing CA %q under it", issuing.Record.Subject)
	client, err := s.IssueClient(pki.ClientParams{Name: quickstartClient, CA: "issuing", KeyType: pki.DefaultClientKeyType})
	if err != nil {
		return nil, err
	}
	step(3, "client certificate %q (clientAuth only) in %s", client.Record.Subject, s.Layout().RecordDir(client.Record))
	built, err := s.BuildTruststore(nil, nil, x509cert.ValidateOptions{})
	if err != nil {
		return nil, err
	}
	r := built.Report
	if r.Errors > 0 {
		return nil, fmt.Errorf("the truststore has %s", plural.Count(r.Errors, "error"))
	}
	if err := outfile.Write(s.Layout().Truststore(), built.PEM, outfile.Public, protectedPaths(dir)); err != nil {
		return nil, err
	}
	// serve, run again as step 7 says, checks revocation and refuses the
	// clients of a CA without a CRL: sign both, empty.
	for _, name := range []string{pki.DefaultRootName, "issuing"} {
		if _, err := s.SignCRL(name, nil, 0); err != nil {
			return nil, err
		}
	}
	step(4, "truststore %s: %s, valid for API Gateway (%s, %s); empty CRLs of both CAs in %s", s.Layout().Truststore(), plural.Count(r.Certificates, "CA certificate"), plural.Count(r.Errors, "error"), plural.Count(r.Warnings, "warning"), s.Layout().CRLs())
	return r, nil
}

// quickstartProbe runs the local gateway and probes it with the client
// (steps 5 and 6).
func quickstartProbe(ctx context.Context, r *x509cert.TruststoreReport, caPath string, l pki.Layout, logw io.Writer, step func(int, string, ...any)) (string, *gateway.ProbeResult, error) {
	serverCert, ca, err := throwawayServerCert(caPath, protectedPaths(l.Dir))
	if err != nil {
		return "", nil, err
	}
	listener, url, err := listenGateway("127.0.0.1:0", true)
	if err != nil {
		return "", nil, err
	}
	srvCtx, stop := context.WithCancel(ctx)
	srv := &gateway.Server{Truststore: r, ServerCert: serverCert, Log: log.New(logw, "  gateway: ", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(srvCtx, listener) }()
	step(5, "local gateway with API Gateway's mTLS rules on %s", url)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pair, err := tls.LoadX509KeyPair(l.ClientChain(quickstartClient), l.ClientKey(quickstartClient))
	if err != nil {
		stop()
		return "", nil, err
	}
	probe := gateway.Probe(ctx, gateway.ProbeOptions{URL: url, RootCAs: pool, ClientCert: &pair, Timeout: 5 * time.Second})
	stop()
	if err := <-done; err != nil {
		return "", nil, fmt.Errorf("stop the gateway: %w", err)
	}
	if ctx.Err() != nil {
		return "", nil, fmt.Errorf("quickstart interrupted before the probe finished; what it made is in %s", l.Dir)
	}
	step(6, "probe:")
	return url, probe, nil
}
