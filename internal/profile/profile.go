// Package profile reads and writes apimtls's profile: the settings a team
// would otherwise retype on every command (bucket, Region, domain...), one
// TOML table per context ([default], [prod]), in the user config directory.
// It knows the file, not the settings: the command line gives the keys and
// how each value is checked, and decides what wins over the profile.
//
// Edits change the lines they concern and nothing else, so comments and
// the order a person gave the file survive `config set` and `config unset`.
package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/apimtls/apimtls/internal/atomicfile"
	"github.com/apimtls/apimtls/internal/errkind"
)

// DefaultContext is the table read when no context is chosen.
const DefaultContext = "default"

// maxSize bounds the file read: a profile is a few hundred bytes.
const maxSize = 1 << 20

// Path is where the profile lives: apimtls/config.toml in the user config
// directory ($XDG_CONFIG_HOME or ~/.config on Linux, ~/Library/Application
// Support on macOS, %AppData% on Windows).
func Path() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory: %w", err)
	}
	return filepath.Join(dir, "apimtls", "config.toml"), nil
}

// Key is a setting the profile may hold.
type Key struct {
	Name string
	// Check refuses a bad value, naming it and saying why; nil accepts any.
	Check func(value string) error
}

// Setting is a key's value in a context, and the line it is on.
type Setting struct {
	Value string
	Line  int
}

// File is the profile as read (or empty, when there is no file yet).
type File struct {
	Path string
	// Mode is the file's permission bits; 0 when there is no file.
	Mode     fs.FileMode
	data     []byte
	keys     []Key
	contexts []*table
}

// table is one context: where its header is, and its settings.
type table struct {
	name     string
	line     int
	afterHdr int // offset just past the header's line
	settings map[string]*entry
	last     int // offset just past the line of its last setting, or afterHdr
}

type entry struct {
	Setting
	start, end int // the "key = value" bytes
}

// FileError is a profile file that was read and refused: where, and why.
type FileError struct {
	Path string
	Line int // 0 when the whole file is at fault
	Err  error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}
func (e *FileError) Unwrap() error           { return e.Err }
func (e *FileError) ErrorKind() errkind.Kind { return errkind.Invalid }

// SettingError is a key or value refused: unknown, a secret, or a value
// its check refuses.
type SettingError struct {
	Key string
	Err error
}

func (e *SettingError) Error() string           { return e.Key + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error           { return e.Err }
func (e *SettingError) ErrorKind() errkind.Kind { return errkind.Invalid }

// UnknownContextError is a context the file has no table for.
type UnknownContextError struct {
	Name  string
	Path  string
	Known []string
}

func (e *UnknownContextError) Error() string {
	switch {
	case len(e.Known) == 0:
		return fmt.Sprintf("no context %q: %s has no contexts", e.Name, e.Path)
	default:
		return fmt.Sprintf("no context %q in %s: its contexts are %s", e.Name, e.Path, strings.Join(e.Known, ", "))
	}
}
func (e *UnknownContextError) ErrorKind() errkind.Kind { return errkind.NotFound }

// Read reads the profile at path; a file that does not exist is an empty
// profile. Every key and value is checked: the first one refused is a
// FileError naming its line.
func Read(path string, keys []Key) (*File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Path: path, keys: keys}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the profile: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read the profile: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, &FileError{Path: path, Err: errors.New("not a regular file")}
	}
	data, err := readAtMost(f, maxSize)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	p, err := Parse(path, data, keys)
	if err != nil {
		return nil, err
	}
	p.Mode = info.Mode().Perm()
	return p, nil
}

func readAtMost(f *os.File, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > n {
		return nil, fmt.Errorf("larger than %d bytes: not a profile", n)
	}
	return data, nil
}

// Parse reads a profile's bytes; path is only for errors.
func Parse(path string, data []byte, keys []Key) (*File, error) {
	// The maintained decoder first: it knows all of TOML (strings,
	// escapes, a key or table given twice) and says where it stopped.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		line := 0
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ = de.Position()
		}
		return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("not valid TOML: %s", strings.TrimPrefix(err.Error(), "toml: "))}
	}
	// Then the parser's expressions, for the line of each setting and the
	// bytes an edit replaces.
	f := &File{Path: path, data: data, keys: keys}
	p := unstable.Parser{}
	p.Reset(data)
	var cur *table
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			name, raw, parts := keyOf(e)
			line := p.Shape(raw).Start.Line
			if parts != 1 {
				return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("[%s]: a context is one name, such as [prod]", name)}
			}
			if err := CheckContextName(name); err != nil {
				return nil, &FileError{Path: path, Line: line, Err: err}
			}
			cur = &table{name: name, line: line, settings: map[string]*entry{}}
			cur.afterHdr = lineEnd(data, int(raw.Offset))
			cur.last = cur.afterHdr
			f.contexts = append(f.contexts, cur)
		case unstable.ArrayTable:
			name, raw, _ := keyOf(e)
			return nil, &FileError{Path: path, Line: p.Shape(raw).Start.Line, Err: fmt.Errorf("[[%s]]: a context is a table, such as [prod]", name)}
		case unstable.KeyValue:
			name, _, parts := keyOf(e)
			line := p.Shape(e.Raw).Start.Line
			if cur == nil {
				return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("%s is outside a context: put it under [%s] or [NAME]", name, DefaultContext)}
			}
			if parts != 1 {
				return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("%s: a key is one name, such as bucket", name)}
			}
			v := e.Value()
			if v.Kind != unstable.String {
				return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("%s in [%s] is not a string: write %s = \"VALUE\"", name, cur.name, name)}
			}
			value := string(v.Data)
			if err := CheckSetting(keys, name, value); err != nil {
				return nil, &FileError{Path: path, Line: line, Err: fmt.Errorf("in [%s]: %w", cur.name, err)}
			}
			start := int(e.Raw.Offset)
			cur.settings[name] = &entry{Setting{value, line}, start, start + int(e.Raw.Length)}
			cur.last = lineEnd(data, start+int(e.Raw.Length))
		}
	}
	if err := p.Error(); err != nil { // the decoder above would have said
		return nil, &FileError{Path: path, Err: err}
	}
	return f, nil
}

// keyOf is the dotted name of a table or key-value expression, the bytes
// of its first part, and how many parts it has.
func keyOf(e *unstable.Node) (string, unstable.Range, int) {
	var parts []string
	var raw unstable.Range
	it := e.Key()
	for it.Next() {
		if len(parts) == 0 {
			raw = it.Node().Raw
		}
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, "."), raw, len(parts)
}

// lineEnd is the offset just past the end of the line holding offset.
func lineEnd(data []byte, offset int) int {
	if i := bytes.IndexByte(data[offset:], '\n'); i >= 0 {
		return offset + i + 1
	}
	return len(data)
}

var contextName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// CheckContextName refuses a context name that is not a plain word.
func CheckContextName(name string) error {
	if !contextName.MatchString(name) {
		return &SettingError{Key: "context", Err: fmt.Errorf("%q is not a context name: use letters, digits, '-' and '_', such as prod", name)}
	}
	return nil
}

// secretLike names what a profile never holds: it is a plain file that
// backups and dotfile repositories copy.
var secretLike = regexp.MustCompile(`(?i)pass|secret|token|credential|private|access-key|session`)

// ErrNotSet is a key the context does not hold.
var ErrNotSet = errkind.New(errkind.NotFound, "not set")

// ErrSecret is a setting refused as a secret.
var ErrSecret = errkind.New(errkind.Invalid, "the profile holds no secrets: passphrases and passwords come from a file, an environment variable or a prompt, and AWS credentials from the AWS CLI's own files")

// CheckKey refuses a key the profile does not hold, a secret above all.
func CheckKey(keys []Key, key string) error {
	if slices.ContainsFunc(keys, func(k Key) bool { return k.Name == key }) {
		return nil
	}
	if secretLike.MatchString(key) {
		return &SettingError{Key: key, Err: ErrSecret}
	}
	return &SettingError{Key: key, Err: fmt.Errorf("unknown key: the keys are %s", strings.Join(Names(keys), ", "))}
}

// CheckSetting refuses an unknown key, a secret, or a value the key's check
// refuses.
func CheckSetting(keys []Key, key, value string) error {
	if err := CheckKey(keys, key); err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == key })
	if value == "" {
		return &SettingError{Key: key, Err: errors.New("empty value: to clear it, unset it")}
	}
	if !utf8.ValidString(value) || strings.ContainsFunc(value, unicode.IsControl) {
		return &SettingError{Key: key, Err: fmt.Errorf("%q holds control characters", value)}
	}
	if strings.Contains(value, "PRIVATE KEY") {
		return &SettingError{Key: key, Err: fmt.Errorf("%w: this looks like a private key", ErrSecret)}
	}
	if check := keys[i].Check; check != nil {
		if err := check(value); err != nil {
			return &SettingError{Key: key, Err: err} // the check names the value
		}
	}
	return nil
}

// Names are the keys' names, in their order.
func Names(keys []Key) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return names
}

// Contexts are the file's contexts, in the file's order.
func (f *File) Contexts() []string {
	names := make([]string, len(f.contexts))
	for i, t := range f.contexts {
		names[i] = t.name
	}
	return names
}

func (f *File) table(name string) *table {
	for _, t := range f.contexts {
		if t.name == name {
			return t
		}
	}
	return nil
}

// Settings are the context's settings. The default context exists in
// every profile, empty when the file has no [default]; any other must have
// its table.
func (f *File) Settings(context string) (map[string]Setting, error) {
	t := f.table(context)
	if t == nil {
		if context == DefaultContext {
			return map[string]Setting{}, nil
		}
		return nil, &UnknownContextError{Name: context, Path: f.Path, Known: f.Contexts()}
	}
	out := make(map[string]Setting, len(t.settings))
	for k, e := range t.settings {
		out[k] = e.Setting
	}
	return out, nil
}

// Set gives key value in context, creating the context's table when there
// is none; only that line changes. Save writes it.
func (f *File) Set(context, key, value string) error {
	if err := CheckContextName(context); err != nil {
		return err
	}
	if err := CheckSetting(f.keys, key, value); err != nil {
		return err
	}
	line := key + " = " + strconv.Quote(value) // the checks leave nothing strconv escapes unlike TOML
	var data []byte
	t := f.table(context)
	switch {
	case t != nil && t.settings[key] != nil:
		e := t.settings[key]
		data = splice(f.data, e.start, e.end, line)
	case t != nil:
		at := t.last
		prefix := ""
		if at > 0 && f.data[at-1] != '\n' {
			prefix = "\n"
		}
		data = splice(f.data, at, at, prefix+line+"\n")
	default:
		var b bytes.Buffer
		b.Write(f.data)
		if len(f.data) > 0 {
			if f.data[len(f.data)-1] != '\n' {
				b.WriteByte('\n')
			}
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n%s\n", context, line)
		data = b.Bytes()
	}
	return f.replace(data)
}

// Unset removes key's line from context, reporting whether it was set.
func (f *File) Unset(context, key string) (bool, error) {
	if _, err := f.Settings(context); err != nil {
		return false, err
	}
	t := f.table(context)
	if t == nil || t.settings[key] == nil {
		return false, nil
	}
	e := t.settings[key]
	start := bytes.LastIndexByte(f.data[:e.start], '\n') + 1
	return true, f.replace(splice(f.data, start, lineEnd(f.data, e.end), ""))
}

func splice(data []byte, start, end int, s string) []byte {
	out := make([]byte, 0, len(data)+len(s))
	out = append(out, data[:start]...)
	out = append(out, s...)
	return append(out, data[end:]...)
}

// replace takes edited bytes after reading them back as a profile: an edit
// that broke the file is never saved.
func (f *File) replace(data []byte) error {
	g, err := Parse(f.Path, data, f.keys)
	if err != nil {
		return fmt.Errorf("edit the profile: %w", err)
	}
	f.data, f.contexts = g.data, g.contexts
	return nil
}

// Save writes the file atomically with mode 0600 (its folder 0700): it
// names buckets, domains and stores, which are nobody else's to change.
func (f *File) Save() error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("save the profile: %w", err)
	}
	if err := atomicfile.Write(f.Path, f.data, 0o600); err != nil {
		return fmt.Errorf("save the profile: %w", err)
	}
	f.Mode = 0o600
	return nil
}
