// Command ips-sim serves a simulated Scene7 IPS SOAP web service
// (getAssetJobLogs, getJobLogs, getJobLogDetails) over a synthetic company,
// for trying the producer without Adobe credentials and for benchmarks.
//
// It prints the endpoint URL on standard output once it listens and logs
// to standard error. Flags:
//
//	-addr 127.0.0.1:8089   listen address (port 0 picks a free port)
//	-company c|6           company handle
//	-user api@example.com  accepted IPS user
//	-password secret       accepted password (or IPS_SIM_PASSWORD)
//	-asset-prefix ...      asset handle prefix (default a|<companyID>|1|)
//	-assets 10             number of assets
//	-entries 5             base entries per asset
//	-seed 1                seed of the synthetic data
//	-activity 0            new entries per time unit: 5/s, 300/m, 2 (per second); 0 = none
//	-latency 0s            delay added to every answer
//	-error-rate 0          fraction of calls answered 503 with Retry-After: 1
//	-prefix default        namespace prefix style: default, ns1, tns or rotate
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "ips-sim:", err)
		os.Exit(1)
	}
}
