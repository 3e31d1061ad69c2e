// Command apimtls gives an Amazon API Gateway custom domain mutual TLS from
// end to end: a private CA hierarchy, a validated truststore, and the AWS
// changes that enforce it.
//
// The same binary is two programs. Run by a person or a script, it is the
// CLI (internal/cli). Started by Lambda, it is the revocation authorizer
// (package authorizer): `apimtls authorizer package` zips this very
// executable as the function's bootstrap for the provided.al2023 runtime,
// so the authorizer decides exactly as `serve` and `probe` do here.
package main

import (
	"os"
	"path/filepath"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/cli"
)

func main() {
	// Lambda sets the Runtime API's address; a zip's executable is always
	// called bootstrap.
	if authorizer.RunningInLambda() || filepath.Base(os.Args[0]) == "bootstrap" {
		os.Exit(authorizer.Start())
	}
	os.Exit(cli.Main())
}
