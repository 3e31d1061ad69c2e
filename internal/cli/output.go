package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/pki"
)

// hintedError carries lines that tell the user what to do next, often the
// corrected command.
type hintedError struct {
	err   error
	hints []string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

func withHint(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &hintedError{err: err, hints: hints}
}

// silentError ends a command with exit 1 after it has said everything on
// its own, such as a listing that found expiring certificates.
type silentError struct{ msg string }

func (e silentError) Error() string { return e.msg }

// colorize reports whether w is a terminal that wants colour: never with
// NO_COLOR or --no-color (https://no-color.org).
func colorize(w io.Writer, disabled bool) bool {
	if disabled || os.Getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a terminal, where people read.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func paint(w io.Writer, disabled bool, attr color.Attribute, s string) string {
	if !colorize(w, disabled) {
		return s
	}
	c := color.New(attr)
	c.EnableColor()
	return c.Sprint(s)
}

// printError is the one place errors reach the user: "error:" and the
// message, then any "hint:" lines.
func printError(w io.Writer, err error, noColor bool) {
	var se silentError
	if errors.As(err, &se) {
		if se.msg != "" {
			fmt.Fprintln(w, se.msg)
		}
		return
	}
	fmt.Fprintf(w, "%s %s\n", paint(w, noColor, color.FgRed, "error:"), err)
	hints := errorHints(err)
	var ue usageError
	if len(hints) == 0 && (errors.As(err, &ue) || isCLIUsage(err)) {
		hints = append(hints, "run the command with --help for its usage and an example")
	}
	for _, h := range hints {
		fmt.Fprintf(w, "%s %s\n", paint(w, noColor, color.FgCyan, "hint:"), h)
	}
}

func printWarning(w io.Writer, msg string, noColor bool) {
	fmt.Fprintf(w, "%s %s\n", paint(w, noColor, color.FgYellow, "warning:"), msg)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table aligns columns of text output.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }
func (t *table) flush() error        { return t.tw.Flush() }

func colorFor(s pki.Severity) color.Attribute {
	if s == pki.SeverityError {
		return color.FgRed
	}
	return color.FgYellow
}

// Colours of verdicts.
const (
	colorPass    = color.FgGreen
	colorFail    = color.FgRed
	colorUnknown = color.FgYellow
)

// progress reports waiting on a terminal, and says nothing when piped.
type progress struct {
	w     io.Writer
	on    bool
	shown bool
}

func newProgress(c *cli.Context, format string) *progress {
	return &progress{w: c.App.ErrWriter, on: format == outputText && isTerminal(c.App.ErrWriter)}
}

// slowKeyNotice tells a person at a terminal that a large RSA key takes a
// few seconds to generate; pipes and JSON get nothing.
func slowKeyNotice(c *cli.Context, format string, kt pki.KeyType) {
	if kt == pki.RSA3072 || kt == pki.RSA4096 {
		if p := newProgress(c, format); p.on {
			fmt.Fprintf(p.w, "generating an %s key (a few seconds)...\n", kt)
		}
	}
}

// Status, Wait, Note and Done make progress the rollout's Events.
func (p *progress) Status(_, s string) {
	if !p.on {
		return
	}
	fmt.Fprintf(p.w, "\rwaiting for the domain: %-12s", s)
	p.shown = true
}

// Done ends the status line.
func (p *progress) Done() {
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

// Wait tells every pause, on a terminal or not: a wait of minutes must not
// look like a hang.
func (p *progress) Wait(w apigw.Wait) {
	p.Done()
	switch {
	case w.Err != nil:
		fmt.Fprintf(p.w, "%s; retrying in %s\n", w.Err, w.For.Round(time.Millisecond))
	default:
		fmt.Fprintf(p.w, "waiting %s: API Gateway's account quota spaces domain updates 30 s and deployments 5 s apart\n", w.For.Round(time.Second))
	}
}

// Note tells a step as it happens.
func (p *progress) Note(s string) {
	p.Done()
	fmt.Fprintln(p.w, s)
}
