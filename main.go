// Command apimtls gives an Amazon API Gateway custom domain mutual TLS from
// end to end: a private CA hierarchy, a validated truststore, and the AWS
// changes that enforce it.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// A command lives for milliseconds and allocates a few megabytes at
	// most; collecting less often saves a fifth of the time of a large
	// truststore validation.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
