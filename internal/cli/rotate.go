package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rotate"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of rotate.
const (
	flagSuccessor = "successor"
	flagFinish    = "finish"
	flagSettle    = "settle"
	flagExport    = "export"
)

func rotateCommand() *cli.Command {
	return &cli.Command{
		Name:  "rotate",
		Usage: "replace a CA behind a custom domain without refusing a client",
		Subcommands: []*cli.Command{{
			Name:      "ca",
			Usage:     "rotate an issuing CA (or the root) in recorded, resumable phases",
			ArgsUsage: "NAME",
			Description: `Runs the phases not yet reached, recording each in rotation/NAME.json:
  1. the successor CA (--successor, default NAME-2): same parent and
     profile; a root's successor is a new root;
  2. a truststore trusting both, pushed to --bucket/--key, the domain
     pointed at it, then --settle (API Gateway takes about a minute to load
     a truststore on every node);
  3. every valid client of NAME whose key apimtls holds renewed from the
     successor (same name, subject, SANs and key type, a new key; the old
     certificate superseded and linked), and the CSR-signed devices listed: they must
     send new CSRs (--export FILE writes that list as JSON);
  4. only with --finish, and only when no unexpired, unrevoked client still
     depends on NAME (or --force, which lists who will be refused): the
     truststore without NAME, pushed, pointed at, settled. crl push keeps
     publishing NAME's CRL.
A run after a crash continues from the phase reached; a run with nothing
left to do changes nothing.

Example:
   apimtls rotate ca issuing --domain api.example.com --bucket my-pki
   apimtls rotate ca issuing --domain api.example.com --bucket my-pki --finish`,
			Flags: concatFlags(awsBaseFlags(), waitFlags(), []cli.Flag{
				&cli.StringFlag{Name: flagDomain, Required: true, Usage: "the custom domain whose truststore changes"},
				&cli.StringFlag{Name: flagBucket, Required: true, Usage: "the bucket of the truststore"},
				&cli.StringFlag{Name: flagKey, Value: "truststore.pem", Usage: "the truststore's key"},
				&cli.StringFlag{Name: flagSuccessor, Usage: "the successor CA's name (default: NAME-2, or NAME-N+1); an existing CA named here, with the same parent, is adopted"},
				passphraseFileFlag(),
				&cli.BoolFlag{Name: flagFinish, Usage: "phase 4: drop the old CA once nothing valid depends on it"},
				&cli.BoolFlag{Name: flagForce, Usage: "with --finish: drop it even so, refusing the clients listed"},
				&cli.DurationFlag{Name: flagSettle, Value: rotate.DefaultSettle, Usage: "wait after pointing the domain, for every API Gateway node to load the truststore", Action: durationIn(flagSettle, 0, time.Hour)},
				&cli.StringFlag{Name: flagExport, Usage: "write the CSR-signed devices that must send new CSRs to this file (JSON)"},
			}),
			Action: rotateCA,
		}, {
			Name:      "status",
			Usage:     "show each CA rotation and the phase it reached",
			ArgsUsage: "[NAME]",
			Description: `Lists the rotations recorded in rotation/ (or the one of CA NAME): the
successor, the phase reached of the four, the truststore version the domain
was pointed at, the clients renewed and the devices that must send new
CSRs. domain status shows a rotation in progress too.

Example:
   apimtls rotate status
   apimtls rotate status issuing -o json`,
			Action: rotateStatus,
		}},
	}
}

func rotateCA(c *cli.Context) error {
	format, name, err := startOneArg(c, "NAME")
	if err != nil {
		return err
	}
	if c.Bool(flagForce) && !c.Bool(flagFinish) {
		return usagef("--%s goes with --%s", flagForce, flagFinish)
	}
	dir, err := pkiDir(c)
	if err != nil {
		return err
	}
	export := c.String(flagExport)
	if export != "" {
		if err := checkOutput(c, export); err != nil {
			return err
		}
	}
	parentPass, successorPass, err := rotationPassphrases(c, name)
	if err != nil {
		return err
	}
	r, err := newRollout(c, format)
	if err != nil {
		return err
	}
	store, _, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	settle := c.Duration(flagSettle)
	if settle == 0 {
		settle = -1 // --settle 0: no wait
	}
	res, err := (&rotate.Runner{Rollout: r, Bucket: store}).Run(c.Context, rotate.Input{Dir: dir, Open: storeOpener(c), CA: name, Successor: c.String(flagSuccessor),
		Domain: c.String(flagDomain), Bucket: c.String(flagBucket), Key: c.String(flagKey), Finish: c.Bool(flagFinish), Force: c.Bool(flagForce),
		Settle: settle, Wait: waitOf(c), ParentPassphrase: parentPass, SuccessorPassphrase: successorPass})
	if res == nil {
		return domainError(err)
	}
	if export != "" {
		data, jerr := json.MarshalIndent(res.Devices, "", "  ")
		if jerr != nil {
			return jerr
		}
		if werr := writeOutput(c, export, append(data, '\n')); werr != nil {
			return werr
		}
	}
	if perr := printRotation(c, format, res); perr != nil {
		return perr
	}
	var de *rotate.DependentsError
	if errors.As(err, &de) {
		return withHint(err, "revoke them, wait for them to expire, or re-issue them from "+res.Successor+"; or drop the CA anyway with --finish --force")
	}
	if err != nil {
		return withHint(domainError(err), "fix it, then run the same apimtls rotate ca again: it continues from phase "+fmt.Sprint(res.Phase+1))
	}
	return nil
}

func printRotation(c *cli.Context, format string, res *rotate.Result) error {
	if format == outputJSON {
		return writeJSON(c.App.Writer, res)
	}
	w := c.App.Writer
	if !res.Changed {
		fmt.Fprintln(w, "nothing to do: "+res.Summary())
	} else {
		fmt.Fprintln(w, res.Summary())
	}
	for _, x := range res.Reissued {
		fmt.Fprintf(w, "  renewed %s from the successor: serial %s replaces %s\n", x.Name, x.SupersededBy, x.Serial)
	}
	for _, d := range res.Devices {
		fmt.Fprintf(w, "  device %s must send a new CSR (its certificate expires %s)\n", d.Name, d.NotAfter.Format(time.DateOnly))
	}
	for _, d := range res.Refused {
		fmt.Fprintf(w, "  refused from now on: %s\n", d.Name)
	}
	if res.Phase == rotate.PhaseReissued && len(res.Dependents) == 0 {
		fmt.Fprintln(w, "nothing depends on "+res.CA+" any more: finish with --finish")
	}
	return nil
}

func rotateStatus(c *cli.Context) error {
	name, err := optionalArg(c, "NAME")
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	dir, err := pkiDir(c)
	if err != nil {
		return err
	}
	recs, err := rotate.List(dir)
	if err != nil {
		return err
	}
	out := []*rotate.Record{}
	for _, r := range recs {
		if name == "" || r.CA == name {
			out = append(out, r)
		}
	}
	if name != "" && len(out) == 0 {
		return fmt.Errorf("no rotation of CA %s in %s", name, dir)
	}
	if format == outputJSON {
		return writeJSON(c.App.Writer, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.App.Writer, "no CA rotation")
	}
	for _, r := range out {
		fmt.Fprintf(c.App.Writer, "%s (domain %s, since %s)\n", r.Summary(), r.Domain, r.StartedAt.Format(time.DateOnly))
	}
	return nil
}

// rotationPassphrases asks, before any lock, for the passphrases of the
// CAs that sign during a rotation: the old CA's parent (phase 1) and the
// successor (phase 3), each only if its key is encrypted.
func rotationPassphrases(c *cli.Context, name string) (parent, successor x509cert.PassphraseFunc, err error) {
	s, err := openStore(c, false)
	if err != nil {
		return nil, nil, err
	}
	old, err := s.Lookup(pki.KindRoot, name)
	s.Close()
	if err != nil {
		return nil, nil, pkiError(c, err, name)
	}
	source := func(ca string) secretSource {
		return secretSource{what: "passphrase for CA " + ca, file: c.String(flagPassphraseFile), flag: flagPassphraseFile, env: envCAPassphrase,
			hint: "give --" + flagPassphraseFile + " FILE or set " + envCAPassphrase}
	}
	if old.Issuer != "" && old.Issuer != old.Name {
		if parent, err = issuerPassphrase(c, old.Issuer, source(old.Issuer)); err != nil {
			return nil, nil, err
		}
	}
	succ := c.String(flagSuccessor)
	if succ == "" {
		return parent, nil, nil
	}
	successor, err = issuerPassphrase(c, succ, source(succ))
	return parent, successor, err
}
