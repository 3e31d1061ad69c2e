package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
)

// Flags of bulk issuance.
const (
	// maxBulk bounds one bulk run; a larger fleet is several runs.
	maxBulk = 10_000_000
)

func bulkIssueFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: flagCount, Usage: "issue `N` clients named by --name-template (bulk)", Action: intIn(flagCount, 1, maxBulk)},
		&cli.IntFlag{Name: flagStart, Value: 1, Usage: "first number of --name-template", Action: intIn(flagStart, 0, 100_000_000)},
		&cli.StringFlag{Name: flagNameTemplate, Usage: "names of --count clients, {n} their number: device-{n}, device-{n:05}"},
		&cli.StringFlag{Name: flagFromCSV, Usage: "issue the clients of a CSV `FILE` (columns name, cn, optional dns, uri, email, days; several SANs separated by ;)"},
		failFastFlag(),
	}
}

func failFastFlag() cli.Flag {
	return &cli.BoolFlag{Name: flagFailFast, Usage: "bulk: stop at the first failure (default: report it and issue the rest)"}
}

// isBulkIssue reports whether client issue was asked for many clients.
func isBulkIssue(c *cli.Context) bool { return c.IsSet(flagCount) || c.IsSet(flagFromCSV) }

// bulkItems reads what a bulk client issue or sign asks for: the items,
// the failures found in reading them, and the entries of a CSR directory
// that were not read.
func bulkItems(c *cli.Context) ([]pki.BulkItem, []pki.BulkFailure, []pki.BulkFailure, error) {
	items, fails, err := bulkInput(c)
	if err != nil || !c.IsSet(flagCSRDir) {
		return items, fails, nil, err
	}
	return pki.ReadCSRDir(c.String(flagCSRDir))
}

func bulkInput(c *cli.Context) ([]pki.BulkItem, []pki.BulkFailure, error) {
	switch {
	case c.IsSet(flagCount) && c.IsSet(flagFromCSV):
		return nil, nil, usagef("give --%s or --%s, not both", flagCount, flagFromCSV)
	case c.IsSet(flagCount):
		if !c.IsSet(flagNameTemplate) {
			return nil, nil, usagef("--%s needs --%s, such as --%s 'device-{n}'", flagCount, flagNameTemplate, flagNameTemplate)
		}
		items, err := pki.NameTemplateItems(c.String(flagNameTemplate), c.Int(flagStart), c.Int(flagCount))
		if err != nil {
			return nil, nil, usageError{err}
		}
		return items, nil, nil
	case c.IsSet(flagFromCSV):
		if c.IsSet(flagNameTemplate) || c.IsSet(flagStart) {
			return nil, nil, usagef("--%s and --%s go with --%s, not --%s", flagNameTemplate, flagStart, flagCount, flagFromCSV)
		}
		path := c.String(flagFromCSV)
		data, err := readInput(path, 256<<20)
		if err != nil {
			return nil, nil, err
		}
		items, fails, err := pki.ReadBulkCSV(strings.NewReader(string(data)))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return items, fails, nil
	}
	return nil, nil, nil
}

// errNothingSigned is client sign --csr-dir finding no CSR it could read:
// "Signed 0" with exit 0 would pass in a script for a folder of links.
var errNothingSigned = errors.New("nothing was signed")

// runBulk issues the clients a bulk command asks for with the shared
// parameters p (CA, org, key type, days, p12, passphrase), and prints one
// summary.
func runBulk(c *cli.Context, p pki.ClientParams, what string) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	items, fails, ignored, err := bulkItems(c)
	if err != nil {
		return err
	}
	if c.Bool(flagFailFast) && len(fails) > 0 {
		return printBulk(c, format, &pki.BulkResult{Requested: len(items) + len(fails), Failed: fails, Ignored: ignored}, what)
	}
	if c.IsSet(flagCSRDir) && len(items)+len(fails) == 0 {
		printBulk(c, format, &pki.BulkResult{Failed: fails, Ignored: ignored}, what)
		why := "it is empty"
		if len(ignored) > 0 {
			why = fmt.Sprintf("none of its %d entries is a regular file: each is listed above with why", len(ignored))
		}
		return withHint(fmt.Errorf("%w: %s holds no CSR file apimtls reads (%s)", errNothingSigned, c.String(flagCSRDir), why),
			"put each device's CSR in the folder as a regular file, such as device-1.csr; links, pipes and folders are not read")
	}
	s, err := openStore(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	bar := newBulkBar(c, format)
	res, err := s.IssueBulk(pki.BulkParams{Common: p, Items: items, FailFast: c.Bool(flagFailFast), Progress: bar.update, Context: c.Context})
	bar.done()
	if err != nil {
		if res == nil {
			return pkiError(c, err, p.CA)
		}
		printBulk(c, format, res, what)
		return err
	}
	res.Requested += len(fails)
	res.Failed = append(fails, res.Failed...)
	res.Ignored = ignored
	return printBulk(c, format, res, what)
}

func printBulk(c *cli.Context, format string, res *pki.BulkResult, what string) error {
	if res.Failed == nil {
		res.Failed = []pki.BulkFailure{}
	}
	if format == outputJSON {
		if err := writeJSON(c.App.Writer, res); err != nil {
			return err
		}
	} else {
		w := c.App.Writer
		fmt.Fprintf(w, "%s %s", what, plural.Count(res.Issued, "client certificate"))
		if res.Issuer != "" {
			fmt.Fprintf(w, " from CA %q", res.Issuer)
		}
		fmt.Fprintf(w, " in %.1fs", res.Seconds)
		if res.Issued > 1 {
			fmt.Fprintf(w, " (%.0f a second)", res.Rate)
		}
		if res.Skipped > 0 {
			fmt.Fprintf(w, "; %d already in the inventory, skipped", res.Skipped)
		}
		fmt.Fprintln(w)
		for _, f := range res.Ignored {
			fmt.Fprintf(c.App.ErrWriter, "not read: %s: %s\n", textsafe.Escape(f.Source), f.Reason)
		}
		for _, f := range res.Failed {
			where := f.Source
			if f.Name != "" && f.Source != f.Name {
				where += " (" + f.Name + ")"
			}
			fmt.Fprintf(c.App.ErrWriter, "failed: %s: %s\n", textsafe.Escape(where), textsafe.Escape(f.Reason))
		}
	}
	if len(res.Failed) > 0 {
		return silentError{fmt.Sprintf("%s failed", plural.Count(len(res.Failed), "client"))}
	}
	return nil
}

// bulkBar draws count, rate and ETA on a terminal, and nothing when piped.
// pki reports every certificate; the bar redraws at most every
// barRedraw, and always for the last, so that 8,000 ECDSA keys a second
// do not flood the terminal while 3 RSA-4096 keys a second still move it.
type bulkBar struct {
	w     io.Writer
	on    bool
	now   func() time.Time // the clock that throttles redraws
	drawn bool
	last  time.Time // of the last redraw
	// base is the count at the first report (skipped and failed before
	// any signing): the rate counts only what this run signs.
	base  int
	based bool
}

// barRedraw is the least time between two redraws: 10 a second.
const barRedraw = 100 * time.Millisecond

func newBulkBar(c *cli.Context, format string) *bulkBar {
	return &bulkBar{w: c.App.ErrWriter, on: format == outputText && isTerminal(c.App.ErrWriter), now: time.Now}
}

func (b *bulkBar) update(p pki.BulkProgress) {
	if !b.on || p.Total == 0 {
		return
	}
	if !b.based {
		b.base, b.based = p.Done, true
	}
	t := b.now()
	if b.drawn && p.Done < p.Total && t.Sub(b.last) < barRedraw {
		return
	}
	b.last, b.drawn = t, true
	fmt.Fprint(b.w, barLine(p, p.Done-b.base))
}

// barLine is one drawing of the bar: the count of Total, the rate of the
// signed items of this run, and the time left at that rate.
func barLine(p pki.BulkProgress, signed int) string {
	const width = 30
	filled := width * p.Done / p.Total
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(signed) / s
	}
	eta, speed := "?", "?"
	if rate > 0 {
		eta = time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second).String()
		speed = fmt.Sprintf("%.0f", rate)
		if rate < 10 {
			speed = fmt.Sprintf("%.1f", rate)
		}
	}
	return fmt.Sprintf("\r[%s%s] %d/%d  %s/s  ETA %s   ", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), p.Done, p.Total, speed, eta)
}

func (b *bulkBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// bulkOnly refuses per-client flags in a bulk run, where each client's
// values come from the template, the CSV or the CSR.
func bulkOnly(c *cli.Context) error {
	for _, f := range []string{flagCN, flagDNS, flagURI, flagEmail, flagName} {
		if c.IsSet(f) {
			return usagef("--%s names one client; in a bulk run put it in the CSV (columns %s)", f, strings.Join(pki.BulkCSVColumns, ", "))
		}
	}
	return nil
}
