package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// shutdownTimeout bounds how long calls in flight may take to finish once
// the context is cancelled; calls still waiting are then dropped.
const shutdownTimeout = 5 * time.Second

// config is the parsed command line.
type config struct {
	addr        string
	company     string
	user        string
	password    string
	assetPrefix string
	assets      int
	entries     int
	seed        uint64
	activity    float64 // entries per second
	latency     time.Duration
	errorRate   float64
	prefix      ipstest.Prefix
	searchCap   int
	newAssets   float64 // assets created per second
}

func parseFlags(args []string, env func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("ips-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	password := env("IPS_SIM_PASSWORD")
	if password == "" {
		password = "secret"
	}
	var activity, prefix, newAssets string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8089", "listen `address`")
	fs.StringVar(&c.company, "company", "c|6", "company `handle`")
	fs.StringVar(&c.user, "user", "api@example.com", "accepted IPS `user`")
	fs.StringVar(&c.password, "password", password, "accepted `password` (default from IPS_SIM_PASSWORD, else \"secret\")")
	fs.StringVar(&c.assetPrefix, "asset-prefix", "", "asset handle `prefix` (default a|<companyID>|1|)")
	fs.IntVar(&c.assets, "assets", 10, "number of `assets`")
	fs.IntVar(&c.entries, "entries", 5, "base entries per asset")
	fs.Uint64Var(&c.seed, "seed", 1, "`seed` of the synthetic data")
	fs.StringVar(&activity, "activity", "0", "new entries per time unit, e.g. 5/s, 300/m, 2 (per second); 0 = none")
	fs.DurationVar(&c.latency, "latency", 0, "`delay` added to every answer")
	fs.Float64Var(&c.errorRate, "error-rate", 0, "`fraction` of calls answered 503 with Retry-After: 1")
	fs.StringVar(&newAssets, "new-assets", "0", "assets created per time unit while serving (the catalog grows), e.g. 2/s, 60/m; 0 = none")
	fs.IntVar(&c.searchCap, "search-page-cap", 0, "searchAssets returns at most this many `assets` per call whatever was asked (0: IPS's caps, 1000 or 10,000 lean)")
	fs.StringVar(&prefix, "prefix", "default", "namespace prefix `style`: default, ns1, tns or rotate")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.activity, err = parseRate(activity); err != nil {
		return nil, fmt.Errorf("-activity: %w", err)
	}
	if c.newAssets, err = parseRate(newAssets); err != nil {
		return nil, fmt.Errorf("-new-assets: %w", err)
	}
	if c.prefix, err = ipstest.ParsePrefix(prefix); err != nil {
		return nil, fmt.Errorf("-prefix: %w", err)
	}
	return c, nil
}

// parseRate reads "N", "N/s", "N/m" or "N/h" as a rate per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a non-negative rate like 5/s", s)
	}
	switch unit {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("%q: unknown unit %q (want s, m or h)", s, unit)
}

func (c *config) options(logger *slog.Logger) []ipstest.Option {
	opts := []ipstest.Option{
		ipstest.WithCompany(c.company),
		ipstest.WithCredentials(c.user, c.password),
		ipstest.WithCatalog(c.assets, c.entries),
		ipstest.WithSeed(c.seed),
		ipstest.WithLatency(c.latency),
		ipstest.WithErrorRate(c.errorRate),
		ipstest.WithPrefix(c.prefix),
		ipstest.WithLogger(logger),
		ipstest.WithSearchPageCap(c.searchCap),
	}
	if c.assetPrefix != "" {
		opts = append(opts, ipstest.WithAssetHandlePrefix(c.assetPrefix))
	}
	return opts
}

// run serves until ctx is done. It prints the endpoint URL on stdout once
// listening; bad flags fail before anything listens.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, env, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	h, err := ipstest.NewHandler(cfg.options(logger)...)
	if err != nil {
		return fmt.Errorf("configure simulator: %w", err)
	}
	defer h.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	url := "http://" + ln.Addr().String() + ipstest.Path
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	logger.Info("ips-sim listening", "url", url, "company", cfg.company, "assets", cfg.assets,
		"entries_per_asset", cfg.entries, "activity_per_second", cfg.activity, "prefix", cfg.prefix.String())
	fmt.Fprintln(stdout, url)
	h.StartActivity(ctx, cfg.activity)
	h.StartCatalogGrowth(ctx, cfg.newAssets)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	h.Close() // drops calls waiting on latency so Shutdown does not wait for them
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shut down: %w", err)
		}
	}
	logger.Info("ips-sim stopped", "calls", h.TotalCalls())
	return nil
}
