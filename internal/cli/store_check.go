package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/sharedstore"
)

func storeCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "report what interrupted or damaged writes left in a shared S3 store",
		ArgsUsage: " ",
		Description: `Lists the shared store (--store s3://BUCKET/PREFIX or APIMTLS_STORE) and
reports, without changing anything:

  pending-claim  a name claimed with no record: an issuance in progress, or
                 one interrupted; once stale (10 minutes) the next issue of
                 the name takes it over
  orphan-cert    a certificate no record lists: an issuance interrupted or
                 refused after writing it; never listed, harmless
  missing-cert   a record whose certificate is gone: damage, never left by
                 apimtls (restore the object's previous version)
  damaged-record an object under records/ that is not a record apimtls
                 wrote (written by hand, too large to read), or a record
                 that does not hold together with its certificate and the
                 store's CAs (a folder outside apimtls's, a certificate no
                 CA of the store signed): never listed as valid; a CRL
                 lists its certificate as revoked if its CA signed it
                 (fail closed) and goes on (restore its last good version)
  damaged-claim  the same under names/

It is the shared store's counterpart of store rebuild. It exits 1 when it
finds damage (missing-cert, damaged-record, damaged-claim), 0 otherwise.

Example:
   apimtls store check --store s3://example-pki/team`,
		Action: storeCheck,
	}
}

// errStoreDamaged is store check's exit 1.
var errStoreDamaged = errors.New("the shared store is damaged: an object apimtls wrote is missing or not what it wrote")

func storeCheck(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	uri := c.String(flagStore)
	if uri == "" {
		return usagef("give the shared store: --%s s3://BUCKET/PREFIX (or %s)", flagStore, envStore)
	}
	st, _, notes, err := sharedFrom(c, uri)
	if err != nil {
		return err
	}
	for _, n := range notes {
		printWarning(c.App.ErrWriter, n, noColor(c))
	}
	rep, err := st.Check(c.Context)
	if err != nil {
		return s3Error(err, st.Bucket)
	}
	if format == outputJSON {
		err = writeJSON(c.App.Writer, rep)
	} else {
		printCheck(c.App.Writer, st.URI(), rep, time.Now())
	}
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		switch f.Kind {
		case "missing-cert", "damaged-record", "damaged-claim":
			return withHint(errStoreDamaged, "restore the object's last good version: aws s3api list-object-versions --bucket "+st.Bucket+" --prefix "+f.Key)
		}
	}
	return nil
}

func printCheck(w io.Writer, uri string, rep *sharedstore.Report, now time.Time) {
	fmt.Fprintf(w, "%s: %d records, %d findings\n", uri, rep.Records, len(rep.Findings))
	if len(rep.Findings) == 0 {
		return
	}
	t := newTable(w, "FINDING", "KEY", "SERIAL", "AGE", "STALE", "WHY")
	for _, f := range rep.Findings {
		age := "-"
		if !f.Since.IsZero() {
			age = now.Sub(f.Since).Round(time.Second).String()
		}
		stale := "-"
		if f.Kind == "pending-claim" {
			stale = fmt.Sprint(f.Stale)
		}
		why := "-"
		if f.Reason != "" {
			why = textsafe.Escape(f.Reason)
		}
		t.row(f.Kind, textsafe.Escape(f.Key), f.Serial, age, stale, why)
	}
	t.flush()
}
