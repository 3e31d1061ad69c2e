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
	os.Exit(runMain())
}

// runMain is main with its exit code: the whole program, as the tests run
// it too.
func runMain() int {
	// A command lives for milliseconds and allocates a few megabytes at
	// most; collecting less often saves a fifth of the time of a large
	// truststore validation.
	debug.SetGCPercent(400)
	// SIGINT and SIGTERM cancel the context: serve shuts down cleanly, and
	// other commands finish the step they are in rather than die midway.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args, os.Stdout, os.Stderr)
}
