package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// BackfillCheckpoint is the durable progress of the one-time backfill that
// starts discovery mode with every asset's whole log.
//
// The backfill works through the catalog in creation order (searchAssets
// sorted by Created ascending) and records how far every asset up to a
// point is published and committed. A restart lists the catalog again
// and resumes after LastHandle, so a crash never starts it over.
type BackfillCheckpoint struct {
	// Started is when the backfill began, or the start of the oldest job
	// still running then, if earlier. Discovery then starts from here
	// (minus its overlap), so an entry written while the backfill runs is
	// found by discovery if the backfill polled its asset before it, even
	// when a job that started before the backfill wrote it.
	Started time.Time
	// Done counts the assets of the listing, in creation order, whose whole
	// log is published and committed; LastHandle is the last of them.
	Done       int
	LastHandle string
	// Complete is set once every asset was done: later runs go straight to
	// discovery and make no searchAssets call.
	Complete bool
}

// BackfillCheckpoints is the durable store of backfill progress, one per
// company. CommitBackfill is durable when it returns.
type BackfillCheckpoints interface {
	LoadBackfill(companyHandle string) (BackfillCheckpoint, error)
	CommitBackfill(companyHandle string, cp BackfillCheckpoint) error
}

// The backfill commits its progress after every backfillChunk assets or
// backfillCommitEvery, whichever comes first: a crash redoes at most that
// much (plus the assets in flight), each a getAssetJobLogs call whose
// entries the asset checkpoints skip.
const (
	backfillChunk       = 1000
	backfillCommitEvery = time.Second
)

// backfill runs the backfill to its end, or resumes it, unless it is
// complete. It returns nil once it is complete; on an error the progress
// committed so far stays, and the next round resumes from it.
func (p *Poller) backfill(ctx context.Context, stats *RoundStats) error {
	d := p.cfg.Discovery
	company := p.cfg.CompanyHandle
	bf, err := d.Backfill.LoadBackfill(company)
	if err != nil {
		return fmt.Errorf("load backfill progress of company %q: %w", company, err)
	}
	if bf.Complete {
		return nil
	}
	commit := func() error {
		if err := d.Backfill.CommitBackfill(company, bf); err != nil {
			return fmt.Errorf("commit backfill progress of company %q: %w", company, err)
		}
		return nil
	}
	if bf.Started.IsZero() {
		start, err := p.backfillStart(ctx, stats)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		bf.Started = start
		if err := commit(); err != nil {
			return err
		}
	}
	assets, err := p.listCatalog(ctx, stats)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	from := 0
	if bf.LastHandle != "" {
		if i := slices.Index(assets, bf.LastHandle); i >= 0 {
			from = i + 1
		} else {
			// The last asset done left the listing (deleted or trashed):
			// its position is unknown, so start over; every asset already
			// published costs one call and publishes nothing again.
			p.cfg.Logger.Warn("the last backfilled asset is no longer listed; the backfill goes through the catalog again",
				"company", company, "asset", bf.LastHandle, "done_before", bf.Done)
		}
	}
	total := len(assets)
	p.cfg.Logger.Info("backfill", "company", company, "assets", total, "done", from, "started", bf.Started)
	p.cfg.Metrics.backfillProgress(from, total)
	p.addTotal(total - from)
	// Progress is the longest prefix of the listing whose assets are all
	// done: assets finish out of order (Concurrency at once), and one that
	// failed holds the prefix back until a later round redoes it. It is
	// committed at most every backfillCommitEvery, and when the
	// backfill's work ends.
	todo := assets[from:]
	finished := make([]bool, len(todo))
	prefix, committed := 0, 0
	lastCommit := p.cfg.Now()
	var commitErr error
	save := func() {
		if prefix == committed || commitErr != nil {
			return
		}
		bf.Done, bf.LastHandle = from+prefix, todo[prefix-1]
		if commitErr = commit(); commitErr == nil {
			committed = prefix
			lastCommit = p.cfg.Now()
			p.cfg.Metrics.backfillProgress(from+prefix, total)
		}
	}
	st, err := p.assetsRoundTracked(ctx, todo, func(i int, ok bool) {
		if !ok {
			return
		}
		finished[i] = true
		for prefix < len(todo) && finished[prefix] {
			prefix++
		}
		if prefix-committed >= backfillChunk || p.cfg.Now().Sub(lastCommit) >= backfillCommitEvery {
			save()
		}
	})
	save()
	stats.Assets += st.Assets
	stats.AssetsFailed += st.AssetsFailed
	stats.Published += st.Published
	stats.AssetCalls += st.AssetCalls
	if commitErr != nil {
		return commitErr
	}
	if err != nil {
		return fmt.Errorf("backfill (%d of %d assets done): %w", from+prefix, total, err)
	}
	bf.Complete = true
	bf.Done = total
	if err := commit(); err != nil {
		return err
	}
	// Discovery takes over from the backfill's start. A cursor that is
	// already set (discovery ran before) is kept: it is further ahead.
	cp, err := d.Checkpoints.LoadDiscovery(company)
	if err != nil {
		return fmt.Errorf("load discovery checkpoint of company %q: %w", company, err)
	}
	if cp.Cursor.IsZero() {
		cp.Cursor = bf.Started
		if err := d.Checkpoints.CommitDiscovery(company, cp); err != nil {
			return fmt.Errorf("commit discovery checkpoint of company %q: %w", company, err)
		}
	}
	p.cfg.Logger.Info("backfill complete; following activity from its start", "company", company, "assets", total,
		"started", bf.Started, "duration", p.cfg.Now().Sub(bf.Started).Round(time.Millisecond))
	return nil
}

// backfillStart returns now, or the start of the oldest job running now
// (among those that started within Discovery.Since), if earlier: discovery
// lists jobs by start date, so one that started before the backfill and
// goes on writing while it runs would otherwise never be listed.
func (p *Poller) backfillStart(ctx context.Context, stats *RoundStats) (time.Time, error) {
	now := p.cfg.Now().UTC().Truncate(time.Millisecond)
	jobs, err := p.listJobs(ctx, now.Add(-p.cfg.Discovery.Since), now, stats)
	if err != nil {
		return time.Time{}, err
	}
	start := now
	for _, j := range jobs {
		if j.Running() && j.StartDate.Before(start) {
			start = j.StartDate
		}
	}
	return start, nil
}

// addTotal tells Config.OnTotal that n more assets are to be worked on.
func (p *Poller) addTotal(n int) {
	if p.cfg.OnTotal == nil {
		return
	}
	p.announced += n
	p.cfg.OnTotal(p.announced)
}

var errBackfillNeedsCatalog = errors.New("pipeline config: Catalog is required with Discovery.Backfill")
