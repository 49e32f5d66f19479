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
// company and part (see DiscoveryConfig.BackfillParts; "" without
// replicas). CommitBackfill is durable when it returns.
type BackfillCheckpoints interface {
	LoadBackfill(companyHandle, part string) (BackfillCheckpoint, error)
	CommitBackfill(companyHandle, part string, cp BackfillCheckpoint) error
}

// The backfill commits its progress after every backfillChunk assets or
// backfillCommitEvery, whichever comes first: a crash redoes at most that
// much (plus the assets in flight), each a getAssetJobLogs call whose
// entries the asset checkpoints skip.
const (
	backfillChunk       = 1000
	backfillCommitEvery = time.Second
)

// backfillPart is the backfill of one part of the catalog during a round.
type backfillPart struct {
	name     string
	cp       BackfillCheckpoint
	assets   []string // the part's assets in the listing, in creation order
	from     int      // assets[:from] were done before this round
	finished []bool   // assets[from+i] done in this round
	prefix   int      // assets[from:from+prefix] are all done
	saved    int      // prefix last committed
}

// backfill runs the backfill to its end, or resumes it, unless it is
// complete. It returns nil once every part this producer owns is complete;
// on an error the progress committed so far stays, and the next round
// resumes from it.
//
// Progress is kept per part: without replicas the whole catalog is one
// part; replicas keep one per partition of the state topic, so that a part
// that moves to another replica is resumed by it. A part's progress is the
// longest prefix of its assets, in the listing's creation order, whose
// whole logs are all published and committed: assets finish out of order
// (Concurrency at once), and one that failed, or that another replica
// claimed, holds its part's prefix back until a later round redoes it.
func (p *Poller) backfill(ctx context.Context, stats *RoundStats) error {
	d := p.cfg.Discovery
	company := p.cfg.CompanyHandle
	names := []string{""}
	if d.BackfillParts != nil {
		names = d.BackfillParts()
	}
	partOf := func(string) string { return "" }
	if d.BackfillPart != nil {
		partOf = d.BackfillPart
	}
	parts := map[string]*backfillPart{}
	incomplete := false
	for _, name := range names {
		cp, err := d.Backfill.LoadBackfill(company, name)
		if err != nil {
			return fmt.Errorf("load backfill progress of company %q: %w", company, err)
		}
		parts[name] = &backfillPart{name: name, cp: cp}
		incomplete = incomplete || !cp.Complete
	}
	if !incomplete {
		return nil
	}
	commit := func(pt *backfillPart) error {
		if err := d.Backfill.CommitBackfill(company, pt.name, pt.cp); err != nil {
			return fmt.Errorf("commit backfill progress of company %q: %w", company, err)
		}
		return nil
	}
	var start time.Time
	for _, name := range names {
		pt := parts[name]
		if !pt.cp.Started.IsZero() {
			continue
		}
		if start.IsZero() {
			var err error
			if start, err = p.backfillStart(ctx, stats); err != nil {
				return fmt.Errorf("backfill: %w", err)
			}
		}
		pt.cp.Started = start
		if err := commit(pt); err != nil {
			return err
		}
	}
	assets, err := p.listCatalog(ctx, stats)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	// partAt[j] is the part of assets[j] when this round backfills it, so
	// that each asset's part is computed once.
	partAt := make([]*backfillPart, len(assets))
	for j, a := range assets {
		if pt := parts[partOf(a)]; pt != nil && !pt.cp.Complete {
			pt.assets = append(pt.assets, a)
			partAt[j] = pt
		}
	}
	total, done := 0, 0
	for _, name := range names {
		pt := parts[name]
		if pt.cp.LastHandle != "" && !pt.cp.Complete {
			if i := slices.Index(pt.assets, pt.cp.LastHandle); i >= 0 {
				pt.from = i + 1
			} else {
				// The last asset done left the listing (deleted or
				// trashed): its position is unknown, so the part starts
				// over; every asset already published costs one call and
				// publishes nothing again.
				p.cfg.Logger.Warn("the last backfilled asset is no longer listed; the backfill goes through its part again",
					"company", company, "part", name, "asset", pt.cp.LastHandle, "done_before", pt.cp.Done)
			}
		}
		pt.finished = make([]bool, len(pt.assets)-pt.from)
		total += len(pt.assets)
		done += pt.from
	}
	// The work of this round, in the listing's order.
	type ref struct {
		pt *backfillPart
		i  int
	}
	var todo []string
	var refs []ref
	next := map[*backfillPart]int{}
	for j, a := range assets {
		pt := partAt[j]
		if pt == nil {
			continue
		}
		k := next[pt]
		next[pt] = k + 1
		if k >= pt.from {
			todo = append(todo, a)
			refs = append(refs, ref{pt, k - pt.from})
		}
	}
	p.cfg.Logger.Info("backfill", "company", company, "assets", total, "done", done, "parts", len(names), "started", parts[names[0]].cp.Started)
	p.cfg.Metrics.backfillProgress(done, total)
	p.addTotal(len(todo))

	lastCommit := p.cfg.Now()
	var commitErr error
	save := func() {
		n := 0
		for _, name := range names {
			pt := parts[name]
			n += pt.from + pt.prefix
			if pt.prefix == pt.saved || commitErr != nil {
				continue
			}
			pt.cp.Done, pt.cp.LastHandle = pt.from+pt.prefix, pt.assets[pt.from+pt.prefix-1]
			if commitErr = commit(pt); commitErr == nil {
				pt.saved = pt.prefix
			}
		}
		lastCommit = p.cfg.Now()
		p.cfg.Metrics.backfillProgress(n, total)
	}
	sinceSave := 0
	st, err := p.assetsRoundTracked(ctx, todo, func(i int, ok bool) {
		if !ok {
			return
		}
		pt := refs[i].pt
		pt.finished[refs[i].i] = true
		for pt.prefix < len(pt.finished) && pt.finished[pt.prefix] {
			pt.prefix++
		}
		sinceSave++
		if sinceSave >= backfillChunk || p.cfg.Now().Sub(lastCommit) >= backfillCommitEvery {
			sinceSave = 0
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
		return fmt.Errorf("backfill (%d of %d assets done): %w", done, total, err)
	}
	var oldest time.Time
	left := 0
	for _, name := range names {
		pt := parts[name]
		if pt.cp.Complete {
			continue
		}
		if pt.prefix < len(pt.finished) {
			left += len(pt.finished) - pt.prefix
			continue
		}
		pt.cp.Complete, pt.cp.Done = true, len(pt.assets)
		if err := commit(pt); err != nil {
			return err
		}
		if oldest.IsZero() || pt.cp.Started.Before(oldest) {
			oldest = pt.cp.Started
		}
	}
	if left > 0 {
		// Assets that moved to another replica during the round: the part
		// is finished by whoever owns it next.
		return fmt.Errorf("%w: backfill: %d assets of parts owned by this producer were not done (handed over)", ErrIncomplete, left)
	}
	// Discovery takes over from the backfill's start. A cursor that is
	// already set is kept: discovery ran before the backfill started, so
	// it is older and covers the backfill's time too.
	cp, err := d.Checkpoints.LoadDiscovery(company)
	if err != nil {
		return fmt.Errorf("load discovery checkpoint of company %q: %w", company, err)
	}
	if cp.Cursor.IsZero() && !oldest.IsZero() {
		cp.Cursor = oldest
		if err := d.Checkpoints.CommitDiscovery(company, cp); err != nil {
			return fmt.Errorf("commit discovery checkpoint of company %q: %w", company, err)
		}
	}
	p.cfg.Logger.Info("backfill complete; following activity from its start", "company", company, "assets", total,
		"started", oldest, "duration", p.cfg.Now().Sub(oldest).Round(time.Millisecond))
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
