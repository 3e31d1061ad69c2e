package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
)

const (
	flagReason     = "reason"
	flagNextUpdate = "next-update"
)

func reasonFlag() cli.Flag {
	return &cli.StringFlag{Name: flagReason, Value: string(pki.ReasonUnspecified),
		Usage: "why: " + strings.Join(pki.Reasons(), ", "),
		Action: func(_ *cli.Context, v string) error {
			if _, err := pki.ParseReason(v); err != nil {
				return usageError{err}
			}
			return nil
		}}
}

func clientRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke a client certificate (then publish: apimtls ca crl, apimtls crl push)",
		ArgsUsage: "NAME|SERIAL",
		Description: `Marks the client revoked in the inventory, with the time and the reason; the
certificate and its files stay. Its issuer's next CRL (apimtls ca crl) lists
it, and the authorizer refuses it once that CRL is pushed (apimtls crl push)
and its cache expires. API Gateway itself never checks revocation
(docs/revocation.md). Revoking twice changes nothing and says so.

Example:
   apimtls client revoke device-0042 --reason keyCompromise
   apimtls ca crl && apimtls crl push --bucket example-mtls-truststores`,
		Flags:  []cli.Flag{reasonFlag()},
		Action: func(c *cli.Context) error { return revoke(c, pki.KindClient) },
	}
}

func caRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke an intermediate CA: it joins its parent's CRL and issues nothing more",
		ArgsUsage: "NAME",
		Description: `Marks the intermediate revoked; its parent's next CRL lists it, and apimtls
refuses to issue from it. A root cannot be revoked: remove it from the
truststore instead.

Example:
   apimtls ca revoke issuing-2025 --reason superseded`,
		Flags:  []cli.Flag{reasonFlag()},
		Action: func(c *cli.Context) error { return revoke(c, pki.KindIntermediate) },
	}
}

// revokeView is the JSON of client revoke and ca revoke.
type revokeView struct {
	certView
	Already bool `json:"already_revoked"`
}

func revoke(c *cli.Context, kind pki.Kind) error {
	name := "NAME|SERIAL"
	if kind.IsCA() {
		name = "NAME"
	}
	format, ref, err := startOneArg(c, name)
	if err != nil {
		return err
	}
	reason, _ := pki.ParseReason(c.String(flagReason))
	s, err := openStore(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Revoke(kind, ref, reason)
	if errors.Is(err, pki.ErrRootRevoke) {
		return withHint(err, "rotate to a new root: apimtls ca init --name NEW, truststore build, truststore push")
	}
	if err != nil {
		return pkiError(err, ref)
	}
	r := res.Record
	if format == outputJSON {
		return writeJSON(c.App.Writer, revokeView{viewOf(s, r, s.Now()), res.Already})
	}
	if res.Already {
		fmt.Fprintf(c.App.Writer, "%s %s (serial %s) was revoked already, on %s (%s): nothing changed\n", r.Kind.Noun(), r.Name, r.Serial, r.RevokedAt.Format(time.RFC3339), r.RevocationReason)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "revoked %s %s (serial %s): %s\n", r.Kind.Noun(), r.Name, r.Serial, r.RevocationReason)
	fmt.Fprintf(c.App.Writer, "next: publish it: apimtls ca crl %s && apimtls crl push --bucket BUCKET\n", r.Issuer)
	return nil
}

func caCRLCommand() *cli.Command {
	return &cli.Command{
		Name:      "crl",
		Usage:     "sign the CRL of one CA, or of every CA",
		ArgsUsage: "[NAME]",
		Description: `Signs an RFC 5280 v2 CRL listing every certificate the CA issued that is
revoked, with its time and reason: a CRL number that only grows (kept in the
inventory), the authority key identifier, thisUpdate now and nextUpdate after
--next-update. A CA with nothing revoked gets an empty CRL, so "no CRL" never
means "nothing revoked". Written as DER to crl/NAME.crl and as PEM to
ca/NAME/crl.pem in the PKI directory; openssl crl -verify accepts both.
Sign again before nextUpdate (cron): the authorizer refuses every client of a
CA whose CRL has expired.

Example:
   apimtls ca crl
   apimtls ca crl issuing --next-update 24h`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagNextUpdate, Value: "7d", Usage: "how long the CRL stays current (`DURATION`: 7d, 24h)"},
			passphraseFileFlag(),
		},
		Action: signCRLs,
	}
}

func signCRLs(c *cli.Context) error {
	name, err := optionalArg(c, "NAME")
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	validity, err := parseDays(c.String(flagNextUpdate))
	if err != nil || validity < time.Hour || validity > 366*24*time.Hour {
		return usagef("--%s %q: use a duration from 1h to 366d", flagNextUpdate, c.String(flagNextUpdate))
	}
	names, err := crlNames(c, name)
	if err != nil {
		return err
	}
	// Every passphrase before the lock: a prompt must never hold it.
	passphrases := map[string]pki.PassphraseFunc{}
	for _, n := range names {
		if passphrases[n], err = issuerPassphrase(c, n, secretSource{
			what: "passphrase for CA " + n, file: c.String(flagPassphraseFile), env: envCAPassphrase,
			hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase,
		}); err != nil {
			return err
		}
	}
	s, err := openStore(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	// One CA that cannot sign (expiring before nextUpdate, a wrong
	// passphrase) must not keep the others' CRLs from being renewed: each
	// is signed, and the failures are reported after the table.
	out := []*pki.CRL{}
	var failed []error
	for _, name := range names {
		crl, err := s.SignCRL(name, passphrases[name], validity)
		if err != nil {
			failed = append(failed, pkiError(err, name))
			continue
		}
		out = append(out, crl)
	}
	if err := printCRLs(c, format, out); err != nil {
		return err
	}
	switch {
	case len(failed) == 1 && len(names) == 1:
		return failed[0]
	case len(failed) > 0:
		return withHint(fmt.Errorf("%d of %d CAs signed no CRL: %w", len(failed), len(names), errors.Join(failed...)), "the others' CRLs were signed: see the table")
	}
	return nil
}

func printCRLs(c *cli.Context, format string, out []*pki.CRL) error {
	if format == outputJSON {
		return writeJSON(c.App.Writer, out)
	}
	if len(out) == 0 {
		return nil
	}
	t := newTable(c.App.Writer, "CA", "NUMBER", "REVOKED", "NEXT UPDATE", "FILE")
	for _, crl := range out {
		t.row(crl.CA, fmt.Sprint(crl.Number), fmt.Sprint(crl.Revoked), crl.NextUpdate.Format(time.RFC3339), crl.DERPath)
	}
	return t.flush()
}

// crlNames is the CA named, or every CA.
func crlNames(c *cli.Context, name string) ([]string, error) {
	if name != "" {
		return []string{name}, nil
	}
	s, err := openStore(c, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cas, err := s.CAs()
	var names []string
	for _, r := range cas {
		names = append(names, r.Name)
	}
	return names, err
}
