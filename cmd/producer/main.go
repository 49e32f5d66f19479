// Command producer polls Adobe Scene7 IPS asset job logs and publishes every
// new entry to a Kafka topic as an Avro record. Run it with -h for its
// flags, or with -demo to see it work against an in-process IPS simulator
// and an embedded broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err as one line and maps it to the process exit status:
// 0 for success or -h, 2 for bad flags, 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "producer: %v\n", err)
	return 1
}

// usageError marks a configuration error found before any network call.
type usageError struct{ err error }

// Error returns the message on one line: a flag or value holding a line
// break (from a script, say) shows it escaped.
func (e *usageError) Error() string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(e.err.Error())
}
func (e *usageError) Unwrap() error { return e.err }
