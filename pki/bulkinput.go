package pki

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// BulkCSVColumns are the columns a bulk CSV may have; name and cn are
// required. Several SANs in one cell are separated by ';'.
var BulkCSVColumns = []string{"name", "cn", "dns", "uri", "email", "days"}

// ErrCSVHeader is wrapped by the error for a CSV whose header is not one
// apimtls reads: nothing is issued from it.
var ErrCSVHeader = errkind.New(errkind.Invalid, "bad CSV header")

// ErrCSVSyntax is wrapped by the error for a CSV that does not parse to
// its end: nothing is issued from it.
var ErrCSVSyntax = errkind.New(errkind.Invalid, "bad CSV")

// ReadBulkCSV reads the clients of a bulk CSV. A bad header, or a line
// that does not parse as CSV, refuses the whole file; a row that parses
// but asks for a bad client is a failure naming its line, and the other
// rows are still returned.
func ReadBulkCSV(r io.Reader) ([]BulkItem, []BulkFailure, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%w: the file is empty; the first line names the columns (%s)", ErrCSVHeader, strings.Join(BulkCSVColumns, ","))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCSVHeader, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(BulkCSVColumns, h) {
			return nil, nil, fmt.Errorf("%w: unknown column %q (columns: %s)", ErrCSVHeader, h, strings.Join(BulkCSVColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("%w: column %q twice", ErrCSVHeader, h)
		}
		col[h] = i
	}
	for _, req := range []string{"name", "cn"} {
		if _, ok := col[req]; !ok {
			return nil, nil, fmt.Errorf("%w: missing column %q (required: name, cn)", ErrCSVHeader, req)
		}
	}
	var items []BulkItem
	var fails []BulkFailure
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// An unbalanced quote swallows every later line into one
			// field: what follows cannot be trusted to split into rows,
			// and issuing the rows before it would leave a half-done run
			// (found in issue 21: line 10 of 17 dropped rows 11 to 17).
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("%w: line %d does not parse (%v): nothing is issued from a CSV that does not parse to its end; fix the line (a quote inside a field is written twice: \"\")", ErrCSVSyntax, pe.StartLine, pe.Err)
			}
			return nil, nil, fmt.Errorf("%w: %v", ErrCSVSyntax, err)
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue
		}
		line, _ := cr.FieldPos(0)
		source := "line " + strconv.Itoa(line)
		cell := func(name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		it, err := csvItem(cell)
		it.Source = source
		if err != nil {
			fails = append(fails, BulkFailure{Name: cell("name"), Source: source, Reason: err.Error()})
			continue
		}
		items = append(items, it)
	}
	return items, fails, nil
}

func csvItem(cell func(string) string) (BulkItem, error) {
	p := ClientParams{Name: cell("name"), CommonName: cell("cn")}
	if p.Name == "" {
		return BulkItem{}, errors.New("the name is empty")
	}
	p.DNSNames, p.Emails = row(cell("dns")), row(cell("email"))
	uris, err := x509cert.ParseURIs(row(cell("uri")))
	if err != nil {
		return BulkItem{}, err
	}
	p.URIs = uris
	if err := x509cert.CheckSANs(p.DNSNames, p.Emails, p.URIs); err != nil {
		return BulkItem{}, err
	}
	if d := cell("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			return BulkItem{}, fmt.Errorf("days %q is not a number", d)
		}
		if err := checkDays(n); err != nil {
			return BulkItem{}, err
		}
		p.Days = n
	}
	return BulkItem{Params: p}, nil
}

// row splits a cell of several values separated by ';'.
func row(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ";") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// maxCSRFile bounds a CSR file read from a directory.
const maxCSRFile = 64 << 10

// ReadCSRDir reads every regular file of dir as a CSR, each client named
// after its file without the extension (device-1.csr -> device-1). A file
// that is not a CSR apimtls signs is a failure naming it. Entries that are
// not read at all (links, pipes, folders, hidden files) are returned in
// ignored, each with the reason, so that none is passed over in silence.
func ReadCSRDir(dir string) (items []BulkItem, fails, ignored []BulkFailure, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range entries {
		if why := notReadAsCSR(e); why != "" {
			ignored = append(ignored, BulkFailure{Source: e.Name(), Reason: why})
			continue
		}
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		fail := func(err error) { fails = append(fails, BulkFailure{Name: name, Source: e.Name(), Reason: err.Error()}) }
		info, err := e.Info()
		if err != nil {
			fail(err)
			continue
		}
		if info.Size() > maxCSRFile {
			fail(fmt.Errorf("larger than %d bytes: not a CSR", maxCSRFile))
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			fail(err)
			continue
		}
		csr, err := x509cert.DecodeCSR(data)
		if err != nil {
			fail(err)
			continue
		}
		checked, err := x509cert.CheckCSR(csr)
		if err != nil {
			fail(err)
			continue
		}
		items = append(items, BulkItem{Source: e.Name(), Params: ClientParams{Name: name, CSR: checked}})
	}
	return items, fails, ignored, nil
}

// notReadAsCSR says why a directory entry is not read as a CSR, or "".
// Only regular files are opened: a link could point anywhere (a key
// elsewhere on the machine), and reading a pipe or a device could block
// or never end.
func notReadAsCSR(e fs.DirEntry) string {
	t := e.Type()
	switch {
	case t&fs.ModeSymlink != 0:
		return "a symbolic link, not followed: copy the CSR itself into the directory"
	case t.IsDir():
		return "a directory, not read (folders are not searched)"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe, not a regular file"
	case t&fs.ModeSocket != 0:
		return "a socket, not a regular file"
	case t&fs.ModeDevice != 0:
		return "a device, not a regular file"
	case !t.IsRegular():
		return "not a regular file"
	case strings.HasPrefix(e.Name(), "."):
		return "a hidden file"
	}
	return ""
}

// NameTemplateItems expands a name template such as device-{n} for n from
// start to start+count-1; {n} may carry a width, {n:05} for device-00001.
func NameTemplateItems(tmpl string, start, count int) ([]BulkItem, error) {
	before, after, ok := strings.Cut(tmpl, "{n")
	if !ok {
		return nil, fmt.Errorf("the name template %q has no {n}", tmpl)
	}
	spec, rest, ok := strings.Cut(after, "}")
	if !ok {
		return nil, fmt.Errorf("the name template %q has an unclosed {n", tmpl)
	}
	format := "%d"
	if spec != "" {
		w, err := strconv.Atoi(strings.TrimPrefix(spec, ":"))
		if !strings.HasPrefix(spec, ":0") || err != nil || w < 1 || w > 20 {
			return nil, fmt.Errorf("the name template %q: write {n} or {n:0W} with a width W of 1 to 20, such as {n:05}", tmpl)
		}
		format = "%0" + strconv.Itoa(w) + "d"
	}
	if strings.Contains(rest, "{n") {
		return nil, fmt.Errorf("the name template %q has {n} more than once", tmpl)
	}
	items := make([]BulkItem, count)
	for i := range items {
		n := start + i
		name := before + fmt.Sprintf(format, n) + rest
		items[i] = BulkItem{Source: "n=" + strconv.Itoa(n), Params: ClientParams{Name: name}}
	}
	if count > 0 {
		for _, it := range []BulkItem{items[0], items[count-1]} {
			if err := CheckClientName(it.Params.Name); err != nil {
				return nil, fmt.Errorf("the name template %q makes %w", tmpl, err)
			}
		}
	}
	return items, nil
}
