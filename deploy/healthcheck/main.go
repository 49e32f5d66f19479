// Command healthcheck is the container health probe of the assetjoblog
// image. The image is distroless (no shell, no curl), so a compose or
// Kubernetes exec healthcheck runs this binary instead: it sends one HTTP
// GET and exits 0 when the answer is acceptable, 1 when it is not or no
// answer comes within the timeout, and 2 on bad arguments.
//
//	healthcheck [-timeout 3s] [-any-status] URL
//
// By default only a 2xx status is acceptable, which suits the producer's
// /healthz and /readyz. With -any-status every HTTP answer is, which suits a
// server that has no GET endpoint but must be shown to listen (the IPS
// simulator answers GET on its SOAP path with 405).
//
// It does not follow redirects, send credentials or read more than a few
// kilobytes of the body; it prints one line on failure and nothing on
// success.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Exit statuses.
const (
	exitHealthy   = 0
	exitUnhealthy = 1
	exitUsage     = 2
)

// maxBody is how much of the body is read (and shown on failure).
const maxBody = 4 << 10

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run probes the URL in args and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	anyStatus := fs.Bool("any-status", false, "accept any HTTP status (default: 2xx only)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: healthcheck [-timeout 3s] [-any-status] URL")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitHealthy
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "healthcheck: want exactly one URL")
		return exitUsage
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: %q is not an http(s) URL\n", target)
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "healthcheck: -timeout must be positive, got %s\n", *timeout)
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitUsage
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: GET %s: %v\n", target, err)
		return exitUnhealthy
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if *anyStatus || resp.StatusCode/100 == 2 {
		return exitHealthy
	}
	fmt.Fprintf(stderr, "healthcheck: GET %s: %s: %s\n", target, resp.Status, firstLine(body))
	return exitUnhealthy
}

// firstLine returns b up to its first line break.
func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return string(b[:i])
		}
	}
	return string(b)
}
