package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// scenarioCatalog measures the whole-catalog journey.
//
// Backfill: the producer program (a child process) runs -discover
// -backfill -once over a fresh state against an ips-sim child serving
// catalog-assets assets with a fixed latency per call. Its wall time is
// compared with the IPS-latency ideal (one getAssetJobLogs call per asset at
// catalog-concurrency in flight, plus the searchAssets pages in sequence);
// its calls are read from its round summary; its peak RSS is VmHWM.
//
// Running job: in-process, a job that touches catalog-job-assets assets is
// followed by discovery rounds while it runs (quiet rounds, then a round
// with new rows) and when it ends; IPS calls per round are counted by the
// simulator.
func scenarioCatalog(ctx context.Context, e *env, c *collector, notes *[]string) error {
	if err := catalogBackfill(ctx, e, c, notes); err != nil {
		return err
	}
	return catalogRunningJob(ctx, e, c, notes)
}

func catalogBackfill(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	if err := e.build(ctx, "ips-sim", "producer"); err != nil {
		return err
	}
	sim, url, err := e.startSim("-assets", strconv.Itoa(cfg.CatalogAssets), "-entries", strconv.Itoa(cfg.CatalogEntries),
		"-latency", cfg.CatalogLatency.String())
	if err != nil {
		return err
	}
	defer sim.stop(5 * time.Second)
	pages := (cfg.CatalogAssets + pipeline.DefaultCatalogPageSize - 1) / pipeline.DefaultCatalogPageSize
	ideal := time.Duration(float64(cfg.CatalogAssets)/float64(cfg.CatalogConcurrency)*float64(cfg.CatalogLatency)) +
		time.Duration(pages)*cfg.CatalogLatency
	*notes = append(*notes, fmt.Sprintf("catalog: -discover -backfill of %d assets × %d entries, %s per IPS call, concurrency %d: "+
		"ideal %s (assets/concurrency × latency + %d searchAssets pages × latency)", cfg.CatalogAssets, cfg.CatalogEntries,
		cfg.CatalogLatency, cfg.CatalogConcurrency, ideal.Round(time.Millisecond), pages))
	for run := range cfg.CatalogRuns {
		b, err := e.newBroker("catalog")
		if err != nil {
			return err
		}
		state := filepath.Join(e.dir, fmt.Sprintf("catalog-%d.db", run))
		p, err := e.startProducer(url, b, state, "-discover", "-backfill", "-since", "1h",
			"-concurrency", strconv.Itoa(cfg.CatalogConcurrency))
		if err != nil {
			b.Close()
			return err
		}
		begin := time.Now()
		p.wait()
		hwm, _, err := p.sampleMemory(ctx, 0)
		if err != nil {
			b.Close()
			return err
		}
		wall := time.Since(begin)
		b.Close()
		if p.err != nil {
			return fmt.Errorf("producer: %v: %s", p.err, tail(p.stderr.String(), 800))
		}
		sum, ok := roundSummary(p.stderr.String())
		if !ok {
			return fmt.Errorf("producer reported no round summary: %s", tail(p.stderr.String(), 800))
		}
		if want := cfg.CatalogAssets * cfg.CatalogEntries; sum.Published != want {
			return fmt.Errorf("backfill published %d entries, want %d", sum.Published, want)
		}
		c.add("backfill: searchAssets calls", "calls", float64(sum.SearchCalls))
		c.add("backfill: searchAssets ideal (assets / 10,000)", "calls", float64(pages))
		c.add("backfill: getAssetJobLogs calls", "calls", float64(sum.AssetCalls))
		c.add("backfill: getAssetJobLogs ideal (one per asset)", "calls", float64(cfg.CatalogAssets))
		c.add("backfill: wall time (process start to exit)", "s", wall.Seconds())
		c.add("backfill: IPS-latency ideal", "s", ideal.Seconds())
		c.add("backfill: wall time / ideal", "ratio", wall.Seconds()/ideal.Seconds())
		c.add("backfill: producer peak RSS (VmHWM)", "MB", float64(hwm)/1024)
	}
	c.target("backfill: wall time / ideal", "<=", 1.15)
	c.target("backfill: searchAssets calls", "<=", float64(pages))
	c.target("backfill: getAssetJobLogs calls", "<=", float64(cfg.CatalogAssets))
	return nil
}

// summary is what the bench reads of a round summary log line.
type summary struct {
	Assets      int `json:"assets"`
	Published   int `json:"published"`
	AssetCalls  int `json:"asset_calls"`
	SearchCalls int `json:"search_calls"`
}

// roundSummary returns the last round summary of a JSON log.
func roundSummary(log string) (summary, bool) {
	var out summary
	found := false
	for _, line := range strings.Split(log, "\n") {
		var m struct {
			Msg string `json:"msg"`
			summary
		}
		if json.Unmarshal([]byte(line), &m) != nil || !strings.HasPrefix(m.Msg, "round ") {
			continue
		}
		out, found = m.summary, true
	}
	return out, found
}

func catalogRunningJob(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	n := cfg.CatalogJobAssets
	sim := ipstest.NewServer(ipstest.WithCatalog(n+100, 1))
	defer sim.Close()
	b, err := e.newBroker("catalog-job")
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := e.newPipe(ctx, sim.URL(), b, filepath.Join(e.dir, "catalog-job.db"), pipeline.Config{Concurrency: 32}, true)
	if err != nil {
		return err
	}
	defer p.Close()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	job := sim.StartJob(idx, 1)
	total := 0
	round := func(name string) error {
		sim.ResetCalls()
		if _, err := p.poller.RunOnce(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		a := sim.Calls(ips.OpGetAssetJobLogs)
		total += a
		c.add("running job: "+name+": getAssetJobLogs", "calls", float64(a))
		c.add("running job: "+name+": getJobLogDetails", "calls", float64(sim.Calls(ips.OpGetJobLogDetails)))
		c.add("running job: "+name+": all IPS calls", "calls", float64(sim.TotalCalls()))
		return nil
	}
	if err := round("first round"); err != nil {
		return err
	}
	for range 3 {
		if err := round("quiet round"); err != nil {
			return err
		}
	}
	var more []int
	for i := range 50 {
		more = append(more, i*7, n+i) // 50 rows on touched assets, 50 on new ones
	}
	if err := sim.AppendToJob(job, more, 1); err != nil {
		return err
	}
	if err := round("round with 100 new rows"); err != nil {
		return err
	}
	if err := sim.EndJob(job); err != nil {
		return err
	}
	if err := round("round after the job ended"); err != nil {
		return err
	}
	c.add("running job: getAssetJobLogs calls per touched asset, whole job", "ratio", float64(total)/float64(n+50))
	c.target("running job: quiet round: getAssetJobLogs", "<=", 0)
	c.target("running job: getAssetJobLogs calls per touched asset, whole job", "<=", 2.05)
	*notes = append(*notes, fmt.Sprintf("catalog: a job touching %d assets followed by discovery rounds: first sight, 3 quiet rounds, "+
		"100 new rows (50 on new assets), then the round after it ended (one last pass over every asset it touched)", n))
	return nil
}
