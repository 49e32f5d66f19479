package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

// scenario measures one part of the design; it adds its figures to c.
type scenario func(ctx context.Context, e *env, c *collector, notes *[]string) error

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(getenv("TMPDIR"), "assetjoblog-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	e := &env{cfg: cfg, dir: dir, bins: map[string]string{}, log: stderr}

	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Runs: cfg.Runs, Quick: cfg.Quick, Broker: "embedded kfake (in-process)"}
	if len(cfg.Brokers) > 0 {
		rep.Broker = fmt.Sprint(cfg.Brokers)
	}
	fmt.Fprintf(stderr, "bench: %d CPUs (%s), %s, broker %s, %d run(s) per scenario\n",
		rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.GoVersion, rep.Broker, cfg.Runs)
	all := map[string]scenario{
		"cpu": scenarioCPU, "backfill": scenarioBackfill, "fresh": scenarioFresh, "api": scenarioAPI, "memory": scenarioMemory,
		"catalog": scenarioCatalog,
	}
	var failed []string
	for _, name := range scenarioNames {
		if !cfg.wants(name) {
			continue
		}
		begin := time.Now()
		fmt.Fprintf(stderr, "bench: scenario %s...\n", name)
		c := newCollector(name)
		if err := all[name](ctx, e, c, &rep.Notes); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, name)
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: failed: %v", name, err))
			fmt.Fprintf(stderr, "bench: scenario %s failed: %v\n", name, err)
		}
		figs := c.figures()
		rep.Figures = append(rep.Figures, figs...)
		fmt.Fprintf(stderr, "bench: scenario %s done in %s\n", name, time.Since(begin).Round(time.Second))
		if cfg.Verbose {
			printTable(stderr, figs)
		}
	}
	rep.Duration = time.Since(rep.Started).Round(time.Second).String()
	printTable(stdout, rep.Figures)
	for _, n := range rep.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	if cfg.Out != "" {
		if err := writeJSON(cfg.Out, rep); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: figures written to %s\n", cfg.Out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %v", failed)
	}
	return nil
}
