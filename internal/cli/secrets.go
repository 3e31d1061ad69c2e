package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
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
	flag    string // the flag file came from, for errors
	env     string
	confirm bool // ask twice when prompting for a new secret
	hint    string
}

// read returns the secret. A signal (ctx cancelled) interrupts it while it
// waits on a terminal, a FIFO or a slow file, leaving the terminal as it
// was; nothing has been written at that point.
func (s secretSource) read(ctx context.Context) ([]byte, error) {
	if s.file != "" {
		b, err := interruptible(ctx, func() ([]byte, error) { return readSecretFile(s.file) })
		if err != nil && s.flag != "" && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("--%s (the %s): %w", s.flag, s.what, err)
		}
		return b, err
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
	first, err := prompt(ctx, fd, "Enter "+s.what+": ")
	if err != nil {
		return nil, err
	}
	if s.confirm {
		again, err := prompt(ctx, fd, "Repeat "+s.what+": ")
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

// errInterrupted is returned when a signal arrives while apimtls waits for
// input.
var errInterrupted = errors.New("interrupted while waiting for input; nothing was changed")

// interruptible runs a blocking read and gives up when ctx is cancelled:
// a read on a terminal or a FIFO cannot be cancelled, so it is left to die
// with the process, which exits right after.
func interruptible(ctx context.Context, read func() ([]byte, error)) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := read()
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return nil, errInterrupted
	}
}

func prompt(ctx context.Context, fd int, label string) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("read from terminal: %w", err)
	}
	fmt.Fprint(os.Stderr, label)
	b, err := interruptible(ctx, func() ([]byte, error) { return term.ReadPassword(fd) })
	if errors.Is(err, errInterrupted) {
		_ = term.Restore(fd, state) // echo back on: ReadPassword never returned to do it
	}
	fmt.Fprintln(os.Stderr)
	if err != nil && !errors.Is(err, errInterrupted) {
		return nil, fmt.Errorf("read from terminal: %w", err)
	}
	return b, err
}

// readSecretFile reads a secret file exactly as OpenSSL's -passin file:
// does (measured with OpenSSL 3.0: genpkey -pass file:F, then pkey -passin
// pass:...): the secret is the first line, up to but not including the
// first \n. Everything after it is ignored, and a \r before it is part of
// the secret, as it is for OpenSSL.
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
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("the first line of secret file %s is longer than %d bytes: is it the right file?", path, maxSecretBytes)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("secret file %s is empty or starts with an empty line", path)
	}
	return b, nil
}

// passphraseFunc turns a source into a x509cert.PassphraseFunc that asks once,
// only when a key turns out to be encrypted.
func passphraseFunc(ctx context.Context, src secretSource) x509cert.PassphraseFunc {
	var (
		cached []byte
		err    error
		done   bool
	)
	return func() ([]byte, error) {
		if !done {
			cached, err = src.read(ctx)
			done = true
		}
		return cached, err
	}
}

// issuerPassphrase asks for the passphrase of the CA that will sign, now,
// before the command takes the PKI directory's lock: a prompt left waiting
// must never block every other apimtls command. It asks only when the
// inventory records the CA's key as encrypted; otherwise it returns a
// function that asks if the key turns out to be encrypted after all.
func issuerPassphrase(c *cli.Context, ca string, src secretSource) (x509cert.PassphraseFunc, error) {
	lazy := passphraseFunc(c.Context, src)
	s, err := openStore(c, false)
	if err != nil {
		return nil, err
	}
	if ca == "" {
		if ca, err = s.DefaultIssuer(); err != nil {
			s.Close()
			return lazy, nil // the command reports it, with its hint
		}
	}
	rec, err := s.Lookup(pki.KindRoot, ca)
	s.Close()
	if err != nil || !rec.KeyEncrypted {
		return lazy, nil
	}
	if _, err := lazy(); err != nil {
		return nil, err
	}
	return lazy, nil
}
