package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// scenarioNames lists the scenarios in the order they run.
var scenarioNames = []string{"cpu", "backfill", "fresh", "api", "memory", "catalog"}

// config is the parsed command line. Each flag's usage states its default.
type config struct {
	Runs       int
	Quick      bool
	Scenarios  []string
	Out        string
	Brokers    []string
	Partitions int
	Verbose    bool
	CPUProfile string
	Reconcile  bool

	CPUAssets      int
	CPUEntries     int
	CPUConcurrency int

	BackfillAssets      int
	BackfillEntries     int
	BackfillLatency     time.Duration
	BackfillConcurrency int

	FreshFor      time.Duration
	FreshRate     float64
	FreshInterval time.Duration
	FreshAssets   int

	APIAssets int
	APIActive int
	APIJobs   int

	MemAssets  int
	MemEntries int
	MemFor     time.Duration

	CatalogAssets      int
	CatalogEntries     int
	CatalogLatency     time.Duration
	CatalogConcurrency int
	CatalogJobAssets   int
	CatalogRuns        int
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scenarios, brokers string
	fs.IntVar(&c.Runs, "runs", 3, "repetitions of each scenario; figures are medians")
	fs.BoolVar(&c.Quick, "quick", false, "short smoke run: 1 run, smaller catalogs and shorter windows (the api scenario keeps its 100,000 assets)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios to run: "+strings.Join(scenarioNames, ", "))
	fs.StringVar(&c.Out, "out", "bench-results/bench.json", "file the figures are written to as JSON (empty: none)")
	fs.StringVar(&brokers, "brokers", "", "comma-separated Kafka brokers to use instead of the embedded kfake broker; topics are created per run")
	fs.IntVar(&c.Partitions, "partitions", 3, "partitions of each topic")
	fs.BoolVar(&c.Verbose, "v", false, "print each run's figures as they are measured")
	fs.BoolVar(&c.Reconcile, "reconcile", true, "publish exactly once as the producer does (reconciliation bounds, read-back); false measures the pipeline without it")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the bench process to this file (for go tool pprof)")

	fs.IntVar(&c.CPUAssets, "cpu-assets", 100, "cpu: assets polled per run")
	fs.IntVar(&c.CPUEntries, "cpu-entries", 1000, "cpu: entries per asset (per response)")
	fs.IntVar(&c.CPUConcurrency, "cpu-concurrency", 8, "cpu: pipeline concurrency (the producer's default)")

	fs.IntVar(&c.BackfillAssets, "backfill-assets", 2000, "backfill: assets")
	fs.IntVar(&c.BackfillEntries, "backfill-entries", 20, "backfill: entries per asset")
	fs.DurationVar(&c.BackfillLatency, "backfill-latency", 50*time.Millisecond, "backfill: simulator latency per IPS call")
	fs.IntVar(&c.BackfillConcurrency, "backfill-concurrency", 16, "backfill: pipeline concurrency")

	fs.DurationVar(&c.FreshFor, "fresh-for", 25*time.Second, "fresh: how long the producer runs per run")
	fs.Float64Var(&c.FreshRate, "fresh-rate", 50, "fresh: entries per second the simulator adds")
	fs.DurationVar(&c.FreshInterval, "fresh-interval", time.Second, "fresh: poll interval")
	fs.IntVar(&c.FreshAssets, "fresh-assets", 1000, "fresh: assets in the catalog")

	fs.IntVar(&c.APIAssets, "api-assets", 100000, "api: assets in the catalog")
	fs.IntVar(&c.APIActive, "api-active", 50, "api: asset activity slots added before each round (random assets, so a few may repeat)")
	fs.IntVar(&c.APIJobs, "api-jobs", 5, "api: jobs the activity of a round is split into")

	fs.IntVar(&c.MemAssets, "mem-assets", 100000, "memory: assets tracked")
	fs.IntVar(&c.MemEntries, "mem-entries", 1000, "memory: entries per asset")
	fs.DurationVar(&c.MemFor, "mem-for", 20*time.Second, "memory: how long the producer polls before it is stopped")
	fs.IntVar(&c.CatalogAssets, "catalog-assets", 100000, "catalog: assets backfilled by -discover -backfill")
	fs.IntVar(&c.CatalogEntries, "catalog-entries", 2, "catalog: entries per asset")
	fs.DurationVar(&c.CatalogLatency, "catalog-latency", 50*time.Millisecond, "catalog: simulator latency per IPS call")
	fs.IntVar(&c.CatalogConcurrency, "catalog-concurrency", 32, "catalog: producer -concurrency")
	fs.IntVar(&c.CatalogJobAssets, "catalog-job-assets", 20000, "catalog: assets a running job touches")
	fs.IntVar(&c.CatalogRuns, "catalog-runs", 1, "catalog: repetitions of the backfill (about 3 minutes each at the defaults), whatever -runs says")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if c.Quick {
		c.applyQuick(set)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// applyQuick shrinks what the user did not set explicitly.
func (c *config) applyQuick(set map[string]bool) {
	quick := map[string]func(){
		"runs":            func() { c.Runs = 1 },
		"cpu-assets":      func() { c.CPUAssets = 20 },
		"backfill-assets": func() { c.BackfillAssets = 400 },
		"fresh-for":       func() { c.FreshFor = 8 * time.Second },
		"mem-for":         func() { c.MemFor = 6 * time.Second },
		"catalog-assets":  func() { c.CatalogAssets = 10000 },
	}
	for name, apply := range quick {
		if !set[name] {
			apply()
		}
	}
}

// Validate names the first bad flag.
func (c *config) Validate() error {
	known := map[string]bool{}
	for _, s := range scenarioNames {
		known[s] = true
	}
	if len(c.Scenarios) == 0 {
		return errors.New("-scenarios: no scenario named")
	}
	for _, s := range c.Scenarios {
		if !known[s] {
			return fmt.Errorf("-scenarios: unknown scenario %q (want %s)", s, strings.Join(scenarioNames, ", "))
		}
	}
	positive := []struct {
		name string
		v    int
	}{
		{"runs", c.Runs}, {"partitions", c.Partitions}, {"cpu-assets", c.CPUAssets}, {"cpu-entries", c.CPUEntries},
		{"cpu-concurrency", c.CPUConcurrency}, {"backfill-assets", c.BackfillAssets}, {"backfill-entries", c.BackfillEntries},
		{"backfill-concurrency", c.BackfillConcurrency}, {"fresh-assets", c.FreshAssets}, {"api-assets", c.APIAssets},
		{"api-active", c.APIActive}, {"api-jobs", c.APIJobs}, {"mem-assets", c.MemAssets}, {"mem-entries", c.MemEntries},
		{"catalog-assets", c.CatalogAssets}, {"catalog-entries", c.CatalogEntries}, {"catalog-concurrency", c.CatalogConcurrency},
		{"catalog-job-assets", c.CatalogJobAssets}, {"catalog-runs", c.CatalogRuns},
	}
	for _, p := range positive {
		if p.v < 1 {
			return fmt.Errorf("-%s: must be at least 1, got %d", p.name, p.v)
		}
	}
	switch {
	case c.APIActive > c.APIAssets:
		return fmt.Errorf("-api-active: %d exceeds -api-assets %d", c.APIActive, c.APIAssets)
	case c.FreshRate <= 0:
		return fmt.Errorf("-fresh-rate: must be positive, got %g", c.FreshRate)
	case c.FreshInterval <= 0:
		return fmt.Errorf("-fresh-interval: must be positive, got %s", c.FreshInterval)
	case c.FreshFor < 5*time.Second:
		return fmt.Errorf("-fresh-for: must be at least 5s, got %s", c.FreshFor)
	case c.MemFor <= 0:
		return fmt.Errorf("-mem-for: must be positive, got %s", c.MemFor)
	case c.BackfillLatency < 0:
		return fmt.Errorf("-backfill-latency: must not be negative, got %s", c.BackfillLatency)
	}
	return nil
}

func (c *config) wants(scenario string) bool {
	for _, s := range c.Scenarios {
		if s == scenario {
			return true
		}
	}
	return false
}
