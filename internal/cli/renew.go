package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// Flags of client renew.
const (
	flagReuseKey     = "reuse-key"
	flagCSR          = "csr"
	flagKeepPrevious = "keep-previous"
)

func clientRenewCommand() *cli.Command {
	return &cli.Command{
		Name:      "renew",
		Usage:     "renew a client certificate, or every one expiring soon",
		ArgsUsage: "[NAME|SERIAL]",
		Description: `Issues a new certificate with the same subject, SANs, key type and validity
length, signed by the client's issuing CA (or --ca), with a new key unless
--reuse-key. The old record is marked superseded and linked to the new one;
its files move to superseded/NAME/SERIAL, and clients/NAME holds the new
certificate. The old certificate is revoked (reason superseded) as soon as
the new one is recorded, so the next CRL (apimtls ca crl) lists it: the
client has its new certificate, and a copy of the old one is of no use to
anyone else. Give --keep-previous DURATION for an overlap while devices
pick up the new certificate: the old one is then listed on the CRLs signed
after that time. A client signed from a CSR keeps its key on its device: it
renews only with --csr FILE (a new CSR from the device); without one it is
listed as needing one, and the exit code is 1.

With --expiring-within, renews every current client expiring within that
time (of --ca only, when given), like bulk issuance: the cron fix to
client list --expiring-within's check.

Example:
   apimtls client renew partner-acme
   apimtls client renew device-0042 --csr device-0042.csr
   apimtls client renew --expiring-within 30d -o json   # in cron`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagExpiringWithin, Usage: "renew every client expiring within `DURATION` (30d, 2w, 720h)", Action: daysDurationIn(flagExpiringWithin)},
			&cli.StringFlag{Name: flagCA, Usage: "sign with this CA (with --expiring-within: renew only its clients)"},
			&cli.IntFlag{Name: flagDays, Usage: "validity in days of the new certificates", DefaultText: "as long as the old one", Action: intIn(flagDays, 1, x509cert.MaxDays)},
			&cli.BoolFlag{Name: flagReuseKey, Usage: "keep each client's key (default: a new key)"},
			&cli.StringFlag{Name: flagCSR, Usage: "renew a CSR-signed client from a new CSR `FILE`"},
			&cli.StringFlag{Name: flagKeepPrevious, Usage: "keep each old certificate valid for `DURATION` (7d, 24h) after its renewal, instead of revoking it at once", Action: daysDurationIn(flagKeepPrevious)},
			failFastFlag(),
			passphraseFileFlag(),
		},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			ref, err := optionalArg(c, "NAME|SERIAL")
			if err != nil {
				return err
			}
			if (ref == "") == !c.IsSet(flagExpiringWithin) {
				return usagef("give NAME|SERIAL or --%s, one of them", flagExpiringWithin)
			}
			p, err := renewParams(c, ref)
			if err != nil {
				return err
			}
			s, err := openStore(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			recs, err := renewTargets(c, s, ref)
			if err != nil {
				return err
			}
			bar := newBulkBar(c, format)
			p.Progress, p.Context = bar.update, c.Context
			res, err := s.RenewClients(recs, p)
			bar.done()
			if errors.Is(err, pki.ErrInterrupted) && res != nil {
				printBulk(c, format, res, "Renewed")
			}
			if err != nil {
				return err
			}
			return printBulk(c, format, res, "Renewed")
		},
	}
}

// renewParams reads the renewal flags and every secret, before the lock.
func renewParams(c *cli.Context, ref string) (pki.RenewParams, error) {
	p := pki.RenewParams{CA: c.String(flagCA), Days: c.Int(flagDays), ReuseKey: c.Bool(flagReuseKey), FailFast: c.Bool(flagFailFast)}
	if c.IsSet(flagKeepPrevious) {
		keep, err := parseDays(c.String(flagKeepPrevious))
		if err != nil {
			return p, usageError{err}
		}
		p.KeepPrevious = keep
	}
	if c.IsSet(flagCSR) {
		if c.IsSet(flagExpiringWithin) || p.ReuseKey {
			return p, usagef("--%s renews one client, with its new key: not with --%s or --%s", flagCSR, flagExpiringWithin, flagReuseKey)
		}
		path := c.String(flagCSR)
		data, err := readInput(path, 64<<10)
		if err != nil {
			return p, err
		}
		csr, err := x509cert.DecodeCSR(data)
		if err == nil {
			p.CSR, err = x509cert.CheckCSR(csr)
		}
		if err != nil {
			return p, fmt.Errorf("%s: %w", path, err)
		}
	}
	pass, err := issuerPassphrase(c, renewingCA(c, ref), secretSource{
		what: "passphrase for the issuing CA", file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase,
		hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase,
	})
	p.CAPassphrase = pass
	return p, err
}

// renewTargets is the client named (or with that serial), or every client
// expiring within --expiring-within.
func renewTargets(c *cli.Context, s *pki.Store, ref string) ([]*pki.Record, error) {
	if ref != "" {
		rec, err := s.Find(pki.KindClient, ref)
		if err != nil {
			return nil, pkiError(c, err, ref)
		}
		return []*pki.Record{rec}, nil
	}
	within, err := parseDays(c.String(flagExpiringWithin))
	if err != nil {
		return nil, usageError{err}
	}
	if ca := c.String(flagCA); ca != "" {
		if _, err := s.Lookup(pki.KindRoot, ca); err != nil {
			return nil, pkiError(c, err, ca)
		}
	}
	recs, err := s.ClientsExpiring(s.Now().Add(within), c.String(flagCA))
	if err != nil {
		return nil, err
	}
	// A certificate no longer than the window would be due again the
	// moment it is made: renewing it from cron would renew it every run.
	days := time.Duration(c.Int(flagDays)) * 24 * time.Hour
	for _, r := range recs {
		length := r.NotAfter.Sub(r.NotBefore)
		if days > 0 {
			length = days
		}
		if length <= within && !r.FromCSR {
			return nil, usagef("--%s %s is as long as the certificates it would make (%s, %d days): every run would renew them again; use a shorter window, or longer --%s",
				flagExpiringWithin, c.String(flagExpiringWithin), r.Name, int(length.Hours()/24), flagDays)
		}
	}
	return recs, nil
}

// renewingCA is the CA whose passphrase a renewal asks for before the
// lock: --ca, else the issuer of the one client named. A renewal of
// clients of several encrypted CAs asks as each is opened.
func renewingCA(c *cli.Context, ref string) string {
	if ca := c.String(flagCA); ca != "" || ref == "" {
		return ca
	}
	s, err := openStore(c, false)
	if err != nil {
		return ""
	}
	defer s.Close()
	if targets, err := renewTargets(c, s, ref); err == nil && len(targets) == 1 {
		return targets[0].Issuer
	}
	return ""
}
