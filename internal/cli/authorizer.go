package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/authorizer"
)

// flagArch names the Lambda architecture of authorizer package; --out is
// truststore build's flag name, reused.
const flagArch = "arch"

// runsAsAuthorizer reports whether Lambda started this binary: the Runtime
// API is in the environment, or it was started under the name bootstrap.
func runsAsAuthorizer() bool {
	return authorizer.RunningInLambda() || filepath.Base(os.Args[0]) == "bootstrap"
}

func authorizerCommand() *cli.Command {
	return &cli.Command{
		Name:  "authorizer",
		Usage: "the Lambda authorizer that enforces revocation",
		Subcommands: []*cli.Command{{
			Name:      "package",
			Usage:     "write the Lambda deployment zip (bootstrap for provided.al2023)",
			ArgsUsage: " ",
			Description: `Writes a zip whose only file is an executable named bootstrap: this apimtls
binary itself, which answers as the authorizer when Lambda starts it. No Go
toolchain is needed, but the binary must be the Linux one of the function's
architecture: on another platform, download the linux release archive for
that architecture and run its apimtls authorizer package. See docs/revocation.md.

Example:
   apimtls authorizer package --arch arm64 --out authorizer.zip`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: flagArch, Value: defaultArch(), Usage: "Lambda architecture: arm64 or amd64 (x86_64)"},
				&cli.StringFlag{Name: flagOut, Value: "authorizer.zip", Usage: "the zip to write (replaced atomically)"},
			},
			Action: authorizerPackage,
		}, authorizerDeployCommand(), authorizerStatusCommand(), authorizerRemoveCommand()},
	}
}

func defaultArch() string {
	if runtime.GOARCH == "amd64" {
		return "amd64"
	}
	return "arm64"
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
	pkg, err := authorizer.BuildPackage(arch)
	var mismatch *authorizer.ArchMismatchError
	if errors.As(err, &mismatch) {
		return withHint(err, fmt.Sprintf("download the apimtls release archive for linux_%s and run its `apimtls authorizer package --arch %s`", arch, arch))
	}
	if err != nil {
		return err
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

// archOf reads --arch: arm64 or amd64 (x86_64 is amd64).
func archOf(c *cli.Context) (string, error) {
	arch := c.String(flagArch)
	if arch == "x86_64" {
		arch = "amd64"
	}
	if !slices.Contains(authorizer.Archs, arch) {
		return "", usagef("--arch %q: use arm64 or amd64", c.String(flagArch))
	}
	return arch, nil
}
