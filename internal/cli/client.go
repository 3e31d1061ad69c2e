package cli

import (
	"bytes"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of the client commands.
const (
	flagP12 = "p12"
)

func clientCommand() *cli.Command {
	return &cli.Command{
		Name:  "client",
		Usage: "issue, sign and inspect client certificates",
		Subcommands: []*cli.Command{
			clientIssueCommand(),
			clientSignCommand(),
			clientListCommand(),
			clientShowCommand(),
			clientRenewCommand(),
			clientExportCommand(),
			clientRevokeCommand(),
		},
	}
}

func issuerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagCA, Usage: "the issuing CA (default: the only CA without a CA below it)"},
		&cli.StringFlag{Name: flagCN, Usage: "subject common name (default: NAME)"},
		&cli.StringFlag{Name: flagOrg, Usage: "subject organization"},
		daysFlag("validity in days, shortened to the CA's end when not given", 0, "365"),
		&cli.StringSliceFlag{Name: flagDNS, Usage: "DNS name SAN (repeatable)"},
		&cli.StringSliceFlag{Name: flagURI, Usage: "URI SAN such as spiffe://example.org/device/1 (repeatable)"},
		&cli.StringSliceFlag{Name: flagEmail, Usage: "email SAN (repeatable)"},
		passphraseFileFlag(),
	}
}

func clientIssueCommand() *cli.Command {
	return &cli.Command{
		Name:      "issue",
		Usage:     "create a key and a client certificate",
		ArgsUsage: "NAME",
		Description: `Writes clients/NAME/key.pem (0600, never overwritten), cert.pem and chain.pem
(the certificate and its issuing CAs, root excluded) in the PKI directory,
and records the certificate. The certificate is for TLS client
authentication only: extKeyUsage clientAuth, CA:FALSE.

With --p12, also writes clients/NAME/NAME.p12 (AES-256 and PBKDF2; --p12-legacy
for 3DES and SHA-1, which old Java and macOS keychains need). Its password
comes from --p12-password-file, ` + envP12Password + ` or a prompt.

Example:
   apimtls client issue partner-acme --ca issuing --dns api-client.acme.example
   curl --cert ~/.local/share/apimtls/clients/partner-acme/chain.pem \
        --key ~/.local/share/apimtls/clients/partner-acme/key.pem https://api.example.com/`,
		Flags: append(append(issuerFlags(),
			keyTypeFlag(pki.DefaultClientKeyType),
			&cli.BoolFlag{Name: flagP12, Usage: "also write a PKCS #12 file"},
			&cli.BoolFlag{Name: flagP12Legacy, Usage: "PKCS #12 with 3DES and SHA-1 for old Java and macOS (implies --p12)"},
			&cli.StringFlag{Name: flagP12PasswordFile, Usage: "read the PKCS #12 password from `FILE` (else " + envP12Password + ", else a prompt)"},
		),
			bulkIssueFlags()...),
		Action: func(c *cli.Context) error {
			if isBulkIssue(c) {
				return bulkIssue(c)
			}
			name, err := oneArg(c, "NAME")
			if err != nil {
				return err
			}
			if c.IsSet(flagNameTemplate) || c.IsSet(flagStart) || c.IsSet(flagFailFast) {
				return usagef("--%s, --%s and --%s go with --%s or --%s", flagNameTemplate, flagStart, flagFailFast, flagCount, flagFromCSV)
			}
			p, err := clientParams(c, name)
			if err != nil {
				return err
			}
			if err := keyAndP12(c, &p); err != nil {
				return err
			}
			return issueClient(c, p)
		},
	}
}

// bulkIssue is client issue --count or --from-csv.
func bulkIssue(c *cli.Context) error {
	if err := bulkOnly(c); err != nil {
		return err
	}
	p, err := commonParams(c)
	if err != nil {
		return err
	}
	if err := keyAndP12(c, &p); err != nil {
		return err
	}
	return runBulk(c, p, "Issued")
}

// keyAndP12 reads --key-type and the PKCS #12 options, asking for the
// password before any work.
func keyAndP12(c *cli.Context, p *pki.ClientParams) error {
	kt, err := x509cert.ParseKeyType(c.String(flagKeyType))
	if err != nil {
		return usageError{err}
	}
	p.KeyType = kt
	if c.Bool(flagP12) || c.Bool(flagP12Legacy) {
		pw, err := secretSource{
			what: "PKCS #12 password", file: c.String(flagP12PasswordFile), flag: flagP12PasswordFile, env: envP12Password, confirm: true,
			hint: "give --" + flagP12PasswordFile + " FILE or set " + envP12Password,
		}.read(c.Context)
		if err != nil {
			return err
		}
		p.P12 = &pki.P12Options{Password: pw, Legacy: c.Bool(flagP12Legacy)}
	} else if c.IsSet(flagP12PasswordFile) {
		return usagef("--%s needs --%s", flagP12PasswordFile, flagP12)
	}
	return nil
}

func clientSignCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a device's CSR; its private key never leaves the device",
		ArgsUsage: "CSR",
		Description: `Checks the CSR's signature (proof that the requester holds the key), its
signature algorithm and its key type, then issues a client certificate for
its key and subject. Requested key usages, extended key usages and CA status
are ignored: the client profile decides them. Requested DNS, email, URI and
IP SANs are kept, with any --dns, --uri and --email added. CSR may be PEM or
DER, or - for standard input.

Example:
   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
       -keyout device.key -subj /CN=device-0042 -out device.csr
   apimtls client sign device.csr --ca devices --name device-0042`,
		Flags: append(issuerFlags(),
			&cli.StringFlag{Name: flagName, Usage: "name in the inventory (default: the CSR's common name)"},
			&cli.StringFlag{Name: flagCSRDir, Usage: "sign every CSR in `DIR`, each client named after its file (device-1.csr: device-1)"},
			failFastFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.IsSet(flagCSRDir) {
				if err := bulkOnly(c); err != nil {
					return err
				}
				p, err := commonParams(c)
				if err != nil {
					return err
				}
				return runBulk(c, p, "Signed")
			}
			path, err := oneArg(c, "CSR")
			if err != nil {
				return err
			}
			data, err := readInput(path, 64<<10)
			if err != nil {
				return err
			}
			csr, err := x509cert.DecodeCSR(data)
			if err != nil {
				return withHint(fmt.Errorf("%s: %w", path, err), "a CSR starts with -----BEGIN CERTIFICATE REQUEST-----; make one with openssl req -new")
			}
			checked, err := x509cert.CheckCSR(csr)
			if err != nil {
				return withHint(fmt.Errorf("%s: %w", path, err), "make a new CSR with an ecdsa-p256, ecdsa-p384 or RSA 2048-4096 key, signed with SHA-256 or stronger")
			}
			name := c.String(flagName)
			if name == "" {
				name = csr.Subject.CommonName
				if pki.CheckClientName(name) != nil {
					return usagef("the CSR's common name %q cannot be a name in the inventory: give --name", name)
				}
			}
			p, err := clientParams(c, name)
			if err != nil {
				return err
			}
			p.CSR = checked
			return issueClient(c, p)
		},
	}
}

// readInput reads a file, or standard input for "-", refusing anything
// larger than limit without reading past it.
func readInput(path string, limit int64) ([]byte, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var buf bytes.Buffer
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() <= limit {
		buf.Grow(int(info.Size()) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return buf.Bytes(), nil
}

func clientParams(c *cli.Context, name string) (pki.ClientParams, error) {
	if err := pki.CheckClientName(name); err != nil {
		return pki.ClientParams{}, usageError{err}
	}
	p, err := commonParams(c)
	p.Name = name
	return p, err
}

// commonParams reads the issuing flags every client of a command shares,
// and asks for the CA's passphrase before the PKI directory is locked.
func commonParams(c *cli.Context) (pki.ClientParams, error) {
	uris, err := x509cert.ParseURIs(c.StringSlice(flagURI))
	if err != nil {
		return pki.ClientParams{}, usageError{err}
	}
	// Every flag value is judged here, by the checks pki signs with, so a
	// bad --dns, --email, --uri, --cn or --org is the same usage error.
	if err := x509cert.CheckSANs(c.StringSlice(flagDNS), c.StringSlice(flagEmail), uris); err != nil {
		return pki.ClientParams{}, usageError{err}
	}
	if err := x509cert.CheckSubject(subjectFlags(c)); err != nil {
		return pki.ClientParams{}, usageError{fmt.Errorf("--%s/--%s: %w", flagCN, flagOrg, err)}
	}
	// Every secret is asked for before the PKI directory is locked.
	pass, err := issuerPassphrase(c, c.String(flagCA), secretSource{
		what: "passphrase for the issuing CA", file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase,
		hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase,
	})
	if err != nil {
		return pki.ClientParams{}, err
	}
	return pki.ClientParams{
		CAPassphrase: pass,
		CA:           c.String(flagCA),
		CommonName:   c.String(flagCN),
		Organization: c.String(flagOrg),
		Days:         c.Int(flagDays),
		DNSNames:     c.StringSlice(flagDNS),
		URIs:         uris,
		Emails:       c.StringSlice(flagEmail),
	}, nil
}

func issueClient(c *cli.Context, p pki.ClientParams) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	s, err := openStore(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if p.CSR == nil {
		slowKeyNotice(c, format, p.KeyType)
	}
	issued, err := s.IssueClient(p)
	if amb := (*pki.AmbiguousIssuerError)(nil); errors.As(err, &amb) && p.CSR != nil && len(amb.Candidates) > 0 {
		// Never point a CSR's owner at client issue: it would make a new
		// key, when the point of a CSR is that the key stays on the device.
		return withHint(err, "choose the CA with --ca, e.g. --ca "+amb.Candidates[0])
	}
	if err != nil {
		return pkiError(c, err, p.Name)
	}
	how := "Issued"
	if p.CSR != nil {
		how = "Signed the CSR of"
	}
	text, err := writeIssued(c, format, s, issued, fmt.Sprintf("%s client %q, issued by CA %q", how, p.Name, issued.Record.Issuer))
	if !text || err != nil {
		return err
	}
	w := c.App.Writer
	dir := filepath.Join(s.Dir, filepath.FromSlash(issued.Record.Dir))
	key := filepath.Join(dir, "key.pem")
	if p.CSR != nil {
		key = "DEVICE_KEY"
	}
	domain := profileValue(c, flagDomain)
	if domain == "" {
		domain = "YOUR-DOMAIN"
	}
	fmt.Fprintf(w, "next: curl --cert %s --key %s https://%s/\n", filepath.Join(dir, "chain.pem"), key, domain)
	return nil
}

func clientListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list client certificates, or those expiring soon",
		ArgsUsage: "[PATTERN...]",
		Description: `With --expiring-within, lists only clients that are expired or expire within
that time, and exits 1 when there is any: a cron job or CI check that fails
before a partner's certificate does. Durations: 30d, 2w, 720h.

A PATTERN keeps the clients whose name it matches, with * (any run of
characters), ? (one) and [a-z] (one of a set), as Go's path.Match does;
quote it, so that the shell does not expand it.

Example:
   apimtls client list
   apimtls client list 'device-*' --ca devices --status revoked
   apimtls client list --expiring-within 30d || mail -s "renew client certificates" ops@example.com`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagExpiringWithin, Usage: "only clients expiring within `DURATION` (30d, 2w, 720h); exit 1 if any", Action: daysDurationIn(flagExpiringWithin)},
			&cli.StringFlag{Name: flagCA, Usage: "only clients issued by this CA"},
			statusFlag("only clients that are `STATUS`: active (or valid), revoked, expired or superseded, as the STATUS column says"),
		},
		Action: clientList,
	}
}

// statusFlag is --status of client list and client export: the words of
// the STATUS column.
func statusFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: flagStatus, Usage: usage, Action: func(_ *cli.Context, v string) error {
		if _, ok := statusFilter[v]; !ok {
			return usagef("--%s %q: use active (or valid), revoked, expired or superseded", flagStatus, v)
		}
		return nil
	}}
}

// namePatterns checks PATTERN arguments: path.Match's syntax, on names.
func namePatterns(args []string) ([]string, error) {
	for _, p := range args {
		if _, err := path.Match(p, ""); err != nil {
			return nil, usagef("pattern %q: %v: use *, ? and [a-z], as in 'device-*'", p, err)
		}
	}
	return args, nil
}

// isNamePattern reports whether arg is a pattern rather than a name: no
// name holds *, ?, [ or \ (pki.CheckName).
func isNamePattern(arg string) bool { return strings.ContainsAny(arg, `*?[\`) }

// matchesAny reports whether name matches one of patterns, or patterns
// is empty.
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return len(patterns) == 0
}

func clientList(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	patterns, err := namePatterns(c.Args().Slice())
	if err != nil {
		return err
	}
	s, err := openStore(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	now := s.Now()
	n, err := printClientList(c, s, format, now, patterns)
	if err != nil || !c.IsSet(flagExpiringWithin) {
		return err
	}
	if n > 0 {
		return silentError{fmt.Sprintf("%s expired or expiring within %s", plural.Count(n, "client certificate"), c.String(flagExpiringWithin))}
	}
	if format == outputText {
		fmt.Fprintf(c.App.Writer, "no client certificate expires within %s\n", c.String(flagExpiringWithin))
	}
	return nil
}

// printClientList prints the clients the filters keep and says how many.
// Both forms list Briefs; JSON decodes each whole record as it prints it.
func printClientList(c *cli.Context, s *pki.Store, format string, now time.Time, patterns []string) (int, error) {
	keep, err := clientFilter(c, s, now, patterns)
	if err != nil {
		return 0, err
	}
	clients, err := s.ListBrief(keep)
	if err != nil {
		return 0, err
	}
	if format == outputText {
		return len(clients), printClients(c, s, clients, now)
	}
	return len(clients), writeJSONList(c.App.Writer, clients, func(b **pki.Brief) (certView, error) {
		r, err := (*b).Record()
		if err != nil {
			return certView{}, err
		}
		return viewOf(s, r, now), nil
	})
}

// clientFilter is what --ca, --status, --expiring-within and name
// patterns keep of the inventory's listing index (reading no certificate
// file); safe on several goroutines.
func clientFilter(c *cli.Context, s *pki.Store, now time.Time, patterns []string) (func(*pki.Brief) bool, error) {
	var within time.Duration
	expiring := c.IsSet(flagExpiringWithin) // IsSet is slow: not once a record
	if expiring {
		var err error
		if within, err = parseDays(c.String(flagExpiringWithin)); err != nil {
			return nil, usageError{err}
		}
	}
	ca := c.String(flagCA)
	if ca != "" {
		if _, err := s.Lookup(pki.KindRoot, ca); err != nil {
			return nil, pkiError(c, err, ca)
		}
	}
	status := statusFilter[c.String(flagStatus)]
	revokedCAs, err := s.RevokedCAs()
	if err != nil {
		return nil, err
	}
	return func(r *pki.Brief) bool {
		if r.Kind != pki.KindClient || (ca != "" && r.Issuer != ca) || (status != "" && listedStatus(r, now, revokedCAs) != status) {
			return false
		}
		if expiring && (r.Status != pki.StatusActive || !r.NotAfter.Before(now.Add(within))) {
			return false
		}
		return matchesAny(patterns, r.Name)
	}, nil
}

// listedStatus is the status --status filters on: a client under a
// revoked CA is revoked, whatever its own record says, for no authorizer
// accepts it.
func listedStatus(r *pki.Brief, now time.Time, revokedCAs map[string]bool) string {
	st := r.StatusAt(now)
	if st == pki.StatusActive && revokedCAs[r.IssuerSerial] {
		return pki.StatusRevoked
	}
	return st
}

func printClients(c *cli.Context, s *pki.Store, clients []*pki.Brief, now time.Time) error {
	if len(clients) == 0 {
		switch {
		case c.IsSet(flagExpiringWithin):
		case c.IsSet(flagStatus) || c.IsSet(flagCA) || c.NArg() > 0:
			fmt.Fprintln(c.App.Writer, "no client certificate matches the filter")
		default:
			fmt.Fprintf(c.App.Writer, "no client certificates in %s; next: apimtls client issue NAME\n", storeName(s))
		}
		return nil
	}
	revokedCAs, err := s.RevokedCAs()
	if err != nil {
		return err
	}
	t := newTable(c.App.Writer, "NAME", "ISSUER", "KEY", "NOT AFTER", "STATUS", "SERIAL")
	// The cells are made on every core: 100,000 rows of dates and
	// remaining days are a third of what the table costs.
	const cols = 6
	cells := make([]string, cols*len(clients))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := len(clients) * w / workers; i < len(clients)*(w+1)/workers; i++ {
				r := clients[i]
				st := r.StatusAt(now)
				switch {
				case st == pki.StatusActive && revokedCAs[r.IssuerSerial]:
					st = "active, issuer revoked"
				case st == pki.StatusSuperseded:
					st = supersededStatus(r, now)
				}
				copy(cells[cols*i:], []string{r.Name, r.Issuer, string(r.KeyType), r.NotAfter.Format(time.DateOnly), st + " (" + remaining(r.NotAfter, now) + ")", r.Serial})
			}
		})
	}
	wg.Wait()
	for i := range clients {
		t.row(cells[cols*i : cols*(i+1)]...)
	}
	return t.flush()
}

// supersededStatus says whether a renewed certificate is revoked yet, or
// until when its --keep-previous overlap lets it be used.
func supersededStatus(b *pki.Brief, now time.Time) string {
	r, err := b.Record()
	switch {
	case err != nil || r.RevokedAt == nil:
		return pki.StatusSuperseded
	case pki.Retired(r, now):
		return pki.StatusSuperseded + ", revoked"
	}
	return pki.StatusSuperseded + ", valid until " + r.RevokedAt.Format(time.RFC3339)
}

// flagStatus filters client list and client export by the words of
// list's STATUS column and JSON status field; "valid" stays another name
// for active.
const flagStatus = "status"

var statusFilter = map[string]string{"": "", "active": pki.StatusActive, "valid": pki.StatusActive, "revoked": pki.StatusRevoked, "expired": pki.StatusExpired, "superseded": pki.StatusSuperseded}

func clientShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one client certificate by name or serial",
		ArgsUsage: "NAME|SERIAL",
		Description: `Example:
   apimtls client show partner-acme
   apimtls client show 5c:1f:...:9a -o json`,
		Action: func(c *cli.Context) error {
			format, arg, err := startOneArg(c, "NAME|SERIAL")
			if err != nil {
				return err
			}
			s, err := openStore(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rec, err := s.Find(pki.KindClient, arg)
			if err != nil {
				return withHint(err, "list them with: apimtls client list")
			}
			v := viewOf(s, rec, s.Now())
			if format == outputJSON {
				return writeJSON(c.App.Writer, v)
			}
			return printDetails(c.App.Writer, v, s.Now())
		},
	}
}

// subjectFlags is the subject --cn and --org ask for.
func subjectFlags(c *cli.Context) pkix.Name {
	n := pkix.Name{CommonName: c.String(flagCN)}
	if o := c.String(flagOrg); o != "" {
		n.Organization = []string{o}
	}
	return n
}

// clientKeyPairStatus is a client's chain and key files, and whether the
// inventory has it revoked.
func clientKeyPairStatus(c *cli.Context, name string) (chain, key string, revoked bool, err error) {
	s, err := openStore(c, false)
	if err != nil {
		return "", "", false, err
	}
	defer s.Close()
	rec, err := s.Lookup(pki.KindClient, name)
	if err != nil {
		return "", "", false, pkiError(c, err, name)
	}
	l := s.Layout()
	if rec.FromCSR {
		return "", "", false, withHint(fmt.Errorf("client %q was signed from a CSR: its key is on its device, not in %s", name, s.Dir), "run the probe there with --cert and --key")
	}
	if u := s.Shared(); u != "" && !fileExists(l.ClientKey(name)) {
		return "", "", false, withHint(fmt.Errorf("the key of client %q is not on this machine: %s holds no private key, so it stays where the client was issued", name, u), "run the probe there, or give this machine's own client with --client")
	}
	// Revoked itself, or under a revoked CA: either way refused for
	// revocation, never a good client.
	revokedAt, err := s.RevokedInChain(rec)
	if err != nil {
		return "", "", false, err
	}
	return l.ClientChain(name), l.ClientKey(name), revokedAt != nil, nil
}
