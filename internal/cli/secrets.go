package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/apimtls/apimtls/pki"
)

// Environment variables that may hold secrets. Secrets never come from a
// flag value, where ps and shell history would show them.
const (
	envCAPassphrase = "APIMTLS_CA_PASSPHRASE"
	envP12Password  = "APIMTLS_P12_PASSWORD"
	maxSecretBytes  = 4096
)

// secretSource says where a secret comes from: a file, an environment
// variable, or else a prompt on the terminal.
type secretSource struct {
	what    string // "passphrase for CA root", for prompts and errors
	file    string
	env     string
	confirm bool // ask twice when prompting for a new secret
	hint    string
}

// read returns the secret, reading it at most once per source.
func (s secretSource) read() ([]byte, error) {
	if s.file != "" {
		return readSecretFile(s.file)
	}
	if v, ok := os.LookupEnv(s.env); ok {
		if v == "" {
			return nil, fmt.Errorf("%s is set but empty", s.env)
		}
		return []byte(v), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, withHint(fmt.Errorf("%s needed and there is no terminal to ask", s.what), s.hint)
	}
	first, err := prompt(fd, "Enter "+s.what+": ")
	if err != nil {
		return nil, err
	}
	if s.confirm {
		again, err := prompt(fd, "Repeat "+s.what+": ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(first, again) {
			return nil, errors.New("the two entries differ")
		}
	}
	if len(first) == 0 {
		return nil, fmt.Errorf("empty %s", s.what)
	}
	return first, nil
}

func prompt(fd int, label string) ([]byte, error) {
	fmt.Fprint(os.Stderr, label)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read from terminal: %w", err)
	}
	return b, nil
}

// readSecretFile reads a secret file, dropping one trailing newline as
// OpenSSL's file: source does.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read secret file %s: %w", path, err)
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes: is it the right file?", path, maxSecretBytes)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", path)
	}
	return b, nil
}

// passphraseFunc turns a source into a pki.PassphraseFunc that asks once,
// only when a key turns out to be encrypted.
func passphraseFunc(src secretSource) pki.PassphraseFunc {
	var (
		cached []byte
		err    error
		done   bool
	)
	return func() ([]byte, error) {
		if !done {
			cached, err = src.read()
			done = true
		}
		return cached, err
	}
}
