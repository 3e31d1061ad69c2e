package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/x509cert"
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
	// Errors quote file names, CSV cells and AWS messages: escaped, so
	// none of them can drive the terminal.
	fmt.Fprintf(w, "%s %s\n", paint(w, noColor, color.FgRed, "error:"), textsafe.EscapeLines(err.Error()))
	hints := errorHints(err)
	var ue usageError
	if len(hints) == 0 && (errors.As(err, &ue) || isCLIUsage(err)) {
		hints = append(hints, "run the command with --help for its usage and an example")
	}
	for _, h := range hints {
		printHint(w, h, noColor)
	}
}

// printHint writes one "hint:" line, the next step to take.
func printHint(w io.Writer, msg string, noColor bool) {
	fmt.Fprintf(w, "%s %s\n", paint(w, noColor, color.FgCyan, "hint:"), textsafe.EscapeLines(msg))
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

// encodeElem appends one element of writeJSONArray's list, without
// Encode's newline. A pointer: no copy into an interface, and elements
// addressable as they are in the slice writeJSON encodes.
func encodeElem[T any](buf *bytes.Buffer, enc *json.Encoder, item *T) error {
	if a, ok := any(item).(arrayElemAppender); ok {
		if out, ok := a.appendArrayElem(buf.AvailableBuffer()); ok {
			buf.Write(out)
			return nil
		}
	}
	if err := enc.Encode(item); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1)
	return nil
}

// arrayElemAppender is an item that writeJSONArray can print without
// encoding/json (certView does).
type arrayElemAppender interface {
	appendArrayElem([]byte) ([]byte, bool)
}

// writeJSONArray writes items as writeJSON writes a slice, byte for byte,
// encoding chunks of them on every core into reused buffers and writing
// the chunks in order: a 100,000-client list is one large document.
func writeJSONArray[T any](w io.Writer, items []T) error {
	return writeJSONList(w, items, func(t *T) (T, error) { return *t, nil })
}

// writeJSONList is writeJSONArray of view(item) for each item, each view
// made by the worker that encodes it, never all at once.
func writeJSONList[S, T any](w io.Writer, items []S, view func(*S) (T, error)) error {
	if len(items) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	const chunk = 512
	workers := runtime.GOMAXPROCS(0)
	bufs := make([]bytes.Buffer, workers)
	errs := make([]error, workers)
	encode := func(k, lo, hi int) {
		buf := &bufs[k]
		buf.Reset()
		enc := json.NewEncoder(buf)
		enc.SetIndent("  ", "  ")
		var v T
		for i := lo; i < hi; i++ {
			buf.WriteString("  ")
			if v, errs[k] = view(&items[i]); errs[k] != nil {
				return
			}
			if errs[k] = encodeElem(buf, enc, &v); errs[k] != nil {
				return
			}
			if i < len(items)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for lo := 0; lo < len(items); lo += chunk * workers {
		var wg sync.WaitGroup
		n := 0
		for k := range workers {
			a := lo + k*chunk
			if a >= len(items) {
				break
			}
			n++
			wg.Go(func() { encode(k, a, min(a+chunk, len(items))) })
		}
		wg.Wait()
		for k := range n {
			if errs[k] != nil {
				return errs[k]
			}
			if _, err := w.Write(bufs[k].Bytes()); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, "]\n")
	return err
}

// table aligns columns of text output, as text/tabwriter did with a
// padding of 2, but in one pass over rows it holds: a 100,000-client list
// is written in a fraction of tabwriter's time.
type table struct {
	w    io.Writer
	rows [][]string
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r[:max(len(r)-1, 0)] {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	bw := bufio.NewWriterSize(t.w, 64<<10)
	for _, r := range t.rows {
		for i, c := range r {
			bw.WriteString(c)
			if i < len(r)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		bw.WriteByte('\n')
	}
	t.rows = nil
	return bw.Flush()
}

func colorFor(s x509cert.Severity) color.Attribute {
	if s == x509cert.SeverityError {
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
func slowKeyNotice(c *cli.Context, format string, kt x509cert.KeyType) {
	if kt == x509cert.RSA3072 || kt == x509cert.RSA4096 {
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
