package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/pki"
)

// protectedPaths are the parts of the PKI directory that only pki writes:
// no output flag may point into them.
func protectedPaths(dir string) outfile.Protected {
	l := pki.Layout{Dir: dir}
	return outfile.Protected{l.CAs(), l.Clients(), l.Staging(), l.Inventory(), l.CRLs(), l.Superseded()}
}

// outputProtection is protectedPaths of the command's PKI directory.
func outputProtection(c *cli.Context) (outfile.Protected, error) {
	dir, err := pkiDir(c)
	if err != nil {
		return nil, err
	}
	return protectedPaths(dir), nil
}

// checkOutput refuses a bad output path before the command does its work.
func checkOutput(c *cli.Context, path string) error {
	protected, err := outputProtection(c)
	if err != nil {
		return err
	}
	_, err = outfile.Check(path, protected)
	return err
}

// writeOutput writes a file the user named (or a default the command
// chose) with the rules of package outfile: never over a key, never into
// the PKI's own folders, atomically.
func writeOutput(c *cli.Context, path string, data []byte) error {
	protected, err := outputProtection(c)
	if err != nil {
		return err
	}
	return outfile.Write(path, data, outfile.Public, protected)
}
