package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Header names the Poller sets on every record.
const (
	HeaderEventID     = "event-id"
	HeaderContentType = "content-type"
)

// DefaultFutureTolerance is the default of Config.FutureTolerance: more than
// the clock skew of healthy hosts, far less than a time-zone mistake.
const DefaultFutureTolerance = 5 * time.Minute

// Config configures a Poller. Zero values take the documented defaults.
type Config struct {
	// CompanyHandle is the IPS company whose assets are polled. Required.
	CompanyHandle string
	// Assets are the asset handles polled each round in assets mode. Either
	// Assets or Discovery is required.
	Assets []string
	// Discovery, when set, finds each round's assets from the company's
	// recent jobs instead of polling a fixed list.
	Discovery *DiscoveryConfig
	// AllAssets polls every asset Catalog lists (that Owns accepts). The
	// list is made at the start of a round when CatalogRefresh has passed
	// since the last one. Assets, AllAssets and Discovery are exclusive.
	AllAssets bool
	// Catalog lists the company's assets; required by AllAssets and by
	// Discovery.Backfill.
	Catalog CatalogSource
	// CatalogRefresh is how long a catalog listing is reused by AllAssets.
	// Default 0: a new listing every round.
	CatalogRefresh time.Duration
	// CatalogPageSize is the page size a listing asks for. Default
	// DefaultCatalogPageSize.
	CatalogPageSize int
	// Owns reports whether this producer is the one that polls an asset of
	// the catalog (AllAssets and the backfill), so that replicas can share
	// it. Default: every asset.
	Owns func(asset string) bool

	Source      Source           // Required.
	Encoder     Encoder          // Required.
	Sink        Sink             // Required.
	Checkpoints AssetCheckpoints // Required.
	// Reconcile, when set, makes publishing exactly once (see
	// ReconcileConfig). Default: at least once.
	Reconcile *ReconcileConfig

	// DeadLetters, when set, receives a JSON DeadLetter record for each
	// entry that cannot be published: a malformed entry the Source returned
	// as a BadEntry, or one whose record the Sink's topic refuses as too
	// large. Each is written once (its id is kept in the asset's
	// checkpoint), after the asset's good entries and before the checkpoint
	// is committed. Default: none; each such entry is logged once at error
	// level instead. Either way it is counted and never holds back the
	// asset's other entries.
	DeadLetters Sink

	// Concurrency is how many IPS fetches are in flight at once; as many
	// assets again may be publishing and committing meanwhile. Default 8.
	Concurrency int
	// RequestRate caps IPS calls per second across all workers. Default 0: no cap.
	RequestRate float64
	// PollInterval is the pause between the starts of two rounds in Run. Default 1m.
	PollInterval time.Duration
	// LateWindow is how far before an asset's newest published entry a
	// newly appearing entry is still recognised as new. Entries that appear
	// later than that, dated older, are taken as published. Default 1h.
	LateWindow time.Duration
	// FutureTolerance is how far ahead of the producer's clock an entry may
	// be dated before it is reported: one warning per entry (with the
	// asset, its logDate and the time it was observed) and
	// assetjoblog_future_dated_entries_total. Such an entry is still
	// published once, and never moves the checkpoint past the present.
	// Default DefaultFutureTolerance.
	FutureTolerance time.Duration
	// ShutdownTimeout bounds how long in-flight assets may take to finish
	// once the context is cancelled; work still running then is abandoned
	// uncommitted and is polled again on the next start. Default 30s.
	ShutdownTimeout time.Duration

	// SourceRetry governs IPS calls (its MaxElapsed default: 5m). SinkRetry
	// governs publishing what the Kafka writer gave up on (MaxElapsed
	// default here: -1, keep trying until shutdown, since a broker outage
	// must not drop entries).
	SourceRetry RetryPolicy
	SinkRetry   RetryPolicy
	// Fatal reports whether an error of the source or the sink must stop
	// the producer (a rejected credential, a missing topic) rather than
	// fail only the asset it occurred on, which is then polled again next
	// round. Failures of the checkpoint store are always fatal. Default:
	// no source or sink error is fatal.
	Fatal func(err error) bool

	// Ownership, when set, limits the Poller to the assets this replica
	// owns among the replicas sharing the company. Default: every asset.
	Ownership Ownership

	// Logger receives round summaries and failures. Default: discard.
	Logger *slog.Logger
	// Metrics records Prometheus metrics. Default: none.
	Metrics *Metrics
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnAsset, when set, is called once each asset's work ends, with the
	// number of entries published and committed (0 when it failed), for
	// progress display.
	OnAsset func(published int)
	// OnTotal, when set, is called when the number of assets a round or a
	// backfill works on becomes known from a catalog listing (totalRows,
	// less what is not owned), for progress display.
	OnTotal func(total int)
}

func (c *Config) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.LateWindow <= 0 {
		c.LateWindow = time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.FutureTolerance <= 0 {
		c.FutureTolerance = DefaultFutureTolerance
	}
	if c.SinkRetry.MaxElapsed == 0 {
		c.SinkRetry.MaxElapsed = -1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CatalogPageSize <= 0 {
		c.CatalogPageSize = DefaultCatalogPageSize
	}
	if c.Owns == nil {
		c.Owns = func(string) bool { return true }
	}
	if c.Discovery != nil {
		c.Discovery.setDefaults()
	}
	if c.Reconcile != nil {
		c.Reconcile.setDefaults()
	}
}

// Validate reports the first missing or invalid field.
func (c *Config) Validate() error {
	switch {
	case c.CompanyHandle == "":
		return errors.New("pipeline config: CompanyHandle is required")
	case len(c.Assets) == 0 && c.Discovery == nil && !c.AllAssets:
		return errors.New("pipeline config: Assets, AllAssets or Discovery is required")
	case (len(c.Assets) > 0 && c.Discovery != nil) || (len(c.Assets) > 0 && c.AllAssets) || (c.AllAssets && c.Discovery != nil):
		return errors.New("pipeline config: Assets, AllAssets and Discovery are exclusive")
	case c.AllAssets && c.Catalog == nil:
		return errors.New("pipeline config: Catalog is required with AllAssets")
	case c.CatalogRefresh < 0:
		return errors.New("pipeline config: CatalogRefresh must not be negative")
	case c.Source == nil:
		return errors.New("pipeline config: Source is required")
	case c.Encoder == nil:
		return errors.New("pipeline config: Encoder is required")
	case c.Sink == nil:
		return errors.New("pipeline config: Sink is required")
	case c.Checkpoints == nil:
		return errors.New("pipeline config: Checkpoints is required")
	case c.RequestRate < 0:
		return errors.New("pipeline config: RequestRate must not be negative")
	}
	for i, a := range c.Assets {
		if a == "" {
			return fmt.Errorf("pipeline config: Assets[%d] is empty", i)
		}
	}
	if c.Reconcile != nil {
		if err := c.Reconcile.validate(); err != nil {
			return err
		}
	}
	if c.Discovery != nil {
		if c.Discovery.Backfill != nil && c.Catalog == nil {
			return errBackfillNeedsCatalog
		}
		return c.Discovery.validate()
	}
	return nil
}

// Poller polls IPS for the job logs of a company's assets, publishes every
// entry it has not published before and checkpoints what it published.
//
// For each asset the order is: fetch the whole log, keep the entries the
// checkpoint does not count as published, publish them in logDate order,
// wait for the broker's acknowledgement, then commit the checkpoint. A crash
// between publish and commit re-publishes the same entries with the same
// event ids on the next start; an entry is never committed unpublished.
type Poller struct {
	cfg     Config
	limiter *rate.Limiter
	// fetching holds a token per IPS fetch in flight (Concurrency of them).
	fetching chan struct{}
	ready    atomic.Bool
	// catalog is the last listing of AllAssets (owned assets only), made
	// at catalogAt. Rounds do not overlap, so they need no lock.
	catalog   []string
	catalogAt time.Time
	// announced is the total told to OnTotal so far.
	announced int
	// bounds tracks the writes not yet committed, with Config.Reconcile.
	bounds *bounds
	// started is set once the topic has been read back at start.
	started bool
}

// NewPoller validates cfg, applies its defaults and returns a Poller.
func NewPoller(cfg Config) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Poller{cfg: cfg, fetching: make(chan struct{}, cfg.Concurrency)}
	cfg.Metrics.setPollInterval(cfg.PollInterval)
	if cfg.Reconcile != nil {
		p.bounds = newBounds(*cfg.Reconcile, cfg.CompanyHandle, cfg.Now)
		if cfg.Ownership != nil {
			p.bounds.owns = cfg.Ownership.OwnsPartition
		}
	}
	if cfg.RequestRate > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(cfg.RequestRate), 1)
	}
	return p, nil
}

// RoundStats summarises one poll round.
type RoundStats struct {
	Assets       int // assets worked on
	AssetsFailed int // assets that failed with a transient error after all retries
	Published    int // entries acknowledged by the broker
	AssetCalls   int // getAssetJobLogs calls, retries included
	CatalogCalls int // searchAssets calls, retries included
	// Discovery rounds only.
	Discovery      bool
	JobLogCalls    int // getJobLogs calls, window splits and retries included
	JobDetailCalls int // job detail lookups (each pages getJobLogDetails), retries included
	Jobs           int // jobs listed in the window
	JobsRunning    int // jobs without an end date
	Duration       time.Duration
}

// ErrIncomplete is returned (wrapped) by RunOnce when some assets failed
// with transient errors after all retries; what they did not publish is
// published by a later round.
var ErrIncomplete = errors.New("round incomplete")

// Ready reports whether the poller has completed a round without a
// permanent error (for a readiness probe).
func (p *Poller) Ready() bool { return p.ready.Load() }

// Run polls until ctx is cancelled, one round every PollInterval, and
// returns nil then. It returns early only on a permanent error (a rejected
// credential, a missing topic, a corrupt checkpoint): transient failures are
// logged and retried next round. On cancellation the round in flight stops
// taking new assets; assets already started finish within ShutdownTimeout.
func (p *Poller) Run(ctx context.Context) error {
	ticker := time.NewTicker(p.cfg.PollInterval)
	defer ticker.Stop()
	for {
		_, err := p.RunOnce(ctx)
		if err != nil && !errors.Is(err, ErrIncomplete) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// RunOnce runs one round: every asset (or every discovered asset) is
// fetched, deduplicated, published and committed. It returns an error
// wrapping ErrIncomplete when some assets failed transiently, or the first
// permanent error, which stops the round.
func (p *Poller) RunOnce(ctx context.Context) (RoundStats, error) {
	if err := p.start(ctx); err != nil {
		return RoundStats{}, err
	}
	start := p.cfg.Now()
	var stats RoundStats
	var err error
	switch {
	case p.cfg.Discovery != nil:
		stats, err = p.discoveryRound(ctx)
	case p.cfg.AllAssets:
		stats, err = p.allAssetsRound(ctx)
	default:
		stats, err = p.assetsRound(ctx, p.cfg.Assets)
	}
	if rerr := p.roundEnd(ctx); rerr != nil && err == nil {
		err = rerr
	}
	end := p.cfg.Now()
	stats.Duration = end.Sub(start)
	p.cfg.Metrics.round(stats, roundOutcome(ctx, err), end)
	log := p.cfg.Logger.With("assets", stats.Assets, "published", stats.Published,
		"failed", stats.AssetsFailed, "ips_calls", stats.AssetCalls+stats.JobLogCalls+stats.JobDetailCalls+stats.CatalogCalls,
		"duration_ms", stats.Duration.Milliseconds(), "asset_calls", stats.AssetCalls)
	if stats.CatalogCalls > 0 {
		log = log.With("search_calls", stats.CatalogCalls)
	}
	if stats.Discovery {
		log = log.With("jobs", stats.Jobs, "jobs_running", stats.JobsRunning)
	}
	switch {
	case err == nil:
		p.ready.Store(true)
		log.Info("round done")
	case errors.Is(err, ErrIncomplete):
		p.ready.Store(true)
		log.Warn("round incomplete", "err", err)
	case ctx.Err() != nil:
		log.Info("round interrupted by shutdown")
	}
	return stats, err
}

// roundOutcome names how a round ended, for metrics.
func roundOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return roundOK
	case errors.Is(err, ErrIncomplete):
		return roundIncomplete
	case ctx.Err() != nil:
		return roundInterrupted
	}
	return roundFailed
}

// workContext returns a context for in-flight work that outlives ctx by at
// most ShutdownTimeout, so a shutdown lets started assets finish.
func (p *Poller) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancel)
		context.AfterFunc(work, func() { t.Stop() })
	})
	return work, func() { stop(); cancel() }
}

// assetsRound works on the given assets with bounded concurrency.
func (p *Poller) assetsRound(ctx context.Context, assets []string) (RoundStats, error) {
	return p.assetsRoundTracked(ctx, assets, nil)
}

// assetsRoundTracked is assetsRound that also calls done, serialised, as
// each asset's work ends: with its index in assets and whether its entries
// were all published and committed.
func (p *Poller) assetsRoundTracked(ctx context.Context, assets []string, done func(i int, ok bool)) (RoundStats, error) {
	stats := RoundStats{}
	work, cancel := p.workContext(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(work)
	// Concurrency bounds the fetches from IPS; as many assets again may be
	// publishing and committing meanwhile, so that the broker's and the
	// disk's latency overlap the next fetches instead of adding to them.
	g.SetLimit(2 * p.cfg.Concurrency)
	var mu sync.Mutex
	var failed []error
	for i, asset := range assets {
		if ctx.Err() != nil || gctx.Err() != nil {
			break
		}
		actx, release, ok := p.claim(gctx, asset)
		if !ok {
			continue // another replica's
		}
		stats.Assets++
		g.Go(func() error {
			defer release()
			res, err := p.processAsset(actx, asset)
			if err != nil {
				p.progress(0)
			} else {
				p.progress(res.published)
			}
			mu.Lock()
			defer mu.Unlock()
			stats.AssetCalls += res.calls
			stats.Published += res.published
			if done != nil {
				done(i, err == nil)
			}
			if err == nil {
				return nil
			}
			if errors.Is(err, ErrNotOwner) {
				p.cfg.Logger.Info("asset handed over to another replica", "asset", asset, "err", err)
				return nil
			}
			if !res.transient {
				return err // stops the round, and the producer
			}
			// A failure during shutdown is the shutdown's doing; either way
			// the other assets in flight go on.
			if ctx.Err() == nil {
				stats.AssetsFailed++
				failed = append(failed, err)
				p.cfg.Logger.Warn("asset failed, retried next round", "asset", asset, "err", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return stats, err
	}
	if ctx.Err() != nil {
		return stats, ctx.Err()
	}
	if len(failed) > 0 {
		return stats, fmt.Errorf("%w: %d of %d assets failed: %w", ErrIncomplete, len(failed), stats.Assets, failed[0])
	}
	return stats, nil
}

type assetResult struct {
	calls     int
	published int
	transient bool // the error is transient: retried next round
}

// processAsset fetches, deduplicates, publishes and commits one asset.
func (p *Poller) processAsset(ctx context.Context, asset string) (res assetResult, err error) {
	key := AssetKey{CompanyHandle: p.cfg.CompanyHandle, AssetHandle: asset}
	log, bad, err := p.fetch(ctx, key, &res)
	if err != nil {
		res.transient = !p.fatal(err)
		return res, fmt.Errorf("fetch job log of asset %q: %w", asset, err)
	}
	// An asset lost meanwhile (its claim waited for a free slot, or the
	// fetch was long) may already have left this replica's state: the
	// partition that holds its checkpoint is dropped once the asset moves.
	if err := stillOwned(ctx, asset, "loading its checkpoint"); err != nil {
		return res, err
	}
	cp, err := p.cfg.Checkpoints.LoadAsset(key)
	if err != nil {
		if lost := stillOwned(ctx, asset, "loading its checkpoint"); lost != nil {
			return res, fmt.Errorf("%w (%v)", lost, err)
		}
		return res, fmt.Errorf("load checkpoint of asset %q: %w", asset, err)
	}
	recent := cp.AfterWatermark(log)
	AssignEventIDs(recent)
	fresh := cp.Unpublished(recent)
	newBad := cp.newBadEntries(bad)
	if len(fresh) == 0 && len(newBad) == 0 {
		return res, nil
	}
	observed := p.cfg.Now().UTC().Truncate(time.Millisecond)
	var dead []DeadLetter
	for _, b := range newBad {
		dead = append(dead, p.malformedLetter(asset, b, observed))
	}
	records := make([]Record, 0, len(fresh))
	entries := make([]*AssetJobLog, 0, len(fresh)) // the entry of each record
	contentType := []byte(p.cfg.Encoder.ContentType())
	// One key, one slab of headers and one of log dates for the asset's
	// records rather than three allocations per record.
	recordKey := []byte(asset)
	headers := make([]Header, 3*len(fresh))
	dates := make([]byte, 0, 14*len(fresh))
	for i := range fresh {
		fresh[i].ObservedAt = observed
		p.checkFuture(asset, &fresh[i])
		value, err := p.cfg.Encoder.Encode(nil, &fresh[i])
		if err != nil {
			res.transient = true
			return res, fmt.Errorf("encode entry %s of asset %q: %w", fresh[i].EventID, asset, err)
		}
		at := len(dates)
		dates = strconv.AppendInt(dates, fresh[i].LogDate.UnixMilli(), 10)
		h := headers[3*i : 3*i+3 : 3*i+3]
		h[0] = Header{Key: HeaderEventID, Value: []byte(fresh[i].EventID)}
		h[1] = Header{Key: HeaderContentType, Value: contentType}
		h[2] = Header{Key: HeaderLogDate, Value: dates[at:len(dates):len(dates)]}
		r := Record{Key: recordKey, Value: value, Headers: h}
		if err := p.checkRecord(r); err != nil {
			dead = append(dead, p.tooLargeLetter(asset, &fresh[i], r, err))
			continue
		}
		records = append(records, r)
		entries = append(entries, &fresh[i])
	}
	release, tooLarge, err := p.publishEntries(ctx, asset, records)
	if err != nil {
		res.transient = !p.fatal(err)
		return res, fmt.Errorf("publish %d entries of asset %q: %w", len(records), asset, err)
	}
	for _, i := range tooLarge {
		dead = append(dead, p.tooLargeLetter(asset, entries[i], records[i],
			fmt.Errorf("the broker refused the record of %d bytes: %w", len(records[i].Value), ErrRecordTooLarge)))
	}
	published := entries
	if len(tooLarge) > 0 {
		published = make([]*AssetJobLog, 0, len(entries)-len(tooLarge))
		for i, e := range entries {
			if !slices.Contains(tooLarge, i) {
				published = append(published, e)
			}
		}
	}
	res.published = len(published)
	p.cfg.Metrics.acknowledged(published, p.cfg.Now())
	if err := stillOwned(ctx, asset, "committing"); err != nil {
		// The partition's next owner reads these records back (from the
		// bound this write kept in place) when it takes the partition over.
		release()
		return res, err
	}
	var markErr error
	mark := func(marks map[string]int64) error {
		m := cp
		m.DeadLetters = maps.Clone(cp.DeadLetters)
		if m.DeadLetters == nil {
			m.DeadLetters = make(map[string]int64, len(marks))
		}
		maps.Copy(m.DeadLetters, marks)
		if markErr = p.cfg.Checkpoints.CommitAsset(key, m); markErr != nil {
			p.cfg.Metrics.commitFailed()
		}
		return markErr
	}
	if err := p.writeDeadLetters(ctx, asset, cp, dead, mark); err != nil {
		res.transient = markErr == nil && !p.fatal(err)
		return res, fmt.Errorf("asset %q, after publishing %d entries: %w", asset, len(published), err)
	}
	next := cp.Advance(fresh, p.cfg.LateWindow, observed)
	next.DeadLetters = cp.deadLettered(bad, observed)
	if err := p.cfg.Checkpoints.CommitAsset(key, next); err != nil {
		p.cfg.Metrics.commitFailed()
		return res, fmt.Errorf("after publishing %d entries: %w", len(published), err)
	}
	release()
	p.cfg.Metrics.committed(p.cfg.Now())
	if p.bounds != nil && len(records) > 0 {
		if err := p.bounds.advance(ctx, p.cfg.Reconcile.Partitioner.Partition(records[0].Key), false); err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkFuture reports an entry dated more than FutureTolerance ahead of
// the time it was observed. Since an entry is published once, so is the
// warning (again only if a crash makes it published again).
func (p *Poller) checkFuture(asset string, e *AssetJobLog) {
	if e.LogDate.Sub(e.ObservedAt) <= p.cfg.FutureTolerance {
		return
	}
	p.cfg.Metrics.futureDatedEntry()
	p.cfg.Logger.Warn("entry dated in the future: published, but the checkpoint keeps it by id until the clock passes its date",
		"asset", asset, "event_id", e.EventID, "log_date", e.LogDate, "observed_at", e.ObservedAt,
		"ahead", e.LogDate.Sub(e.ObservedAt).Round(time.Second).String())
}

// fetch reads the asset's whole log, holding one of the Concurrency fetch
// slots (retries and their waits included).
func (p *Poller) fetch(ctx context.Context, key AssetKey, res *assetResult) ([]AssetJobLog, []BadEntry, error) {
	select {
	case p.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	defer func() { <-p.fetching }()
	var (
		log []AssetJobLog
		bad []BadEntry
	)
	err := p.retrySource().Do(ctx, func(ctx context.Context) error {
		if err := p.wait(ctx); err != nil {
			return err
		}
		res.calls++
		var err error
		log, bad, err = p.cfg.Source.AssetJobLogs(ctx, key.CompanyHandle, key.AssetHandle)
		return err
	})
	return log, bad, err
}

// progress reports the end of one asset's work to Config.OnAsset.
func (p *Poller) progress(n int) {
	if p.cfg.OnAsset != nil {
		p.cfg.OnAsset(n)
	}
}

// fatal reports whether a source or sink error must stop the producer.
func (p *Poller) fatal(err error) bool {
	return p.cfg.Fatal != nil && p.cfg.Fatal(err)
}

// incomplete returns a source or sink error wrapped as ErrIncomplete, so
// that a later round does what it kept this one from doing, or as it is
// when it must stop the producer.
func (p *Poller) incomplete(err error) error {
	if p.fatal(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrIncomplete, err)
}

func (p *Poller) wait(ctx context.Context) error {
	if p.limiter == nil {
		return nil
	}
	return p.limiter.Wait(ctx)
}

func (p *Poller) retrySource() RetryPolicy {
	r := p.cfg.SourceRetry
	r.OnRetry = p.onRetry("ips", r.OnRetry)
	return r
}

func (p *Poller) retrySink() RetryPolicy {
	r := p.cfg.SinkRetry
	r.OnRetry = p.onRetry("kafka", r.OnRetry)
	return r
}

func (p *Poller) onRetry(target string, next func(error, time.Duration)) func(error, time.Duration) {
	return func(err error, wait time.Duration) {
		p.cfg.Metrics.retry(target)
		p.cfg.Logger.Debug("retrying", "target", target, "wait", wait, "err", err)
		if next != nil {
			next(err, wait)
		}
	}
}
