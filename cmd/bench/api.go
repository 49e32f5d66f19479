package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// scenarioAPI counts the IPS calls of one round over a large catalog with a
// little activity, in discovery mode and in assets mode, with the
// simulator's call counters. Each mode has its own simulator (in-process)
// and state, so one mode's activity does not show in the other's round.
// Every run adds activity (jobs over random assets) and then measures one
// round of each mode.
func scenarioAPI(ctx context.Context, e *env, c *collector, notes *[]string) error {
	cfg := e.cfg
	rnd := rand.New(rand.NewPCG(7, 11))
	simD := ipstest.NewServer(ipstest.WithCatalog(cfg.APIAssets, 1))
	defer simD.Close()
	simA := ipstest.NewServer(ipstest.WithCatalog(cfg.APIAssets, 1))
	defer simA.Close()

	bD, err := e.newBroker("api-discovery")
	if err != nil {
		return err
	}
	defer bD.Close()
	bA, err := e.newBroker("api-assets")
	if err != nil {
		return err
	}
	defer bA.Close()

	// Assets mode starts with every asset tracked: each checkpoint's
	// watermark is at or after the asset's newest base entry.
	stateA := filepath.Join(e.dir, "api-assets.db")
	store, err := boltstore.Open(stateA)
	if err != nil {
		return err
	}
	handles := assetHandles(cfg.APIAssets)
	t0 := time.Now()
	err = trackAll(store, handles, simA.Start().Add(-ipstest.BaseAge), false)
	store.Close()
	if err != nil {
		return fmt.Errorf("pre-populate state: %w", err)
	}
	fmt.Fprintf(e.log, "bench: api: %d checkpoints written in %s\n", len(handles), time.Since(t0).Round(time.Millisecond))

	pD, err := e.newPipe(ctx, simD.URL(), bD, filepath.Join(e.dir, "api-discovery.db"), pipeline.Config{}, true)
	if err != nil {
		return err
	}
	defer pD.Close()
	pA, err := e.newPipe(ctx, simA.URL(), bA, stateA, pipeline.Config{Assets: handles}, false)
	if err != nil {
		return err
	}
	defer pA.Close()
	// The first discovery round sets the cursor (and finds nothing: the
	// catalog's jobs are older than the look-back).
	if _, err := pD.poller.RunOnce(ctx); err != nil {
		return fmt.Errorf("first discovery round: %w", err)
	}

	activity := func(sim *ipstest.Server) (distinct int) {
		per := max(cfg.APIActive/cfg.APIJobs, 1)
		set := map[int]bool{}
		for j := range cfg.APIJobs {
			n := per
			if j == cfg.APIJobs-1 {
				n = cfg.APIActive - per*(cfg.APIJobs-1)
			}
			idx := make([]int, n)
			for k := range idx {
				idx[k] = rnd.IntN(cfg.APIAssets)
				set[idx[k]] = true
			}
			sim.AddActivity(idx, 1)
		}
		return len(set)
	}
	calls := func(sim *ipstest.Server) (asset, jobLogs, details int) {
		return sim.Calls(ips.OpGetAssetJobLogs), sim.Calls(ips.OpGetJobLogs), sim.Calls(ips.OpGetJobLogDetails)
	}

	for range cfg.Runs {
		// Discovery mode.
		active := activity(simD)
		simD.ResetCalls()
		t := time.Now()
		stats, err := pD.poller.RunOnce(ctx)
		durD := time.Since(t)
		if err != nil {
			return fmt.Errorf("discovery round: %w", err)
		}
		a, jl, jd := calls(simD)
		totalD := a + jl + jd
		ideal := active + 1 + cfg.APIJobs
		c.add("discovery: IPS calls per round", "calls", float64(totalD))
		c.add("discovery: ideal (active assets + 1 getJobLogs + 1 detail page per job)", "calls", float64(ideal))
		c.add("discovery: calls / ideal", "ratio", float64(totalD)/float64(ideal))
		c.add("discovery: getAssetJobLogs", "calls", float64(a))
		c.add("discovery: getJobLogs", "calls", float64(jl))
		c.add("discovery: getJobLogDetails", "calls", float64(jd))
		c.add("discovery: entries published", "entries", float64(stats.Published))
		c.add("discovery: round wall time", "s", durD.Seconds())

		// Assets mode.
		activeA := activity(simA)
		simA.ResetCalls()
		t = time.Now()
		statsA, err := pA.poller.RunOnce(ctx)
		durA := time.Since(t)
		if err != nil {
			return fmt.Errorf("assets round: %w", err)
		}
		a, jl, jd = calls(simA)
		totalA := a + jl + jd
		c.add("assets: IPS calls per round", "calls", float64(totalA))
		c.add("assets: entries published (active assets)", "entries", float64(statsA.Published))
		c.add("assets: distinct active assets", "assets", float64(activeA))
		c.add("assets: round wall time", "s", durA.Seconds())
		c.add("assets calls / discovery calls", "ratio", float64(totalA)/float64(totalD))
	}
	c.target("discovery: calls / ideal", "<=", 1.2)
	*notes = append(*notes, fmt.Sprintf("api: %d assets × 1 entry, %d activity slots in %d jobs per round (random assets); "+
		"assets mode starts with every asset tracked; one measured round of each mode per run", cfg.APIAssets, cfg.APIActive, cfg.APIJobs))
	return nil
}
