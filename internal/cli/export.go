package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
)

// Flags of client export.
const (
	flagAll    = "all"
	flagFormat = "format"
)

func clientExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write clients' keys, certificates and chains for flashing devices",
		ArgsUsage: "NAME... | PATTERN... | --ca NAME | --all",
		Description: `Formats:
   pem  one client: key (PKCS #8, unencrypted), certificate, issuing CAs, root
   p12  one client: a PKCS #12 file (password from --p12-password-file,
        ` + envP12Password + ` or a prompt, asked before any work)
   tar  any number (default for several, a PATTERN, --ca or --all):
        NAME/key.pem (0600), NAME/cert.pem, NAME/chain.pem, NAME/ca.pem for
        each client

Writes to --out FILE (0600 when it holds a key; never over an existing key
or into the PKI directory's folders), else to standard output, which must
not be a terminal when the export holds a key or is binary. A CSR-signed
client is exported without a key (and has no p12).

Which clients: each NAME; each client whose name matches a PATTERN (*, ?
and [a-z], as Go's path.Match; quote it so that the shell does not expand
it; a PATTERN that matches no client is an error); with --ca, those the CA
issued; with --all, every one. --status keeps those of one status, in the
words of client list's STATUS column. Without --status, patterns, --ca and
--all leave revoked and superseded certificates out and say how many; a
client named is exported even if revoked, with a warning.

Example:
   apimtls client export --all --out fleet.tar
   apimtls client export --ca devices --out devices.tar
   apimtls client export 'device-00*' --status active --out batch.tar
   apimtls client export device-00042 --format p12 --out device-00042.p12
   apimtls client export partner-acme | ssh host 'cat > acme.pem'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagAll, Usage: "every client in use (revoked and superseded certificates are left out, and counted)"},
			&cli.StringFlag{Name: flagCA, Usage: "the clients in use that CA `NAME` issued"},
			statusFlag("only clients that are `STATUS`: active (or valid), revoked, expired or superseded, as client list says"),
			&cli.StringFlag{Name: flagFormat, Usage: "`FORMAT`: pem, p12 or tar (default: pem for one client, tar for several)"},
			&cli.StringFlag{Name: flagOut, Usage: "write to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: flagP12Legacy, Usage: "p12 with 3DES and SHA-1 for old Java and macOS"},
			&cli.StringFlag{Name: flagP12PasswordFile, Usage: "read the PKCS #12 password from `FILE`"},
		},
		Action: func(c *cli.Context) error {
			sel, format, err := exportArgs(c)
			if err != nil {
				return err
			}
			var p12 *pki.P12Options
			if format == "p12" {
				pw, err := secretSource{what: "PKCS #12 password", file: c.String(flagP12PasswordFile), flag: flagP12PasswordFile, env: envP12Password, confirm: true,
					hint: "give --" + flagP12PasswordFile + " FILE or set " + envP12Password}.read(c.Context)
				if err != nil {
					return err
				}
				p12 = &pki.P12Options{Password: pw, Legacy: c.Bool(flagP12Legacy)}
			}
			data, n, hasKey, err := exportBundles(c, sel, format, p12)
			if err != nil {
				return err
			}
			if out := c.String(flagOut); out != "" {
				return writeExport(c, exported{Out: out, Format: format, Clients: n, Key: hasKey}, data)
			}
			if (hasKey || format != "pem") && isTerminal(c.App.Writer) {
				return withHint(fmt.Errorf("the export holds a private key or is binary: not writing it to a terminal"), "give --out FILE, or pipe it")
			}
			_, err = c.App.Writer.Write(data)
			return err
		},
	}
}

// exportSelection is which clients client export was asked for.
type exportSelection struct {
	// names are exported as named, even when revoked.
	names []string
	// patterns, --ca, --status and --all choose from the inventory: filter
	// says any was given.
	patterns []string
	filter   bool
}

// several reports whether the selection can hold more than one client.
func (sel exportSelection) several() bool { return sel.filter || len(sel.names) > 1 }

// exportArgs checks names, patterns, --all, --ca, --status, --format and
// --out before any work.
func exportArgs(c *cli.Context) (exportSelection, string, error) {
	var sel exportSelection
	for _, a := range c.Args().Slice() {
		if isNamePattern(a) {
			sel.patterns = append(sel.patterns, a)
			continue
		}
		if err := pki.CheckName(a); err != nil {
			return sel, "", usageError{err}
		}
		sel.names = append(sel.names, a)
	}
	if _, err := namePatterns(sel.patterns); err != nil {
		return sel, "", err
	}
	sel.filter = len(sel.patterns) > 0 || c.Bool(flagAll) || c.IsSet(flagCA) || c.IsSet(flagStatus)
	switch {
	case c.NArg() == 0 && !sel.filter:
		return sel, "", usagef("%s takes NAME..., a PATTERN such as 'device-*', --ca NAME or --all", commandPath(c))
	case c.Bool(flagAll) && c.NArg() > 0:
		return sel, "", usagef("--%s exports every client: give no NAME or PATTERN with it (narrow it with --%s or --%s)", flagAll, flagCA, flagStatus)
	case len(sel.names) > 0 && (c.IsSet(flagCA) || c.IsSet(flagStatus)):
		return sel, "", usagef("--%s and --%s choose among a PATTERN's or --%s's clients, and %q is exported as named: give a PATTERN, such as '%s*'", flagCA, flagStatus, flagAll, sel.names[0], sel.names[0])
	}
	format := c.String(flagFormat)
	if format == "" {
		format = "pem"
		if sel.several() {
			format = "tar"
		}
	}
	if !slices.Contains([]string{"pem", "p12", "tar"}, format) {
		return sel, "", usagef("--%s %q: use pem, p12 or tar", flagFormat, format)
	}
	if format != "tar" && sel.several() {
		return sel, "", usagef("--%s %s holds one client: use --%s tar for several", flagFormat, format, flagFormat)
	}
	if format != "p12" && (c.IsSet(flagP12PasswordFile) || c.Bool(flagP12Legacy)) {
		return sel, "", usagef("--%s and --%s go with --%s p12", flagP12PasswordFile, flagP12Legacy, flagFormat)
	}
	if out := c.String(flagOut); out != "" {
		if err := checkOutput(c, out); err != nil {
			return sel, "", err
		}
	}
	return sel, format, nil
}

// exportBundles reads the clients and encodes them; hasKey says whether
// the result holds a private key.
func exportBundles(c *cli.Context, sel exportSelection, format string, p12 *pki.P12Options) ([]byte, int, bool, error) {
	s, err := openStore(c, false)
	if err != nil {
		return nil, 0, false, err
	}
	defer s.Close()
	recs, err := exportRecords(c, s, sel)
	if err != nil {
		return nil, 0, false, err
	}
	bundles, err := s.ExportClients(recs)
	if err != nil {
		return nil, 0, false, err
	}
	hasKey := false
	for _, b := range bundles {
		hasKey = hasKey || b.Key != nil
	}
	var data []byte
	switch format {
	case "pem":
		data, err = bundles[0].PEM()
	case "p12":
		data, err = bundles[0].PKCS12(*p12)
	default:
		data, err = pki.ExportTar(bundles, s.Now())
	}
	return data, len(bundles), hasKey || format == "p12", err
}

// exportRecords is the records of the clients sel asks for: those the
// filters choose, in name order, then each client named.
func exportRecords(c *cli.Context, s *pki.Store, sel exportSelection) ([]*pki.Record, error) {
	var recs []*pki.Record
	if sel.filter {
		var err error
		if recs, err = filteredClients(c, s, sel.patterns); err != nil {
			return nil, err
		}
		if recs, err = clientsOfThisMachine(c, s, recs); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Name] = true
	}
	for _, n := range sel.names {
		r, err := s.Lookup(pki.KindClient, n)
		if err != nil {
			return nil, pkiError(c, err, n)
		}
		if r.Status == pki.StatusRevoked {
			printWarning(c.App.ErrWriter, fmt.Sprintf("client %q (serial %s) is revoked: exported as asked; it is refused wherever revocation is checked", n, r.Serial), noColor(c))
		}
		if !seen[n] {
			seen[n] = true
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// filteredClients is the clients that patterns, --ca and --status keep,
// as client list keeps them. Without --status, revoked and superseded
// certificates are left out, and counted: an export of many clients must
// not hand out a key a revocation took away. A pattern that keeps no
// client is an error that names it.
func filteredClients(c *cli.Context, s *pki.Store, patterns []string) ([]*pki.Record, error) {
	now := s.Now()
	listed, err := clientFilter(c, s, now, patterns)
	if err != nil {
		return nil, err
	}
	revokedCAs, err := s.RevokedCAs()
	if err != nil {
		return nil, err
	}
	anyStatus := c.IsSet(flagStatus)
	var left atomic.Int64
	briefs, err := s.ListBrief(func(b *pki.Brief) bool {
		if !listed(b) {
			return false
		}
		if st := listedStatus(b, now, revokedCAs); !anyStatus && (st == pki.StatusRevoked || st == pki.StatusSuperseded) {
			left.Add(1)
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if n := int(left.Load()); n > 0 {
		printWarning(c.App.ErrWriter, fmt.Sprintf("%s left out: revoked, or superseded by a renewal; name a client, or give --%s revoked, to export it anyway", plural.Count(n, "certificate"), flagStatus), noColor(c))
	}
	for _, p := range patterns {
		if !slices.ContainsFunc(briefs, func(b *pki.Brief) bool { return matchesAny([]string{p}, b.Name) }) {
			return nil, withHint(fmt.Errorf("%w: no client %smatches %q", pki.ErrNoClients, exportedKind(c), p), "list the clients with: apimtls client list '"+p+"'")
		}
	}
	if len(briefs) == 0 {
		return nil, fmt.Errorf("%w: none %s", pki.ErrNoClients, strings.TrimSpace(exportedKind(c)))
	}
	recs, older, err := latestOfEach(briefs)
	if older > 0 {
		printWarning(c.App.ErrWriter, fmt.Sprintf("%s of the same clients left out: an export holds one certificate of each client, the latest", plural.Count(older, "earlier certificate")), noColor(c))
	}
	return recs, err
}

// latestOfEach is the records of briefs (in name order), one of each
// client: the one no renewal superseded, else the latest issued; older
// is how many it leaves out. Two certificates of one client would be two
// NAME/ folders in one tar, the second over the first.
func latestOfEach(briefs []*pki.Brief) (recs []*pki.Record, older int, err error) {
	for _, b := range briefs {
		r, err := b.Record()
		if err != nil {
			return nil, 0, err
		}
		last := len(recs) - 1
		if last < 0 || recs[last].Name != r.Name {
			recs = append(recs, r)
			continue
		}
		older++
		if laterCertificate(r, recs[last]) {
			recs[last] = r
		}
	}
	return recs, older, nil
}

// laterCertificate reports whether a is a later certificate of its client
// than b: not superseded when b is, else recorded after it.
func laterCertificate(a, b *pki.Record) bool {
	if (a.SupersededBy == "") != (b.SupersededBy == "") {
		return a.SupersededBy == ""
	}
	return a.CreatedAt.After(b.CreatedAt)
}

// exportedKind says which clients the filters looked for, for an error:
// "in use " by default.
func exportedKind(c *cli.Context) string {
	what := "in use "
	if c.IsSet(flagStatus) {
		what = c.String(flagStatus) + " "
	}
	if ca := c.String(flagCA); ca != "" {
		what += "issued by CA " + strconv.Quote(ca) + " "
	}
	return what
}

// exported is what client export --out says it wrote (docs/json.md).
type exported struct {
	Out     string `json:"out"`
	Format  string `json:"format"`
	Clients int    `json:"clients"`
	Key     bool   `json:"holds_key"`
}

// writeExport writes the export through outfile: 0600 when it holds a key.
func writeExport(c *cli.Context, e exported, data []byte) error {
	protected, err := outputProtection(c)
	if err != nil {
		return err
	}
	mode := outfile.Public
	if e.Key {
		mode = 0o600
	}
	if err := outfile.Write(e.Out, data, mode, protected); err != nil {
		return err
	}
	if format, _ := outputFormat(c); format == outputJSON {
		return writeJSON(c.App.Writer, e)
	}
	fmt.Fprintf(c.App.Writer, "Wrote %s: %s as %s\n", e.Out, plural.Count(e.Clients, "client"), e.Format)
	return nil
}

// clientsOfThisMachine keeps, with a shared store, the clients whose key
// is in this PKI directory (and those signed from a CSR, which have none
// anywhere): --all exports what this machine issued, and says what it
// left out. A local directory keeps them all.
func clientsOfThisMachine(c *cli.Context, s *pki.Store, recs []*pki.Record) ([]*pki.Record, error) {
	if s.Shared() == "" {
		return recs, nil
	}
	l := s.Layout()
	here := slices.DeleteFunc(slices.Clone(recs), func(r *pki.Record) bool { return !r.FromCSR && !fileExists(l.ClientKey(r.Name)) })
	if left := len(recs) - len(here); left > 0 {
		printWarning(c.App.ErrWriter, fmt.Sprintf("%s left out: issued on other machines, their keys are there (the shared store %s holds no private key)", plural.Count(left, "client"), s.Shared()), noColor(c))
	}
	if len(here) == 0 {
		return nil, fmt.Errorf("no client of the shared store %s has its key in %s", s.Shared(), s.Dir)
	}
	return here, nil
}
