package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// DiscoveryConfig configures discovery mode: each round lists the company's
// jobs since the last cursor (getJobLogs), collects the assets they touched
// (getJobLogDetails) and polls only those assets, so the IPS cost of a round
// grows with activity, not with the size of the catalog.
type DiscoveryConfig struct {
	Jobs        JobSource            // Required.
	Checkpoints DiscoveryCheckpoints // Required.
	// Since is how far back the first round looks. Default 24h.
	Since time.Duration
	// Overlap is how far before the cursor each round looks again, to catch
	// jobs that appear late. Default 15m.
	Overlap time.Duration
	// NumRows is the getJobLogs row limit. A window that returns this many
	// jobs may be truncated and is split in two and asked again. Default 500.
	NumRows int
	// MinWindow is the smallest window that is still split; a window this
	// short that is still full is asked again with a larger numRows.
	// Default 1s.
	MinWindow time.Duration
	// Backfill, when set, makes discovery start with a one-time backfill of
	// every asset of Config.Catalog (that Config.Owns accepts), whole logs,
	// with its progress kept here. Default nil: no backfill.
	Backfill BackfillCheckpoints
	// BackfillParts returns the names of the parts of the catalog this
	// producer backfills now, and BackfillPart the part of an asset:
	// replicas keep the backfill's progress per part (a partition of the
	// state topic), so that a part that moves is resumed by its new owner.
	// Default: one part, "", the whole catalog.
	BackfillParts func() []string
	BackfillPart  func(asset string) string
}

func (c *DiscoveryConfig) setDefaults() {
	if c.Since <= 0 {
		c.Since = 24 * time.Hour
	}
	if c.Overlap <= 0 {
		c.Overlap = 15 * time.Minute
	}
	if c.NumRows <= 0 {
		c.NumRows = 500
	}
	if c.MinWindow <= 0 {
		c.MinWindow = time.Second
	}
}

func (c *DiscoveryConfig) validate() error {
	switch {
	case c.Jobs == nil:
		return errors.New("pipeline config: Discovery.Jobs is required")
	case c.Checkpoints == nil:
		return errors.New("pipeline config: Discovery.Checkpoints is required")
	case c.NumRows < 0:
		return errors.New("pipeline config: Discovery.NumRows must not be negative")
	}
	return nil
}

// DiscoveryCheckpoint is the durable cursor of discovery mode.
//
// Every job that started before Cursor-Overlap, and every job in Done, has
// had its assets fully processed. Running jobs hold the cursor back to
// their start, so they are listed again each round until they end. Done
// only keeps jobs that started inside the overlap, so it stays small.
type DiscoveryCheckpoint struct {
	Cursor time.Time
	// Done maps handles of ended, fully processed jobs to their start date
	// in Unix milliseconds.
	Done map[string]int64
	// Rows maps handles of running jobs to how many of their detail rows
	// (getJobLogDetails, sorted by date) were processed: the next round
	// reads only the rows after these.
	Rows map[string]int
}

// DiscoveryCheckpoints is the durable store of discovery cursors, one per
// company. CommitDiscovery is durable when it returns.
type DiscoveryCheckpoints interface {
	LoadDiscovery(companyHandle string) (DiscoveryCheckpoint, error)
	CommitDiscovery(companyHandle string, cp DiscoveryCheckpoint) error
}

func (p *Poller) discoveryRound(ctx context.Context) (RoundStats, error) {
	d := p.cfg.Discovery
	company := p.cfg.CompanyHandle
	stats := RoundStats{Discovery: true}
	if d.Backfill != nil {
		if err := p.backfill(ctx, &stats); err != nil {
			return stats, err
		}
	}
	cp, err := d.Checkpoints.LoadDiscovery(company)
	if err != nil {
		return stats, fmt.Errorf("load discovery checkpoint of company %q: %w", company, err)
	}
	now := p.cfg.Now().UTC().Truncate(time.Millisecond)
	start := now.Add(-d.Since)
	if !cp.Cursor.IsZero() {
		start = cp.Cursor.Add(-d.Overlap)
	}
	jobs, err := p.listJobs(ctx, start, now, &stats)
	if err != nil {
		return stats, err
	}
	stats.Jobs = len(jobs)

	seen := map[string]bool{}
	var assets []string
	var ended []Job
	rows := map[string]int{}
	oldestRunning := now
	for _, job := range jobs {
		if _, ok := cp.Done[job.JobHandle]; ok {
			continue
		}
		// A running job is read from the row after the last one processed,
		// so a round costs one getJobLogDetails page per running job and a
		// getAssetJobLogs call per asset with new rows, not one per asset
		// the job touched so far. An ended job is read whole: the first
		// time it is seen that is all of it; for a job followed while it
		// ran it is one last pass over every asset it touched, because a
		// row can be visible before its asset's log entry is: the poll its
		// row caused may have come too early, and nothing else would make
		// the producer look at that asset again. That pass makes a job cost
		// at most two calls per asset it touched, whatever its duration.
		from := 0
		if job.Running() {
			stats.JobsRunning++
			if job.StartDate.Before(oldestRunning) {
				oldestRunning = job.StartDate
			}
			from = cp.Rows[job.JobHandle]
		} else {
			ended = append(ended, job)
		}
		var touched []string
		var next int
		err := p.retrySource().Do(ctx, func(ctx context.Context) error {
			if err := p.wait(ctx); err != nil {
				return err
			}
			stats.JobDetailCalls++
			var err error
			touched, next, err = d.Jobs.JobAssetsFrom(ctx, company, job.JobHandle, from)
			return err
		})
		if err != nil {
			return stats, p.incomplete(fmt.Errorf("list assets of job %q: %w", job.JobHandle, err))
		}
		if job.Running() {
			rows[job.JobHandle] = next
		}
		for _, a := range touched {
			if !seen[a] {
				seen[a] = true
				assets = append(assets, a)
			}
		}
	}

	p.addTotal(len(assets))
	st, err := p.assetsRound(ctx, assets)
	stats.Assets += st.Assets
	stats.AssetsFailed += st.AssetsFailed
	stats.Published += st.Published
	stats.AssetCalls += st.AssetCalls
	if err != nil {
		// Nothing of the cursor moves: the next round lists the same jobs
		// and the asset checkpoints skip what was published.
		return stats, err
	}

	next := DiscoveryCheckpoint{Cursor: oldestRunning, Done: map[string]int64{}, Rows: rows}
	keepFrom := next.Cursor.Add(-d.Overlap).UnixMilli()
	for h, ms := range cp.Done {
		if ms >= keepFrom {
			next.Done[h] = ms
		}
	}
	for _, job := range ended {
		if ms := job.StartDate.UnixMilli(); ms >= keepFrom {
			next.Done[job.JobHandle] = ms
		}
	}
	if err := d.Checkpoints.CommitDiscovery(company, next); err != nil {
		p.cfg.Metrics.commitFailed()
		return stats, fmt.Errorf("commit discovery checkpoint of company %q: %w", company, err)
	}
	p.cfg.Metrics.committed(p.cfg.Now())
	return stats, nil
}

// jobLogs makes one getJobLogs call for the jobs started in [start, end],
// at most rows of them, with the rate limit and the retries of every IPS
// call; stats counts the calls.
func (p *Poller) jobLogs(ctx context.Context, start, end time.Time, rows int, stats *RoundStats) ([]Job, error) {
	var jobs []Job
	err := p.retrySource().Do(ctx, func(ctx context.Context) error {
		if err := p.wait(ctx); err != nil {
			return err
		}
		stats.JobLogCalls++
		var err error
		jobs, err = p.cfg.Discovery.Jobs.JobLogs(ctx, p.cfg.CompanyHandle, start, end, rows)
		return err
	})
	return jobs, err
}

// listJobs returns every job that started in [start, end], splitting the
// window while getJobLogs answers with a full page (which may be truncated).
func (p *Poller) listJobs(ctx context.Context, start, end time.Time, stats *RoundStats) ([]Job, error) {
	d := p.cfg.Discovery
	jobs, err := p.jobLogs(ctx, start, end, d.NumRows, stats)
	if err != nil {
		return nil, p.incomplete(fmt.Errorf("list jobs of company %q from %s to %s: %w", p.cfg.CompanyHandle,
			start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano), err))
	}
	if len(jobs) < d.NumRows {
		return jobs, nil
	}
	span := end.Sub(start)
	if span <= d.MinWindow {
		return p.listDenseWindow(ctx, start, end, stats)
	}
	mid := start.Add(span / 2).Truncate(time.Millisecond)
	left, err := p.listJobs(ctx, start, mid, stats)
	if err != nil {
		return nil, err
	}
	right, err := p.listJobs(ctx, mid.Add(time.Millisecond), end, stats)
	if err != nil {
		return nil, err
	}
	all := append(left, right...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].StartDate.Before(all[j].StartDate) })
	return all, nil
}

// maxDenseRows bounds how far listDenseWindow raises numRows.
const maxDenseRows = 1 << 20

// listDenseWindow lists a window that cannot be split further and still
// came back full (a burst of jobs, such as a parallel API client submits):
// it asks again for the same window with numRows raised fourfold until the
// answer is not full. getJobLogs has no paging, so a larger numRows is the
// only way to get the whole window. It gives up only when IPS refuses (or
// past maxDenseRows), naming the window.
func (p *Poller) listDenseWindow(ctx context.Context, start, end time.Time, stats *RoundStats) ([]Job, error) {
	d := p.cfg.Discovery
	window := func() string {
		return fmt.Sprintf("jobs of company %q started from %s to %s", p.cfg.CompanyHandle,
			start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
	}
	for rows := d.NumRows * 4; rows <= maxDenseRows; rows *= 4 {
		p.cfg.Logger.Info("dense window: asking again with a larger row limit", "company", p.cfg.CompanyHandle,
			"from", start, "to", end, "num_rows", rows)
		jobs, err := p.jobLogs(ctx, start, end, rows, stats)
		if err != nil {
			return nil, p.incomplete(fmt.Errorf("list %s with numRows %d (the window cannot be split further): %w", window(), rows, err))
		}
		if len(jobs) < rows {
			return jobs, nil
		}
	}
	return nil, fmt.Errorf("%w: list %s: IPS returned %d jobs or more and never fewer than asked",
		ErrIncomplete, window(), maxDenseRows)
}
