package cli

import (
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/authorizer"
)

// flagArch names the Lambda architecture of authorizer package; --out is
// truststore build's flag name, reused.
const flagArch = "arch"

func authorizerCommand() *cli.Command {
	return &cli.Command{
		Name:  "authorizer",
		Usage: "the Lambda authorizer that enforces revocation",
		Subcommands: []*cli.Command{{
			Name:      "package",
			Usage:     "write the Lambda deployment zip (bootstrap for provided.al2023)",
			ArgsUsage: " ",
			Description: `Writes a zip whose only file is an executable named bootstrap: apimtls
itself, which answers as the authorizer when Lambda starts it. It is this
binary when it is the linux one of the architecture; else the same module
version cross-compiled with the Go toolchain on the PATH (GOOS=linux
CGO_ENABLED=0 -trimpath); else the command names the release asset
(apimtls_authorizer_VERSION_linux_ARCH.zip, in the release's checksums.txt)
to download and give to deploy and setup with --zip. Without --arch: arm64
(cheaper per ms) when it can be built here, else this linux binary's
architecture, and it says which and why. See docs/revocation.md.

Example:
   apimtls authorizer package --arch arm64 --out authorizer.zip`,
			Flags: []cli.Flag{
				archFlag(),
				&cli.StringFlag{Name: flagOut, Value: "authorizer.zip", Usage: "the zip to write (replaced atomically)"},
			},
			Action: authorizerPackage,
		}, authorizerDeployCommand(), authorizerStatusCommand(), authorizerRemoveCommand()},
	}
}

// archFlag is --arch: empty chooses (authorizer.Builder.Choose).
func archFlag() cli.Flag {
	return &cli.StringFlag{Name: flagArch, Usage: "Lambda architecture: arm64 or amd64 (x86_64) (default: arm64 when this apimtls can build it, else this linux binary's)"}
}

func authorizerPackage(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	arch, err := archOf(c)
	if err != nil {
		return err
	}
	out := c.String(flagOut)
	if err := checkOutput(c, out); err != nil {
		return err
	}
	b := authorizer.Builder{Version: version}
	choice := b.Choose(c.Context, arch)
	arch = choice.Arch
	pkg, err := b.Build(c.Context, choice)
	if errors.Is(err, authorizer.ErrNeedsZip) {
		return withHint(err, "download "+choice.Asset+" from the apimtls release, check it against the release's checksums.txt, and use it as the package")
	}
	if err != nil {
		return err
	}
	if format != outputJSON {
		fmt.Fprintln(c.App.ErrWriter, "architecture "+choice.Why)
	}
	if err := writeOutput(c, out, pkg.Zip); err != nil {
		return err
	}
	if format == outputJSON {
		return writeJSON(c.App.Writer, map[string]any{"path": out, "arch": arch, "lambda_architecture": authorizer.LambdaArch(arch),
			"runtime": "provided.al2023", "handler": "bootstrap", "bootstrap_sha256": pkg.BootstrapSHA, "bytes": len(pkg.Zip)})
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes): bootstrap for provided.al2023 on %s\n", out, len(pkg.Zip), authorizer.LambdaArch(arch))
	fmt.Fprintf(c.App.Writer, "next: aws lambda create-function --runtime provided.al2023 --architectures %s --handler bootstrap --zip-file fileb://%s ... (docs/revocation.md)\n", authorizer.LambdaArch(arch), out)
	return nil
}

// archOf reads --arch: arm64 or amd64 (x86_64 is amd64); "" lets the
// package builder choose.
func archOf(c *cli.Context) (string, error) {
	arch := c.String(flagArch)
	if arch == "x86_64" {
		arch = "amd64"
	}
	if arch == "" {
		return "", nil
	}
	if !slices.Contains(authorizer.Archs, arch) {
		return "", usagef("--arch %q: use arm64 or amd64", c.String(flagArch))
	}
	return arch, nil
}
