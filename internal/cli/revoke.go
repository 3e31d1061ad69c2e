package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
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

// revokeView is the JSON of client revoke and ca revoke: the certificate
// named, and every certificate the revocation changed.
type revokeView struct {
	certView
	Already bool           `json:"already_revoked"`
	Revoked []revokedEntry `json:"revoked"`
}

// revokedEntry is one certificate a revocation changed.
type revokedEntry struct {
	Serial string `json:"serial"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	// Why says how the revocation reached it: named (the certificate
	// named), lineage (another certificate of the client named, from a
	// renewal) or same_key (another certificate with the compromised key).
	Why string `json:"why"`
}

func revokedEntries(res *pki.Revocation) []revokedEntry {
	out := []revokedEntry{}
	for _, r := range res.Revoked {
		why := "same_key"
		switch {
		case r.Serial == res.Record.Serial:
			why = "named"
		case r.Kind == res.Record.Kind && r.Name == res.Record.Name:
			why = "lineage"
		}
		out = append(out, revokedEntry{Serial: r.Serial, Kind: string(r.Kind), Name: r.Name, Issuer: r.Issuer, Why: why})
	}
	return out
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
		return withHint(err, "drop it from the truststore instead: rotate to a new root (apimtls rotate ca), or build the truststore without it (apimtls truststore build) and push it")
	}
	if err != nil {
		return pkiError(c, err, ref)
	}
	r := res.Record
	for _, root := range res.Unrevokable {
		s.Warn(fmt.Sprintf("root CA %q holds the same key: no CRL can list a root; rotate it out (apimtls rotate ca %s) and leave it out of the truststore", root.Name, root.Name))
	}
	entries := revokedEntries(res)
	if format == outputJSON {
		return writeJSON(c.App.Writer, revokeView{viewOf(s, r, s.Now()), res.Already, entries})
	}
	w := c.App.Writer
	if res.Already {
		at := "before"
		if r.RevokedAt != nil {
			at = "on " + r.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s %s (serial %s) was revoked already, %s (%s): nothing changed\n", r.Kind.Noun(), r.Name, r.Serial, at, r.RevocationReason)
		return nil
	}
	fmt.Fprintf(w, "revoked %s %s: %s, %s\n", r.Kind.Noun(), r.Name, plural.Count(len(entries), "certificate"), res.Revoked[0].RevocationReason)
	for _, e := range entries {
		note := map[string]string{"named": "", "lineage": "  (an earlier certificate of " + e.Name + ")", "same_key": "  (" + e.Kind + " " + e.Name + ": the same key)"}[e.Why]
		fmt.Fprintf(w, "  serial %s, issued by %s%s\n", e.Serial, e.Issuer, note)
	}
	// Signing every CA's CRL, not only the issuer's, so that no CA of a
	// good client's chain is left without a CRL (which the authorizer and
	// serve refuse as crl_missing).
	push := "apimtls crl push --" + flagBucket + " BUCKET"
	if profileValue(c, flagBucket) != "" {
		push = "apimtls crl push" // the profile's bucket
	}
	fmt.Fprintf(w, "next: publish it: apimtls ca crl && %s\n", push)
	fmt.Fprintf(w, "      (ca crl signs every CA's CRL; an encrypted CA's passphrase comes from --%s or %s)\n", flagPassphraseFile, envCAPassphrase)
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
	passphrases := map[string]x509cert.PassphraseFunc{}
	for _, n := range names {
		if passphrases[n], err = issuerPassphrase(c, n, secretSource{
			what: "passphrase for CA " + n, file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase,
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
			failed = append(failed, pkiError(c, err, name))
			continue
		}
		out = append(out, crl)
	}
	if err := printCRLs(c, format, out); err != nil {
		return err
	}
	if name != "" && len(out) == 1 {
		for _, w := range chainCRLGaps(s, out[0]) {
			printWarning(c.App.ErrWriter, w, noColor(c))
		}
	}
	switch {
	case len(failed) == 1 && len(names) == 1:
		return failed[0]
	case len(failed) > 0:
		return withHint(fmt.Errorf("%d of %d CAs signed no CRL: %w", len(failed), len(names), errors.Join(failed...)), "the others' CRLs were signed: see the table")
	}
	return nil
}

// chainCRLGaps names each CA above the one whose CRL was just signed that
// has no CRL, or one ending sooner (pki.CRLGapsAbove), with the command
// that fixes it.
func chainCRLGaps(s *pki.Store, signed *pki.CRL) []string {
	gaps, err := s.CRLGapsAbove(signed.CA, signed.NextUpdate)
	if err != nil {
		return []string{fmt.Sprintf("the CRLs of the CAs above %q were not checked: %v", signed.CA, err)}
	}
	var out []string
	for _, g := range gaps {
		if g.NextUpdate == nil {
			out = append(out, fmt.Sprintf("CA %q above %q has no CRL (%s): serve and the authorizer refuse every client of %q until it has one (crl_missing); sign it too: apimtls ca crl %s", g.CA, signed.CA, g.Path, signed.CA, g.CA))
		} else {
			out = append(out, fmt.Sprintf("the CRL of CA %q above %q ends %s, before this one: from then every client of %q is refused (crl_expired); sign it too: apimtls ca crl %s", g.CA, signed.CA, g.NextUpdate.Format(time.RFC3339), signed.CA, g.CA))
		}
	}
	return out
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
