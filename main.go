// Command apimtls gives an Amazon API Gateway custom domain mutual TLS from
// end to end: a private CA hierarchy, a validated truststore, and the AWS
// changes that enforce it. Everything but the exit lives in internal/cli.
package main

import (
	"os"

	"github.com/apimtls/apimtls/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
