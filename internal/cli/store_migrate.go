package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/sharedstore"
)

const (
	flagTo   = "to"
	envStore = "APIMTLS_STORE"
)

func storeMigrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "copy the PKI directory's records and certificates into a shared S3 store",
		ArgsUsage: " ",
		Description: `Copies every record and certificate of the PKI directory into the shared
store s3://BUCKET/PREFIX (docs/team.md, "Shared store"), CAs first, with each
CA's CRL number. The bucket must exist with versioning Enabled.

Nothing that holds a private key is written: client keys and PKCS #12 files
stay in the directory, and CA keys stay where they are (a file, an encrypted
file, or AWS KMS, whose key ARN the record keeps); the command lists them.

It can be re-run: what is in the store already and identical is skipped. A
record the store holds differently (changed here since, or issued there
under the same name) is never overwritten: it is reported and the command
exits 1 after moving everything else.

Afterwards, run every command with --store s3://BUCKET/PREFIX (or
APIMTLS_STORE) and this same PKI directory: the records come from the
store, the CA keys from here.

Example:
   apimtls store migrate --to s3://example-pki/team
   APIMTLS_STORE=s3://example-pki/team apimtls store migrate -o json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagTo, EnvVars: []string{envStore}, Usage: "the shared store, s3://BUCKET/PREFIX (also " + envStore + ")"},
			&cli.StringFlag{Name: flagRegion, Usage: "AWS Region (default: AWS_REGION or the profile's)"},
			&cli.StringFlag{Name: flagEndpointURL, Usage: "an S3-compatible endpoint such as http://127.0.0.1:9000 (also AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)"},
		},
		Action: storeMigrate,
	}
}

func storeMigrate(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	if c.String(flagTo) == "" {
		return usagef("give the shared store: --%s s3://BUCKET/PREFIX (or %s)", flagTo, envStore)
	}
	dir, err := pkiDir(c)
	if err != nil {
		return err
	}
	st, enc, notes, err := sharedFrom(c, c.String(flagTo))
	if err != nil {
		return err
	}
	st.Parallel = 16
	res, err := sharedstore.Migrate(c.Context, dir, st)
	if err != nil && !errors.Is(err, sharedstore.ErrMigrateConflicts) {
		return s3Error(err, st.Bucket)
	}
	res.Encryption, res.Notes = enc, append(res.Notes, notes...)
	if format == outputJSON {
		if werr := writeJSON(c.App.Writer, res); werr != nil {
			return werr
		}
	} else {
		printMigrated(c.App.Writer, c.App.ErrWriter, res)
	}
	return err
}

func printMigrated(w, errW io.Writer, res *sharedstore.Migrated) {
	fmt.Fprintf(w, "Migrated %s to %s: %d records, %d copied, %d already there\n", res.From, res.To, res.Records, res.Moved, res.Skipped)
	for _, n := range res.CRLNumbers {
		fmt.Fprintf(w, "CRL number of CA %s carried on: %d\n", n.CA, n.Number)
	}
	fmt.Fprintln(w, "Not moved:")
	for _, k := range res.CAKeys {
		fmt.Fprintf(w, "  %s (%s)\n", k.Path, k.Reason)
	}
	byReason := map[string]int{}
	var reasons []string
	for _, n := range res.NotMoved {
		if byReason[n.Reason] == 0 {
			reasons = append(reasons, n.Reason)
		}
		byReason[n.Reason]++
	}
	for _, r := range reasons {
		fmt.Fprintf(w, "  %d files: %s\n", byReason[r], r)
	}
	fmt.Fprintf(w, "  CRL files, truststore.pem, pushed.json: signed or built output, made again from the records\n")
	printNotes(w, res.Notes)
	for _, cf := range res.Conflicts {
		fmt.Fprintf(errW, "not overwritten: %s %s (serial %s): %s\n", cf.Kind, cf.Name, cf.Serial, cf.Error)
	}
}
