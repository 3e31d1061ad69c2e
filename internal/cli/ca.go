package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names shared by the CA and client commands.
const (
	flagParent            = "parent"
	flagNewPassphraseFile = "new-passphrase-file"
)

func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "create and inspect the CA hierarchy",
		Subcommands: []*cli.Command{
			caInitCommand(),
			caIntermediateCommand(),
			caListCommand(),
			caShowCommand(),
			caRevokeCommand(),
			caCRLCommand(),
		},
	}
}

func keyTypeFlag(def x509cert.KeyType) cli.Flag {
	return &cli.StringFlag{Name: flagKeyType, Value: string(def), Usage: "rsa-2048, rsa-3072, rsa-4096, ecdsa-p256 or ecdsa-p384"}
}

func passphraseFileFlag() cli.Flag {
	return &cli.StringFlag{Name: flagPassphraseFile, Usage: "read the signing CA's key passphrase from `FILE` (else " + envCAPassphrase + ", else a prompt)"}
}

func caInitCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a self-signed root CA",
		ArgsUsage: " ",
		Description: `Creates the root of your private hierarchy in ca/NAME/ of the PKI directory:
a new key (never overwritten), a self-signed CA certificate with keyCertSign
and cRLSign, and an inventory record. The pathLen defaults to 3, the most
that API Gateway's limit of four CA levels allows.

Example:
   apimtls ca init --cn "Example Corp Root CA" --org "Example Corp"
   apimtls ca init --key-type rsa-4096 --encrypt --passphrase-file ./root.pass
   apimtls ca init --kms --kms-key-spec ECC_NIST_P384     (key in AWS KMS, alias alias/apimtls/root)`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: flagName, Value: pki.DefaultRootName, Usage: "name of the CA in the PKI directory"},
			&cli.StringFlag{Name: flagCN, Value: "apimtls Root CA", Usage: "subject common name"},
			&cli.StringFlag{Name: flagOrg, Usage: "subject organization"},
			keyTypeFlag(pki.DefaultRootKeyType),
			daysFlag("validity in days", pki.DefaultRootDays, ""),
			maxPathLenFlag("pathLen constraint, 0 to 3", "3"),
			&cli.BoolFlag{Name: flagEncrypt, Usage: "encrypt the CA key (PKCS #8, AES-256, PBKDF2)"},
			&cli.StringFlag{Name: flagPassphraseFile, Usage: "with --encrypt: read the new passphrase from `FILE` (else " + envCAPassphrase + ", else a prompt)"},
		}, kmsFlags()...),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return createCA(c, "")
		},
	}
}

func caIntermediateCommand() *cli.Command {
	return &cli.Command{
		Name:      "intermediate",
		Usage:     "create an intermediate or issuing CA under a parent CA",
		ArgsUsage: "NAME",
		Description: `Creates a CA signed by --parent. Its validity defaults to five years and never
runs past the parent's. apimtls refuses a fifth CA level, since API Gateway
rejects clients issued that deep, and any pathLen the parent does not allow.

Example:
   apimtls ca intermediate issuing --parent root --cn "Example Issuing CA"
   apimtls ca intermediate issuing --parent root --kms     (an offline root signs a KMS-held issuing CA)
   apimtls ca intermediate issuing --parent root --kms-key-id alias/team/issuing`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: flagParent, Required: true, Usage: "the CA that signs this one"},
			&cli.StringFlag{Name: flagCN, Usage: "subject common name (default: NAME)"},
			&cli.StringFlag{Name: flagOrg, Usage: "subject organization"},
			keyTypeFlag(pki.DefaultRootKeyType),
			daysFlag("validity in days, shortened to the parent's end when not given", 0, "1825"),
			maxPathLenFlag("pathLen constraint", "the most the parent and four CA levels allow"),
			&cli.BoolFlag{Name: flagEncrypt, Usage: "encrypt the new CA key"},
			passphraseFileFlag(),
			&cli.StringFlag{Name: flagNewPassphraseFile, Usage: "with --encrypt: the new key's passphrase from `FILE` (default: the parent's source)"},
		}, kmsFlags()...),
		Action: func(c *cli.Context) error {
			name, err := oneArg(c, "NAME")
			if err != nil {
				return err
			}
			return createCA(c, name)
		},
	}
}

func createCA(c *cli.Context, name string) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	p, err := caParams(c, name)
	if err != nil {
		return err
	}
	// Every secret is asked for before the PKI directory is locked.
	if err := caSecrets(c, &p); err != nil {
		return err
	}
	s, err := openStore(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if p.KMS == nil {
		slowKeyNotice(c, format, p.KeyType)
	}
	issued, err := s.CreateCA(p)
	if err != nil {
		return pkiError(c, err, p.Name)
	}
	text, err := writeIssued(c, format, s, issued, fmt.Sprintf("Created %s CA %q", issued.Record.Kind, issued.Record.Name))
	if !text || err != nil {
		return err
	}
	if p.Parent == "" {
		fmt.Fprintf(c.App.Writer, "next: apimtls ca intermediate issuing --parent %s   (or issue clients from it: apimtls client issue NAME --ca %s)\n", p.Name, p.Name)
	} else {
		fmt.Fprintf(c.App.Writer, "next: apimtls client issue NAME --ca %s\n", p.Name)
	}
	return nil
}

// caParams reads and checks the flags of ca init and ca intermediate.
func caParams(c *cli.Context, name string) (pki.CAParams, error) {
	kt, err := x509cert.ParseKeyType(c.String(flagKeyType))
	if err != nil {
		return pki.CAParams{}, usageError{err}
	}
	parent := c.String(flagParent)
	p := pki.CAParams{Name: name, Parent: parent, CommonName: c.String(flagCN), Organization: c.String(flagOrg),
		KeyType: kt, Days: c.Int(flagDays), MaxPathLen: c.Int(flagMaxPathLen)}
	if parent == "" {
		p.Name = c.String(flagName)
	} else if p.CommonName == "" {
		p.CommonName = name
	}
	if err := pki.CheckName(p.Name); err != nil {
		return p, usageError{err}
	}
	if p.KMS, err = kmsKeyFlags(c); err != nil {
		return p, err
	}
	if err := x509cert.CheckSubject(subjectFlags(c)); err != nil {
		return p, usagef("--%s/--%s: %v", flagCN, flagOrg, err)
	}
	if c.IsSet(flagNewPassphraseFile) && !c.Bool(flagEncrypt) {
		return p, usagef("--%s needs --%s", flagNewPassphraseFile, flagEncrypt)
	}
	if parent == "" && c.IsSet(flagPassphraseFile) && !c.Bool(flagEncrypt) {
		// A passphrase is never taken as a wish to encrypt: the key would
		// be protected or not depending on a flag the user did not type.
		return p, usagef("--%s needs --%s: without it the root key is written unencrypted", flagPassphraseFile, flagEncrypt)
	}
	return p, nil
}

// caSecrets asks for the parent's passphrase and the new key's, as needed.
func caSecrets(c *cli.Context, p *pki.CAParams) error {
	var err error
	if p.Parent != "" {
		signer := secretSource{
			what: "passphrase for CA " + p.Parent, file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase,
			hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase,
		}
		if p.ParentPassphrase, err = issuerPassphrase(c, p.Parent, signer); err != nil {
			return err
		}
	}
	if !c.Bool(flagEncrypt) {
		return nil
	}
	src := secretSource{
		what: "new passphrase for CA " + p.Name, file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase, confirm: true,
		hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase,
	}
	if p.Parent != "" {
		if f := c.String(flagNewPassphraseFile); f != "" {
			src.file, src.flag = f, flagNewPassphraseFile
		}
		if src.file == "" && c.String(flagPassphraseFile) == "" {
			src.hint = "give --" + flagNewPassphraseFile + " FILE or set " + envCAPassphrase
		}
	}
	if p.Passphrase, err = src.read(c.Context); err != nil {
		return err
	}
	return pkiError(c, pki.CheckPassphrase(p.Passphrase), p.Name)
}

// pkiError adds the hint a user needs to an error of the PKI commands;
// name is the CA or client the command was about.
func pkiError(c *cli.Context, err error, name string) error {
	var (
		exists    *pki.ExistsError
		notFound  *pki.NotFoundError
		ambiguous *pki.AmbiguousIssuerError
	)
	switch {
	case errors.As(err, &exists) && exists.Kind.IsCA():
		return withHint(err, "nothing is ever overwritten: choose another name, or see it with: apimtls ca show "+name)
	case errors.As(err, &exists):
		return withHint(err, "nothing is ever overwritten: choose another name, or see it with: apimtls client show "+name)
	case errors.As(err, &notFound) && notFound.Kind.IsCA():
		return withHint(err, knownHint("CAs", notFound.Known, "apimtls ca init"))
	case errors.As(err, &notFound):
		return withHint(err, "list them with: apimtls client list")
	case errors.As(err, &ambiguous) && len(ambiguous.Candidates) == 0:
		return withHint(err, "apimtls ca init")
	case errors.As(err, &ambiguous):
		return withHint(err, retyped(c, flagCA, ambiguous.Candidates[0]))
	case errors.Is(err, pki.ErrUnrevoked):
		return withHint(err, "revoke each again: apimtls client revoke SERIAL; then sign")
	case errors.Is(err, x509cert.ErrTooDeep):
		return withHint(err, "issue clients from an existing CA, or build the hierarchy wider instead of deeper")
	case errors.Is(err, x509cert.ErrWrongPassphrase):
		return withHint(err, "check --"+flagPassphraseFile+" or "+envCAPassphrase)
	case errors.Is(err, x509cert.ErrOutlivesIssuer):
		return withHint(err, "ask for fewer --days, or leave --days out to end with the issuer")
	case errors.Is(err, pki.ErrShortPassphrase):
		return withHint(err, "choose a longer passphrase")
	case kmsDenied(err):
		return withHint(err, "the AWS identity needs kms:Sign, kms:GetPublicKey and kms:DescribeKey on the CA's KMS key (docs/team.md); check it with: aws sts get-caller-identity")
	}
	return err
}

func knownHint(what string, known []string, create string) string {
	if len(known) == 0 {
		return "there are no " + what + " yet; create one: " + create
	}
	return "known " + what + ": " + strings.Join(known, ", ")
}

func caListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "show the CA hierarchy",
		ArgsUsage: " ",
		Description: `Prints every CA as a tree under its root, with key type, validity and status.

Example:
   apimtls ca list
   apimtls ca list -o json`,
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			s, err := openStore(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			cas, err := s.CAs()
			if err != nil {
				return err
			}
			now := s.Now()
			if format == outputJSON {
				views := make([]certView, 0, len(cas))
				for _, r := range cas {
					views = append(views, viewOf(s, r, now))
				}
				return writeJSON(c.App.Writer, views)
			}
			if len(cas) == 0 {
				fmt.Fprintln(c.App.Writer, "no CAs in "+storeName(s))
				fmt.Fprintln(c.App.Writer, "next: apimtls ca init")
				return nil
			}
			return printTree(c.App.Writer, pki.Layout{Dir: s.Dir}, cas, now)
		},
	}
}

// printTree draws the CAs under their roots.
func printTree(w io.Writer, l pki.Layout, cas []*pki.Record, now time.Time) error {
	children := map[string][]*pki.Record{}
	for _, r := range cas {
		children[r.IssuerSerial] = append(children[r.IssuerSerial], r)
	}
	t := newTable(w, "CA", "KEY", "NOT AFTER", "STATUS", "SHA-256", "KEY IN", "SUBJECT")
	var walk func(r *pki.Record, prefix, branch string)
	walk = func(r *pki.Record, prefix, branch string) {
		t.row(prefix+branch+r.Name, string(r.KeyType), r.NotAfter.Format(time.DateOnly), r.StatusAt(now), r.SHA256[:16]+"…", keyLocationText(l.KeyLocation(r)), textsafe.Escape(r.Subject))
		kids := children[r.Serial]
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for i, k := range kids {
			b := "├─ "
			if i == len(kids)-1 {
				b = "└─ "
			}
			walk(k, next, b)
		}
	}
	for _, r := range children[""] {
		walk(r, "", "")
	}
	return t.flush()
}

func caShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one CA: subject, key type, validity, fingerprint, files",
		ArgsUsage: "NAME",
		Description: `Example:
   apimtls ca show root
   apimtls ca show issuing -o json`,
		Action: func(c *cli.Context) error {
			format, name, err := startOneArg(c, "NAME")
			if err != nil {
				return err
			}
			s, err := openStore(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rec, err := s.Lookup(pki.KindRoot, name)
			if err != nil {
				return pkiError(c, err, name)
			}
			v := viewOf(s, rec, s.Now())
			if format == outputJSON {
				return writeJSON(c.App.Writer, v)
			}
			return printDetails(c.App.Writer, v, s.Now())
		},
	}
}
