package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// scenarioBackfill runs one assets-mode round over a fresh state with the
// simulator (a child process) adding a fixed latency to every call, and
// compares the wall time with the ideal assets / concurrency × latency.
func scenarioBackfill(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	if err := e.build(ctx, "ips-sim"); err != nil {
		return err
	}
	sim, url, err := e.startSim("-assets", strconv.Itoa(cfg.BackfillAssets), "-entries", strconv.Itoa(cfg.BackfillEntries),
		"-latency", cfg.BackfillLatency.String())
	if err != nil {
		return err
	}
	defer sim.stop(5 * time.Second)
	handles := assetHandles(cfg.BackfillAssets)
	ideal := time.Duration(float64(cfg.BackfillAssets) / float64(cfg.BackfillConcurrency) * float64(cfg.BackfillLatency))
	*notes = append(*notes, fmt.Sprintf("backfill: %d assets × %d entries, %s per IPS call, concurrency %d: ideal %s",
		cfg.BackfillAssets, cfg.BackfillEntries, cfg.BackfillLatency, cfg.BackfillConcurrency, ideal))
	for run := range cfg.Runs {
		b, err := e.newBroker("backfill")
		if err != nil {
			return err
		}
		state := filepath.Join(e.dir, fmt.Sprintf("backfill-%d.db", run))
		p, err := e.newPipe(ctx, url, b, state, pipeline.Config{Assets: handles, Concurrency: cfg.BackfillConcurrency}, false)
		if err != nil {
			b.Close()
			return err
		}
		t0 := time.Now()
		stats, err := p.poller.RunOnce(ctx)
		wall := time.Since(t0)
		p.Close()
		b.Close()
		os.Remove(state)
		if err != nil {
			return fmt.Errorf("backfill round: %w", err)
		}
		if want := cfg.BackfillAssets * cfg.BackfillEntries; stats.Published != want {
			return fmt.Errorf("backfill published %d entries, want %d", stats.Published, want)
		}
		c.add("round wall time", "s", wall.Seconds())
		c.add("wall time / ideal", "ratio", wall.Seconds()/ideal.Seconds())
		c.add("ideal (assets/concurrency × latency)", "s", ideal.Seconds())
		c.add("getAssetJobLogs calls", "calls", float64(stats.AssetCalls))
		c.add("throughput", "entries/s", float64(stats.Published)/wall.Seconds())
		ph := p.phases
		c.add("per asset: IPS fetch (incl. latency)", "ms", ms(mean(&ph.fetch, &ph.fetches)))
		c.add("per asset: Kafka publish", "ms", ms(mean(&ph.publish, &ph.publishes)))
		c.add("per asset: checkpoint commit", "ms", ms(mean(&ph.commit, &ph.commits)))
	}
	c.target("round wall time", "<=", 1.15*ideal.Seconds())
	c.target("wall time / ideal", "<=", 1.15)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
