package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of the truststore commands.
const (
	flagAdd               = "add"
	flagStrict            = "strict"
	flagExpiryWarning     = "expiry-warning"
	flagAllowPinnedClient = "allow-pinned-client"
	flagAt                = "at"
	flagVerifySignatures  = "verify-signatures"
)

func truststoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "truststore",
		Usage: "build, validate and inspect the truststore API Gateway reads",
		Subcommands: []*cli.Command{
			truststoreBuildCommand(),
			truststoreValidateCommand(),
			truststoreVerifyClientCommand(),
			truststoreInspectCommand(),
			truststorePushCommand(),
			truststoreVersionsCommand(),
			truststorePullCommand(),
		},
	}
}

func validateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagExpiryWarning, Value: "30d", Usage: "warn about certificates expiring within `DURATION` (30d, 2w, 720h)", Action: daysDurationIn(flagExpiryWarning)},
		&cli.BoolFlag{Name: flagAllowPinnedClient, Usage: "accept a self-signed client certificate pinned in the truststore"},
	}
}

func validateOptions(c *cli.Context, now time.Time) (x509cert.ValidateOptions, error) {
	d, err := parseDays(c.String(flagExpiryWarning))
	if err != nil {
		return x509cert.ValidateOptions{}, usageError{err}
	}
	return x509cert.ValidateOptions{Now: now, ExpiryWarning: d, AllowPinnedClient: c.Bool(flagAllowPinnedClient)}, nil
}

// readTruststoreFile reads a bundle, stopping well past API Gateway's 1 MB
// limit so that a wrong file cannot exhaust memory.
func readTruststoreFile(path string) ([]byte, error) {
	data, err := readInput(path, x509cert.MaxTruststoreReadSize)
	if err != nil {
		return nil, withHint(err, "give the path of a PEM file, or build one: apimtls truststore build")
	}
	return data, nil
}

func truststoreBuildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "bundle the CA hierarchy into truststore.pem",
		ArgsUsage: " ",
		Description: `Writes every CA needed to verify the chosen issuing CAs (default: all valid
CAs), roots included, each once, deepest first and roots last, in an order
that is the same on every run. --add merges outside CA certificates, such as
another team's root. The bundle is validated first; an invalid one is not
written. The file is replaced atomically.

Example:
   apimtls truststore build
   apimtls truststore build --ca partners --add other-team-root.pem --out truststore.pem`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: flagOut, Usage: "write to `FILE` (default: truststore.pem in the PKI directory)"},
			&cli.StringSliceFlag{Name: flagCA, Usage: "an issuing CA to include with its chain (repeatable; default: all)"},
			&cli.StringSliceFlag{Name: flagAdd, Usage: "a PEM file of outside CA certificates to merge (repeatable)"},
		}, validateFlags()...),
		Action: truststoreBuild,
	}
}

func truststoreBuild(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	added, err := addedCAs(c)
	if err != nil {
		return err
	}
	extra := make([]*x509.Certificate, len(added))
	for i, a := range added {
		extra[i] = a.cert
	}
	built, out, err := buildTruststore(c, extra)
	if err != nil {
		return err
	}
	result := buildResult{Path: out, Certificates: built.Report.Certificates, SHA256: x509cert.SHA256Hex(built.PEM), Written: built.Report.Errors == 0, Notes: built.Notes, Warnings: built.Warnings, Report: built.Report}
	for _, w := range built.Warnings {
		printWarning(c.App.ErrWriter, w, noColor(c))
	}
	if result.Written {
		if err := writeOutput(c, out, built.PEM); err != nil {
			return err
		}
	}
	if err := printBuilt(c, format, result); err != nil {
		return err
	}
	if !result.Written {
		err := fmt.Errorf("the truststore has %s and was not written", plural.Count(built.Report.Errors, "error"))
		if files := addedAtFault(built.Report, added); len(files) > 0 {
			return withHint(err, "the certificates named above came from --"+flagAdd+" "+strings.Join(files, ", ")+": fix them or leave them out")
		}
		return withHint(err, "fix the CAs named above, or leave them out with --ca")
	}
	return nil
}

// addedCert is a certificate given with --add, and its file.
type addedCert struct {
	cert *x509.Certificate
	file string
}

// addedAtFault names the --add files holding a certificate that an error
// of the report is about.
func addedAtFault(r *x509cert.TruststoreReport, added []addedCert) []string {
	bad := map[string]bool{}
	for _, f := range r.Findings {
		if f.Severity == x509cert.SeverityError && f.Certificate != nil {
			bad[f.Certificate.SHA256] = true
		}
	}
	var files []string
	for _, a := range added {
		if bad[x509cert.Fingerprint(a.cert)] && !slices.Contains(files, a.file) {
			files = append(files, a.file)
		}
	}
	return files
}

// addedCAs reads the --add files.
func addedCAs(c *cli.Context) ([]addedCert, error) {
	var added []addedCert
	for _, f := range c.StringSlice(flagAdd) {
		data, err := readTruststoreFile(f)
		if err != nil {
			return nil, err
		}
		certs, err := x509cert.DecodeCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("--add %s: %w", f, err)
		}
		for _, cert := range certs {
			added = append(added, addedCert{cert, f})
		}
	}
	return added, nil
}

// buildTruststore bundles the chosen CAs, and says where it goes.
func buildTruststore(c *cli.Context, extra []*x509.Certificate) (*pki.BuiltTruststore, string, error) {
	s, err := openStore(c, false)
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	opts, err := validateOptions(c, s.Now())
	if err != nil {
		return nil, "", err
	}
	built, err := s.BuildTruststore(c.StringSlice(flagCA), extra, opts)
	if amb := (*pki.AmbiguousIssuerError)(nil); errors.As(err, &amb) {
		return nil, "", withHint(errors.New("no valid CA to put in a truststore"), "apimtls ca init")
	}
	if err != nil {
		return nil, "", pkiError(c, err, "")
	}
	out := c.String(flagOut)
	if out == "" {
		out = s.Layout().Truststore()
	}
	out, err = filepath.Abs(out)
	return built, out, err
}

func printBuilt(c *cli.Context, format string, result buildResult) error {
	if format == outputJSON {
		return writeJSON(c.App.Writer, result)
	}
	w := c.App.Writer
	if result.Written {
		fmt.Fprintf(w, "Wrote %s: %s, sha256 %s\n", result.Path, plural.Count(result.Certificates, "CA certificate"), result.SHA256)
	}
	printNotes(w, result.Notes)
	printReport(w, result.Report, noColor(c))
	if result.Written {
		fmt.Fprintf(w, "next: apimtls truststore verify-client --truststore %s CLIENT\n", result.Path)
	}
	return nil
}

type buildResult struct {
	Path         string                     `json:"path"`
	Certificates int                        `json:"certificates"`
	SHA256       string                     `json:"sha256"`
	Written      bool                       `json:"written"`
	Notes        []string                   `json:"notes,omitempty"`
	Warnings     []string                   `json:"warnings,omitempty"`
	Report       *x509cert.TruststoreReport `json:"report"`
}

// printReport writes the summary, then one block per finding.
func printReport(w io.Writer, r *x509cert.TruststoreReport, noColor bool) {
	earliest := "none"
	if r.EarliestExpiry != nil {
		earliest = r.EarliestExpiry.Format(time.DateOnly)
	}
	fmt.Fprintf(w, "%s, %s, deepest chain %s, earliest expiry %s, %s: %s, %s\n",
		plural.Count(r.Certificates, "certificate"), plural.Count(r.Roots, "root"), plural.Count(r.DeepestChain, "CA level"), earliest,
		plural.Count(r.Bytes, "byte"), plural.Count(r.Errors, "error"), plural.Count(r.Warnings, "warning"))
	printFindings(w, r.Findings, noColor)
}

// printFindings writes one block per finding. Messages quote subjects and
// PEM types from the file: they are escaped for the terminal.
func printFindings(w io.Writer, findings []x509cert.Finding, noColor bool) {
	for _, f := range findings {
		label := paint(w, noColor, colorFor(f.Severity), string(f.Severity))
		fmt.Fprintf(w, "%s [%s] %s\n", label, f.Rule, textsafe.Escape(f.Message))
		if f.Certificate != nil && f.Certificate.SHA256 != "" {
			fmt.Fprintf(w, "  certificate %d, line %d: serial %s, sha256 %s\n", f.Certificate.Position, f.Certificate.Line, f.Certificate.Serial, f.Certificate.SHA256)
		}
		fmt.Fprintf(w, "  fix: %s\n", f.Fix)
	}
}

func truststoreValidateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a truststore against API Gateway's rules, offline",
		ArgsUsage: "FILE",
		Description: `Checks every rule of docs/truststore.md: PEM CERTIFICATE blocks only, at most
1,000 certificates and 1 MB, accepted keys and signatures, validity, CAs
only, complete chains of at most four CA levels, pathLen. Each finding has a
stable rule ID, the certificate's position, line, subject, serial and
SHA-256 fingerprint, and a fix. Exit 0 when clean or only warnings, 1 on
errors (or on warnings with --strict). Issuers are matched by name and key
identifier, as the rules need; --verify-signatures also checks each
signature (truststore build and verify-client always do).

Example:
   apimtls truststore validate truststore.pem
   apimtls truststore validate truststore.pem --strict --expiry-warning 60d -o json`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: flagStrict, Usage: "exit 1 on warnings too"},
			&cli.BoolFlag{Name: flagVerifySignatures, Usage: "also check every signature with its issuer's key (issuers are otherwise matched by name and key identifier)"},
		}, validateFlags()...),
		Action: truststoreValidate,
	}
}

func truststoreValidate(c *cli.Context) error {
	format, file, err := startOneArg(c, "FILE")
	if err != nil {
		return err
	}
	opts, err := validateOptions(c, time.Now())
	if err != nil {
		return err
	}
	opts.VerifySignatures = c.Bool(flagVerifySignatures)
	data, err := readTruststoreFile(file)
	if err != nil {
		return err
	}
	r := x509cert.ValidateTruststore(data, opts)
	if format == outputJSON {
		err = writeJSON(c.App.Writer, struct {
			File string `json:"file"`
			*x509cert.TruststoreReport
		}{file, r})
	} else {
		printReport(c.App.Writer, r, noColor(c))
	}
	if err != nil {
		return err
	}
	if r.Errors > 0 || (c.Bool(flagStrict) && r.Warnings > 0) {
		return silentError{}
	}
	return nil
}

func truststoreVerifyClientCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify-client",
		Usage:     "would API Gateway accept this client certificate?",
		ArgsUsage: "CERT",
		Description: `Decides as API Gateway would: the client's issuer and every CA up to a root
in the truststore (API Gateway ignores intermediates the client sends), at
most four CA levels, every certificate valid, keys and signatures it
accepts. CERT is a PEM file or the name of a client in the inventory. Exit 0
when accepted, 1 when refused, with the reason in API Gateway's words.

Beside that verdict it reports revocation, as the apimtls authorizer decides
it with the CRLs in --crl-dir (default: crl/ in the PKI directory): a
client revoked, or under a revoked CA, is refused (exit 1) though API
Gateway alone would accept it; a CA without a usable CRL is named, since
the authorizer refuses its clients too.

Example:
   apimtls truststore verify-client partner-acme
   apimtls truststore verify-client --truststore truststore.pem device.pem --at 2027-06-01`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagTruststore, Usage: "the truststore `FILE` (default: truststore.pem in the PKI directory)"},
			&cli.StringFlag{Name: flagAt, Usage: "decide at this `TIME` (RFC 3339 or YYYY-MM-DD) instead of now"},
			&cli.StringFlag{Name: flagCRLDir, Usage: "check revocation with the CRLs in `DIR` (default: crl/ in the PKI directory)"},
		},
		Action: truststoreVerifyClient,
	}
}

func truststoreVerifyClient(c *cli.Context) error {
	format, cert, err := startOneArg(c, "CERT")
	if err != nil {
		return err
	}
	at := time.Now()
	if v := c.String(flagAt); v != "" {
		if at, err = parseTime(v); err != nil {
			return usageError{err}
		}
	}
	client, err := loadClientCert(c, cert)
	if err != nil {
		return err
	}
	tsPath, err := defaultTruststore(c)
	if err != nil {
		return err
	}
	data, err := readTruststoreFile(tsPath)
	if err != nil {
		return err
	}
	d := x509cert.VerifyClient(x509cert.ValidateTruststore(data, x509cert.ValidateOptions{Now: at}), client, at)
	rev, err := clientRevocation(c, data, client, d, at)
	if err != nil {
		return err
	}
	if format == outputJSON {
		err = writeJSON(c.App.Writer, verifyResult{d, rev})
	} else {
		printVerdict(c.App.Writer, d, rev)
	}
	if err == nil && (!d.Accept || rev.Reason == string(revocation.Revoked)) {
		return silentError{}
	}
	return err
}

// verifyResult is API Gateway's verdict with the authorizer's beside it.
type verifyResult struct {
	*x509cert.ClientDecision
	Revocation *revocationVerdict `json:"revocation,omitempty"`
}

// revocationVerdict is what the apimtls authorizer would decide with the
// CRLs of CRLDir: reason ok, revoked, or why it could not tell (crl_missing,
// crl_expired, ...), which it refuses too.
type revocationVerdict struct {
	CRLDir string `json:"crl_dir"`
	Allow  bool   `json:"allow"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// clientRevocation decides on a client the truststore accepts as the
// authorizer would, with --crl-dir or the PKI directory's crl/ (a missing
// one is no CRL for any CA). Nil when API Gateway already refuses it.
func clientRevocation(c *cli.Context, truststore []byte, client *x509.Certificate, d *x509cert.ClientDecision, at time.Time) (*revocationVerdict, error) {
	if !d.Accept {
		return nil, nil
	}
	dir := c.String(flagCRLDir)
	if dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil, usagef("--%s %s: not a directory", flagCRLDir, dir)
		}
	} else {
		pkiDir, err := pkiDir(c)
		if err != nil {
			return nil, err
		}
		dir = pki.Layout{Dir: pkiDir}.CRLs()
	}
	ts, err := revocation.ParseTruststore(truststore)
	if err != nil {
		return nil, err
	}
	crls := &revocation.DirCRLs{Dir: dir, Truststore: ts}
	if _, err := crls.Current(); err != nil {
		return nil, withHint(err, "sign them again: apimtls ca crl")
	}
	rd := (&revocation.Checker{Truststore: ts, CRLs: crls}).Decide(c.Context, client, at)
	return &revocationVerdict{CRLDir: dir, Allow: rd.Allow, Reason: string(rd.Reason), Detail: rd.Detail}, nil
}

func printVerdict(w io.Writer, d *x509cert.ClientDecision, rev *revocationVerdict) {
	switch {
	case !d.Accept:
		fmt.Fprintf(w, "reject: %s\n  %s\n  fix: %s\n", d.Reason, textsafe.Escape(d.Detail), d.Fix)
	case rev != nil && rev.Reason == string(revocation.Revoked):
		fmt.Fprintf(w, "reject: revoked: API Gateway alone would accept %s, the apimtls authorizer refuses it\n  %s\n", textsafe.Escape(d.Client.Subject), textsafe.Escape(rev.Detail))
	default:
		fmt.Fprintf(w, "accept: API Gateway would accept %s\n", textsafe.Escape(d.Client.Subject))
	}
	switch {
	case rev == nil, rev.Reason == string(revocation.Revoked):
	case rev.Allow:
		fmt.Fprintf(w, "  revocation: not revoked (CRLs in %s)\n", rev.CRLDir)
	default:
		fmt.Fprintf(w, "  revocation: could not check (%s): %s\n  the apimtls authorizer refuses it until that CA has a current CRL: apimtls ca crl\n", rev.Reason, textsafe.Escape(rev.Detail))
	}
	for i, l := range d.Chain {
		where := "client"
		if i > 0 {
			where = fmt.Sprintf("truststore #%d", l.Position)
		}
		fmt.Fprintf(w, "  %s%s  (%s, until %s)\n", strings.Repeat("  ", i), textsafe.Escape(l.Subject), where, l.NotAfter.Format(time.DateOnly))
	}
}

// loadClientCert reads CERT as a file, or else as a client in the inventory.
func loadClientCert(c *cli.Context, arg string) (*x509.Certificate, error) {
	if _, err := os.Stat(arg); err == nil {
		data, err := readInput(arg, 1<<20)
		if err != nil {
			return nil, err
		}
		cert, err := x509cert.DecodeCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		return cert, nil
	}
	s, err := openStore(c, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rec, err := s.Find(pki.KindClient, arg)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s is neither a file nor a client in the inventory", arg), "list clients with: apimtls client list")
	}
	return s.Certificate(rec)
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use RFC 3339 (2027-06-01T12:00:00Z) or a date (2027-06-01)", v)
}

func truststoreInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show what a truststore holds, as a tree",
		ArgsUsage: "FILE",
		Description: `Prints the certificates of a bundle as a tree under their roots, with
validity, key type and SHA-256 fingerprint. It shows what is there; use
truststore validate to judge it.

Example:
   apimtls truststore inspect truststore.pem`,
		Action: truststoreInspect,
	}
}

func truststoreInspect(c *cli.Context) error {
	format, file, err := startOneArg(c, "FILE")
	if err != nil {
		return err
	}
	data, err := readTruststoreFile(file)
	if err != nil {
		return err
	}
	r := x509cert.ValidateTruststore(data, x509cert.ValidateOptions{Now: time.Now()})
	nodes := inspectNodes(r)
	unread := r.ReadingFindings()
	if format == outputJSON {
		err = writeJSON(c.App.Writer, nodes)
	} else if len(nodes) > 0 {
		printInspectTree(c.App.Writer, r)
	}
	if err != nil {
		return err
	}
	if len(unread) > 0 {
		// What inspect cannot show as a certificate (a private key,
		// a malformed block) is never passed over in silence.
		if format == outputText {
			printFindings(c.App.Writer, unread, noColor(c))
		}
		return withHint(fmt.Errorf("%s holds what is not a readable certificate (%s)", c.Args().First(), plural.Count(len(unread), "finding")),
			"see every finding with: apimtls truststore validate "+c.Args().First())
	}
	if len(nodes) == 0 {
		return withHint(errors.New("no certificate found"), "truststore validate explains why")
	}
	return nil
}

type inspectNode struct {
	x509cert.CertRef
	Issuer    int       `json:"issuer_position,omitempty"`
	KeyType   string    `json:"key_type"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IsCA      bool      `json:"is_ca"`
	PathLen   *int      `json:"path_len,omitempty"`
	Level     int       `json:"level"`
	Duplicate bool      `json:"duplicate,omitempty"`
}

func inspectNodes(r *x509cert.TruststoreReport) []inspectNode {
	out := []inspectNode{}
	for _, e := range r.Entries {
		n := inspectNode{CertRef: e.Ref, KeyType: keyTypeText(e.Cert), NotBefore: e.Cert.NotBefore.UTC(), NotAfter: e.Cert.NotAfter.UTC(), IsCA: e.Cert.IsCA, Level: e.Level, Duplicate: e.Duplicate}
		if e.Issuer != nil {
			n.Issuer = e.Issuer.Ref.Position
		}
		if e.Cert.IsCA {
			pl := x509cert.PathLen(e.Cert)
			n.PathLen = &pl
		}
		out = append(out, n)
	}
	return out
}

func keyTypeText(c *x509.Certificate) string {
	kt, err := x509cert.KeyTypeOf(c.PublicKey)
	if err != nil {
		return "unsupported: " + err.Error()
	}
	return string(kt)
}

func printInspectTree(w io.Writer, r *x509cert.TruststoreReport) {
	children := map[*x509cert.TrustEntry][]*x509cert.TrustEntry{}
	var tops []*x509cert.TrustEntry
	for _, e := range r.Entries {
		if e.Duplicate {
			continue
		}
		if e.Issuer == nil {
			tops = append(tops, e)
		} else {
			children[e.Issuer] = append(children[e.Issuer], e)
		}
	}
	var walk func(e *x509cert.TrustEntry, indent string)
	walk = func(e *x509cert.TrustEntry, indent string) {
		what := "root"
		if !e.SelfSigned {
			what = "issuer not in bundle"
			if e.Issuer != nil {
				what = "CA"
			}
		}
		if !e.Cert.IsCA {
			what = "not a CA"
		}
		fmt.Fprintf(w, "%s#%d %s  [%s, %s, %s to %s]\n%s   sha256 %s\n", indent, e.Ref.Position, textsafe.Escape(e.Ref.Subject), what, keyTypeText(e.Cert),
			e.Cert.NotBefore.UTC().Format(time.DateOnly), e.Cert.NotAfter.UTC().Format(time.DateOnly), indent, e.Ref.SHA256)
		for _, k := range children[e] {
			walk(k, indent+"    ")
		}
	}
	for _, t := range tops {
		walk(t, "")
	}
	fmt.Fprintf(w, "%s, %s, deepest chain %s\n", plural.Count(r.Certificates, "certificate"), plural.Count(r.Roots, "root"), plural.Count(r.DeepestChain, "CA level"))
}
