package cli

import (
	"fmt"
	"slices"

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
		ArgsUsage: "NAME... | --all",
		Description: `Formats:
   pem  one client: key (PKCS #8, unencrypted), certificate, issuing CAs, root
   p12  one client: a PKCS #12 file (password from --p12-password-file,
        ` + envP12Password + ` or a prompt, asked before any work)
   tar  any number (default for several or --all): NAME/key.pem (0600),
        NAME/cert.pem, NAME/chain.pem, NAME/ca.pem for each client

Writes to --out FILE (0600 when it holds a key; never over an existing key
or into the PKI directory's folders), else to standard output, which must
not be a terminal when the export holds a key or is binary. A CSR-signed
client is exported without a key (and has no p12). --all leaves revoked
clients out and says how many; a client named is exported even if revoked,
with a warning.

Example:
   apimtls client export --all --out fleet.tar
   apimtls client export device-00042 --format p12 --out device-00042.p12
   apimtls client export partner-acme | ssh host 'cat > acme.pem'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagAll, Usage: "every client in use (revoked and superseded certificates are left out, and counted)"},
			&cli.StringFlag{Name: flagFormat, Usage: "`FORMAT`: pem, p12 or tar (default: pem for one client, tar for several)"},
			&cli.StringFlag{Name: flagOut, Usage: "write to `FILE` instead of standard output"},
			&cli.BoolFlag{Name: flagP12Legacy, Usage: "p12 with 3DES and SHA-1 for old Java and macOS"},
			&cli.StringFlag{Name: flagP12PasswordFile, Usage: "read the PKCS #12 password from `FILE`"},
		},
		Action: func(c *cli.Context) error {
			names, format, err := exportArgs(c)
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
			data, n, hasKey, err := exportBundles(c, names, format, p12)
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

// exportArgs checks names, --all, --format and --out before any work.
func exportArgs(c *cli.Context) ([]string, string, error) {
	names := c.Args().Slice()
	if (len(names) == 0) == !c.Bool(flagAll) {
		return nil, "", usagef("%s takes NAME... or --all, one of them", commandPath(c))
	}
	format := c.String(flagFormat)
	if format == "" {
		format = "pem"
		if c.Bool(flagAll) || len(names) > 1 {
			format = "tar"
		}
	}
	if !slices.Contains([]string{"pem", "p12", "tar"}, format) {
		return nil, "", usagef("--%s %q: use pem, p12 or tar", flagFormat, format)
	}
	if format != "tar" && (c.Bool(flagAll) || len(names) > 1) {
		return nil, "", usagef("--%s %s holds one client: use --%s tar for several", flagFormat, format, flagFormat)
	}
	if format != "p12" && (c.IsSet(flagP12PasswordFile) || c.Bool(flagP12Legacy)) {
		return nil, "", usagef("--%s and --%s go with --%s p12", flagP12PasswordFile, flagP12Legacy, flagFormat)
	}
	for _, n := range names {
		if err := pki.CheckName(n); err != nil {
			return nil, "", usageError{err}
		}
	}
	if out := c.String(flagOut); out != "" {
		if err := checkOutput(c, out); err != nil {
			return nil, "", err
		}
	}
	return names, format, nil
}

// exportBundles reads the clients and encodes them; hasKey says whether
// the result holds a private key.
func exportBundles(c *cli.Context, names []string, format string, p12 *pki.P12Options) ([]byte, int, bool, error) {
	s, err := openStore(c, false)
	if err != nil {
		return nil, 0, false, err
	}
	defer s.Close()
	var recs []*pki.Record
	if len(names) == 0 {
		var left int
		recs, left, err = s.CurrentClients()
		if left > 0 {
			printWarning(c.App.ErrWriter, fmt.Sprintf("%s left out: revoked, or superseded by a renewal; name a client to export it anyway", plural.Count(left, "certificate")), noColor(c))
		}
		if err != nil {
			return nil, 0, false, err
		}
		if recs, err = clientsOfThisMachine(c, s, recs); err != nil {
			return nil, 0, false, err
		}
	}
	for _, n := range names {
		r, err := s.Lookup(pki.KindClient, n)
		if err != nil {
			return nil, 0, false, pkiError(c, err, n)
		}
		if r.Status == pki.StatusRevoked {
			printWarning(c.App.ErrWriter, fmt.Sprintf("client %q (serial %s) is revoked: exported as asked; it is refused wherever revocation is checked", n, r.Serial), noColor(c))
		}
		recs = append(recs, r)
	}
	bundles := make([]*pki.ClientBundle, 0, len(recs))
	hasKey := false
	for _, r := range recs {
		b, err := s.ExportClient(r)
		if err != nil {
			return nil, 0, false, err
		}
		hasKey = hasKey || b.Key != nil
		bundles = append(bundles, b)
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
