package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sort"
	"sync"
	"time"
)

// HeaderLogDate is the record header holding the entry's logDate in decimal
// Unix milliseconds. Reading a partition back needs it to count an entry
// found there as published without the IPS log at hand.
const HeaderLogDate = "log-date"

// PublishOutcome says what became of one record of a failed Publish.
type PublishOutcome uint8

// The outcomes of a record of a failed Publish.
const (
	// OutcomeUnknown: the record may or may not be on the topic (a timeout,
	// a connection lost after the request went out). It is not sent again
	// before its partition has been read back.
	OutcomeUnknown PublishOutcome = iota
	// OutcomeWritten: the broker acknowledged the record.
	OutcomeWritten
	// OutcomeNotWritten: the record is proven not appended (the leader
	// refused it, no connection was opened); it may be sent again directly.
	OutcomeNotWritten
)

// RecordOutcomes is implemented by errors of Sink.Publish that know, record
// by record, what became of the records: RecordOutcomes returns one outcome
// per record passed to Publish, in the same order. An error that does not
// implement it leaves every record's outcome unknown.
type RecordOutcomes interface {
	RecordOutcomes() []PublishOutcome
}

// PublishedRecord is what reconciliation needs of a record read back from
// the topic: its key, its event-id and log-date headers, and its offset.
type PublishedRecord struct {
	Key     string
	EventID string
	// LogDate is the log-date header in Unix milliseconds; ok is false when
	// the record has none (it was written by an older version).
	LogDate   int64
	HasDate   bool
	Offset    int64
	Partition int32
}

// TopicReader reads back what the topic holds, for reconciliation.
//
// Implementations are safe for concurrent use. Errors are classified by the
// Poller's SinkRetry.Retryable and Fatal, as Publish errors are.
type TopicReader interface {
	// EndOffset returns the partition's high watermark: every record
	// appended to it after the call returns gets this offset or a later one.
	EndOffset(ctx context.Context, partition int32) (int64, error)
	// ReadTail returns the records of the partition from offset from up to
	// its high watermark at the time of the call, which it returns as end.
	// It fails, rather than return less, when records at from or later are
	// gone (retention, a truncated or re-created partition) or cannot be
	// read (authorization).
	ReadTail(ctx context.Context, partition int32, from int64) (records []PublishedRecord, end int64, err error)
}

// Partitioner maps a record key to the partition the sink writes it to.
type Partitioner interface {
	// Partition returns the partition of key (murmur2 in the Kafka sink).
	Partition(key []byte) int32
	// Partitions returns the number of partitions of the topic.
	Partitions() int32
}

// BoundCheckpoints is the durable store of reconciliation bounds: per data
// partition, an offset at or before every record of the partition that was
// written but whose asset checkpoint may not be committed. *Checkpoints
// implements it.
type BoundCheckpoints interface {
	// LoadBound returns the stored bound of a partition; ok is false when
	// there is none.
	LoadBound(company string, partition int32) (offset int64, ok bool, err error)
	// CommitBound stores the bound of a partition, durably when it returns.
	CommitBound(company string, partition int32, offset int64) error
}

// ReconcileConfig turns on exactly-once publishing: records whose write had
// an unknown outcome are not sent again before their partition is read back,
// and a start reads back each partition's uncommitted tail.
//
// The bound of a partition is an offset obtained (EndOffset) before the
// writes it must precede, rather than a time used with offsets-for-times:
// an offset is exact, costs one ListOffsets per partition every
// AdvanceEvery, and does not depend on the clocks of the producer and the
// brokers agreeing.
type ReconcileConfig struct {
	Reader      TopicReader // Required.
	Partitioner Partitioner // Required.
	// Bounds keeps the bounds across restarts. Nil: bounds are kept in
	// memory, so what a crash left published but uncommitted is published
	// again on the next start (the in-process guarantee still holds).
	Bounds BoundCheckpoints
	// Settle is how long to wait after a write of unknown outcome before
	// reading its partition back, so that a request the broker was still
	// handling has been handled. Default 0 (the retry wait alone).
	Settle time.Duration
	// AdvanceEvery is how often, at most, a partition's bound is moved up
	// while writes to it go on. Default 2s.
	AdvanceEvery time.Duration
}

func (c *ReconcileConfig) setDefaults() {
	if c.AdvanceEvery <= 0 {
		c.AdvanceEvery = 2 * time.Second
	}
}

func (c *ReconcileConfig) validate() error {
	switch {
	case c.Reader == nil:
		return errors.New("pipeline config: Reconcile.Reader is required")
	case c.Partitioner == nil:
		return errors.New("pipeline config: Reconcile.Partitioner is required")
	}
	return nil
}

// ReconcileStats summarises one reconciliation of whole partitions.
type ReconcileStats struct {
	Partitions  int           // partitions read back
	RecordsRead int           // records read
	Found       int           // entries found on the topic that their asset's checkpoint did not count yet
	Assets      int           // asset checkpoints updated
	Duration    time.Duration // time taken
}

// bounds tracks, per partition, the writes not yet committed and the bound
// that precedes them all.
//
// A write takes a ticket (begin) before it is sent and gives it back once
// its asset's checkpoint is committed, or once it is known that nothing of it
// is on the topic. The bound moves up lazily: a candidate offset E is read
// with EndOffset, noting the last ticket handed out before E was known;
// every later write lands at E or after (offsets only grow, and a write sent
// after E was known lands at or after the log end, which is at or after the
// high watermark E). Once every ticket up to the noted one is given back,
// E precedes every uncommitted write and becomes the bound. So the cost per
// write is a map insert and delete; per partition, one EndOffset and one
// state commit every AdvanceEvery at most.
type bounds struct {
	cfg     ReconcileConfig
	company string
	now     func() time.Time
	// owns, with replicas, says which partitions this replica writes: the
	// bounds of the others are their owners' to move.
	owns func(partition int32) bool

	mu    sync.Mutex
	parts map[int32]*partitionBound
	// unresolved holds, by asset, the ticket of a write that failed with
	// records possibly on the topic; the asset's next publish reads its
	// partition back first, and the ticket pins the bound meanwhile.
	unresolved map[string]*ticket
}

type partitionBound struct {
	bound     int64
	known     bool
	seq       uint64              // tickets handed out
	active    map[uint64]struct{} // tickets not given back
	candidate int64
	candSeq   uint64
	hasCand   bool
	lastTry   time.Time
	advancing bool
}

type ticket struct {
	partition int32
	seq       uint64
}

func newBounds(cfg ReconcileConfig, company string, now func() time.Time) *bounds {
	return &bounds{cfg: cfg, company: company, now: now, parts: map[int32]*partitionBound{}, unresolved: map[string]*ticket{}}
}

func (b *bounds) part(p int32) *partitionBound {
	pb := b.parts[p]
	if pb == nil {
		pb = &partitionBound{active: map[uint64]struct{}{}}
		b.parts[p] = pb
	}
	return pb
}

// begin hands out a ticket for a write to partition p of asset, or the
// asset's unresolved ticket, in which case reconcileFirst is true.
func (b *bounds) begin(asset string, p int32) (t *ticket, reconcileFirst bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.unresolved[asset]; t != nil {
		delete(b.unresolved, asset)
		if t.partition == p {
			return t, true
		}
		// The partition count changed under the producer: keep pinning the
		// old partition's bound; the next start reads it back.
		b.unresolved[asset+"\x00old"] = t
	}
	pb := b.part(p)
	pb.seq++
	pb.active[pb.seq] = struct{}{}
	return &ticket{partition: p, seq: pb.seq}, false
}

// release gives a ticket back: its write is committed, or nothing of it is
// on the topic.
func (b *bounds) release(t *ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.part(t.partition).active, t.seq)
}

// keep parks the ticket of a failed write whose records may be on the
// topic: the asset's next publish reconciles first.
func (b *bounds) keep(asset string, t *ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unresolved[asset] = t
}

// bound returns the current bound of p.
func (b *bounds) bound(p int32) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pb := b.part(p)
	return pb.bound, pb.known
}

// set records a bound known to precede every uncommitted write of p (at
// start, or after reading p back with no write in flight).
func (b *bounds) set(p int32, offset int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pb := b.part(p)
	if !pb.known || offset > pb.bound {
		pb.bound, pb.known = offset, true
	}
}

// advance moves p's bound up when it can, at most every AdvanceEvery unless
// force. It returns an error only when the new bound could not be stored
// (the state store failed); a failed EndOffset only leaves the bound where
// it is.
func (b *bounds) advance(ctx context.Context, p int32, force bool) error {
	if b.owns != nil && !b.owns(p) {
		return nil
	}
	b.mu.Lock()
	pb := b.part(p)
	now := b.now()
	if pb.advancing || !pb.known || (!force && now.Sub(pb.lastTry) < b.cfg.AdvanceEvery) {
		b.mu.Unlock()
		return nil
	}
	pb.advancing, pb.lastTry = true, now
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		pb.advancing = false
		b.mu.Unlock()
	}()
	for pass := 0; ; pass++ {
		// Commit the candidate once every ticket handed out before it was
		// read is given back.
		b.mu.Lock()
		ready := pb.hasCand && pb.minActive() > pb.candSeq && pb.candidate > pb.bound
		cand := pb.candidate
		if pb.hasCand && pb.minActive() > pb.candSeq && pb.candidate <= pb.bound {
			pb.hasCand = false
		}
		b.mu.Unlock()
		if ready {
			if b.cfg.Bounds != nil {
				if err := b.cfg.Bounds.CommitBound(b.company, p, cand); err != nil {
					return fmt.Errorf("commit reconciliation bound of partition %d: %w", p, err)
				}
			}
			b.mu.Lock()
			pb.bound, pb.hasCand = max(pb.bound, cand), false
			b.mu.Unlock()
		}
		b.mu.Lock()
		has := pb.hasCand
		b.mu.Unlock()
		if has || pass == 1 {
			return nil
		}
		// Read a new candidate; on a forced advance with nothing in flight
		// it is committed by the second pass.
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		end, err := b.cfg.Reader.EndOffset(octx, p)
		cancel()
		if err != nil {
			return nil
		}
		b.mu.Lock()
		pb.candidate, pb.candSeq, pb.hasCand = end, pb.seq, true
		b.mu.Unlock()
	}
}

// minActive returns the oldest ticket not given back, or MaxUint64.
func (pb *partitionBound) minActive() uint64 {
	m := uint64(math.MaxUint64)
	for s := range pb.active {
		m = min(m, s)
	}
	return m
}

// partitionsWithWrites returns the partitions that have a bound.
func (b *bounds) partitions() []int32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int32, 0, len(b.parts))
	for p, pb := range b.parts {
		if pb.known {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// withPublished returns the checkpoint with the given entries, found on the
// topic, counted as published, and how many it did not count before. Unlike
// Advance it does not move the watermark: entries of the same asset that
// are not on the topic (a batch only partly appended) stay unpublished.
func (cp AssetCheckpoint) withPublished(found []AssetJobLog) (AssetCheckpoint, int) {
	next := AssetCheckpoint{Watermark: cp.Watermark, Recent: maps.Clone(cp.Recent), DeadLetters: cp.DeadLetters}
	n := 0
	for i := range found {
		e := &found[i]
		if !cp.Watermark.IsZero() && !e.LogDate.After(cp.Watermark) {
			continue
		}
		if _, ok := next.Recent[e.EventID]; ok {
			continue
		}
		if next.Recent == nil {
			next.Recent = map[string]int64{}
		}
		next.Recent[e.EventID] = e.LogDate.UnixMilli()
		n++
	}
	return next, n
}

// Reconcile reads the given partitions back from their stored bounds up to
// their high watermarks, and counts every entry found there as published in
// its asset's checkpoint (the key is the asset, the event-id and log-date
// headers the entry). A partition without a stored bound is not read: its
// bound is set to its current end. Afterwards each partition's bound is its
// end as read, stored durably.
//
// The Poller calls it for every partition before its first round; a
// replica taking over partitions calls it for those. It must not run while
// this Poller writes to the same partitions. It logs one line and records
// the reconcile metrics.
func (p *Poller) Reconcile(ctx context.Context, partitions []int32) (ReconcileStats, error) {
	if p.bounds == nil {
		return ReconcileStats{}, errors.New("pipeline: Reconcile without Config.Reconcile")
	}
	start := time.Now()
	stats := ReconcileStats{Partitions: len(partitions)}
	reader := p.cfg.Reconcile.Reader
	for _, part := range partitions {
		var end, from int64
		var ok bool
		if s := p.cfg.Reconcile.Bounds; s != nil {
			var err error
			if from, ok, err = s.LoadBound(p.cfg.CompanyHandle, part); err != nil {
				return stats, fmt.Errorf("load reconciliation bound of partition %d: %w", part, err)
			}
		}
		if !ok {
			err := p.retrySink().Do(ctx, func(ctx context.Context) error {
				var err error
				end, err = reader.EndOffset(ctx, part)
				return err
			})
			if err != nil {
				return stats, fmt.Errorf("read the end of partition %d: %w", part, err)
			}
		} else {
			var recs []PublishedRecord
			err := p.retrySink().Do(ctx, func(ctx context.Context) error {
				var err error
				recs, end, err = reader.ReadTail(ctx, part, from)
				return err
			})
			if err != nil {
				return stats, fmt.Errorf("read partition %d back from offset %d: %w", part, from, err)
			}
			stats.RecordsRead += len(recs)
			found, assets, err := p.commitFound(recs)
			if err != nil {
				return stats, err
			}
			stats.Found += found
			stats.Assets += assets
		}
		if s := p.cfg.Reconcile.Bounds; s != nil && (!ok || end != from) {
			if err := s.CommitBound(p.cfg.CompanyHandle, part, end); err != nil {
				return stats, fmt.Errorf("commit reconciliation bound of partition %d: %w", part, err)
			}
		}
		p.bounds.set(part, end)
	}
	stats.Duration = time.Since(start)
	p.cfg.Metrics.reconciled(stats.RecordsRead, stats.Duration)
	p.cfg.Metrics.duplicatesAvoided(stats.Found)
	p.cfg.Logger.Info("topic read back", "partitions", stats.Partitions, "records_read", stats.RecordsRead,
		"entries_found", stats.Found, "assets", stats.Assets, "duration_ms", stats.Duration.Milliseconds())
	return stats, nil
}

// commitFound counts the entries of recs as published in their assets'
// checkpoints. Records without a log-date header are skipped: only an
// older version writes them, and it wrote no bound either.
func (p *Poller) commitFound(recs []PublishedRecord) (found, assets int, err error) {
	byAsset := map[string][]AssetJobLog{}
	var order []string
	for _, r := range recs {
		if !r.HasDate || r.EventID == "" {
			continue
		}
		if _, ok := byAsset[r.Key]; !ok {
			order = append(order, r.Key)
		}
		byAsset[r.Key] = append(byAsset[r.Key], AssetJobLog{EventID: r.EventID, LogDate: time.UnixMilli(r.LogDate).UTC()})
	}
	for _, asset := range order {
		key := AssetKey{CompanyHandle: p.cfg.CompanyHandle, AssetHandle: asset}
		cp, err := p.cfg.Checkpoints.LoadAsset(key)
		if err != nil {
			return found, assets, fmt.Errorf("load checkpoint of asset %q: %w", asset, err)
		}
		next, n := cp.withPublished(byAsset[asset])
		if n == 0 {
			continue
		}
		if err := p.cfg.Checkpoints.CommitAsset(key, next); err != nil {
			return found, assets, fmt.Errorf("commit entries of asset %q found on the topic: %w", asset, err)
		}
		found += n
		assets++
	}
	return found, assets, nil
}

// readBack returns the event ids of asset's records in partition part, from
// its bound up to its high watermark.
func (p *Poller) readBack(ctx context.Context, asset string, part int32) (map[string]bool, error) {
	if err := p.settle(ctx); err != nil {
		return nil, err
	}
	from, _ := p.bounds.bound(part)
	start := time.Now()
	recs, _, err := p.cfg.Reconcile.Reader.ReadTail(ctx, part, from)
	if err != nil {
		return nil, fmt.Errorf("read partition %d back from offset %d: %w", part, from, err)
	}
	p.cfg.Metrics.reconciled(len(recs), time.Since(start))
	ids := map[string]bool{}
	for _, r := range recs {
		if r.Key == asset {
			ids[r.EventID] = true
		}
	}
	return ids, nil
}

// publish sends records (one per entry of fresh, same order) and returns
// once all are on the topic, or with an error.
//
// Without Config.Reconcile a failed call is retried whole, as at least
// once. With it, records acknowledged by an earlier attempt are not sent
// again, records proven not appended are sent again directly, and after an
// attempt of unknown outcome the partition is read back first and the
// records found there are not sent again. On failure the ticket of the write
// is kept when records may be on the topic, so that the asset's next
// attempt reads the partition back first.
func (p *Poller) publish(ctx context.Context, asset string, records []Record) (release func(), err error) {
	release, _, err = p.publishOutcome(ctx, asset, records)
	return release, err
}

// publishOutcome is publish, also saying which records are known to be on
// the topic when it fails (acknowledged, or found by a read-back), so that
// a caller sending the others again one by one skips them.
func (p *Poller) publishOutcome(ctx context.Context, asset string, records []Record) (release func(), onTopic []bool, err error) {
	// The attempts, their read-backs and the waits between them end as
	// soon as the asset is no longer this replica's.
	owned, stop := whileOwned(ctx)
	defer stop()
	if p.bounds == nil {
		err := p.retrySink().Do(owned, func(ctx context.Context) error {
			// Each attempt first checks the claim: a retry after the asset
			// moved to another replica would publish the entries twice.
			if err := stillOwned(ctx, asset, "publishing"); err != nil {
				return err
			}
			start := p.cfg.Now()
			err := p.cfg.Sink.Publish(ctx, records)
			p.cfg.Metrics.publishAttempt(p.cfg.Now().Sub(start), err)
			return err
		})
		return func() {}, make([]bool, len(records)), abandoned(ctx, asset, err)
	}
	part := p.cfg.Reconcile.Partitioner.Partition(records[0].Key)
	t, reconcile := p.bounds.begin(asset, part)
	written := make([]bool, len(records))
	maybeOnTopic, attempted := reconcile, reconcile
	err = p.retrySink().Do(owned, func(ctx context.Context) error {
		if err := stillOwned(ctx, asset, "publishing"); err != nil {
			return err
		}
		if reconcile {
			ids, err := p.readBack(ctx, asset, part)
			if err != nil {
				return err
			}
			reconcile = false
			avoided := 0
			for i := range records {
				if !written[i] && ids[eventIDOf(records[i])] {
					written[i] = true
					avoided++
				}
			}
			p.cfg.Metrics.duplicatesAvoided(avoided)
			if avoided > 0 {
				p.cfg.Logger.Info("entries found on the topic after a write of unknown outcome; not sent again",
					"asset", asset, "partition", part, "entries", avoided)
			}
		}
		// The first attempt sends records as they are; a retry only those
		// not known to be on the topic.
		send, index := records, []int(nil)
		if attempted {
			send = nil
			for i := range records {
				if !written[i] {
					send = append(send, records[i])
					index = append(index, i)
				}
			}
		}
		attempted = true
		if len(send) == 0 {
			return nil
		}
		// Checked again right before the send: the read-back above can
		// block for as long as the broker is away, and meanwhile the
		// partition may have gone to a new owner that has read it back.
		if err := stillOwned(ctx, asset, "publishing"); err != nil {
			return err
		}
		sent := p.cfg.Now()
		err := p.cfg.Sink.Publish(ctx, send)
		p.cfg.Metrics.publishAttempt(p.cfg.Now().Sub(sent), err)
		at := func(j int) int {
			if index == nil {
				return j
			}
			return index[j]
		}
		if err == nil {
			for j := range send {
				written[at(j)] = true
			}
			return nil
		}
		var outcomes []PublishOutcome
		var ro RecordOutcomes
		if errors.As(err, &ro) {
			outcomes = ro.RecordOutcomes()
		}
		unknown := 0
		for j := range send {
			i := at(j)
			o := OutcomeUnknown
			if len(outcomes) == len(send) {
				o = outcomes[j]
			}
			switch o {
			case OutcomeWritten:
				written[i] = true
				maybeOnTopic = true
			case OutcomeUnknown:
				unknown++
			}
		}
		if unknown > 0 {
			reconcile, maybeOnTopic = true, true
			p.cfg.Metrics.publishAmbiguous(unknown)
			p.cfg.Logger.Debug("write of unknown outcome; the partition is read back before sending again",
				"asset", asset, "partition", part, "records", unknown, "err", err)
		}
		return err
	})
	err = abandoned(ctx, asset, err)
	if err != nil {
		if maybeOnTopic {
			p.bounds.keep(asset, t)
		} else {
			p.bounds.release(t)
		}
		return nil, written, err
	}
	return func() {
		p.bounds.release(t)
	}, written, nil
}

func eventIDOf(r Record) string {
	for _, h := range r.Headers {
		if h.Key == HeaderEventID {
			return string(h.Value)
		}
	}
	return ""
}

// start reads every partition back before the first round (once).
func (p *Poller) start(ctx context.Context) error {
	// Replicas read back the partitions they take over, as they take them
	// over (the group calls Reconcile), not every partition.
	if p.bounds == nil || p.started || p.cfg.Ownership != nil {
		return nil
	}
	n := p.cfg.Reconcile.Partitioner.Partitions()
	parts := make([]int32, n)
	for i := range parts {
		parts[i] = int32(i)
	}
	if _, err := p.Reconcile(ctx, parts); err != nil {
		return fmt.Errorf("read the topic back before publishing: %w", err)
	}
	p.started = true
	return nil
}

// roundEnd resolves the writes left of unknown outcome by failed assets (their
// records found on the topic are committed) and moves every partition's bound
// up to its end, so the next start reads only what the next round writes.
func (p *Poller) roundEnd(ctx context.Context) error {
	if p.bounds == nil {
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	p.bounds.mu.Lock()
	pending := maps.Clone(p.bounds.unresolved)
	p.bounds.mu.Unlock()
	settled := false
	handedOver := func(asset string, t *ticket) bool {
		if p.bounds.owns == nil || p.bounds.owns(t.partition) {
			return false
		}
		// The partition's owner now reads it back when it takes it over.
		p.bounds.mu.Lock()
		if p.bounds.unresolved[asset] == t {
			delete(p.bounds.unresolved, asset)
			delete(p.bounds.part(t.partition).active, t.seq)
		}
		p.bounds.mu.Unlock()
		return true
	}
	for asset, t := range pending {
		if handedOver(asset, t) {
			continue
		}
		if !settled {
			// As before any read-back after a write of unknown outcome.
			if err := p.settle(ctx); err != nil {
				return nil
			}
			settled = true
		}
		from, _ := p.bounds.bound(t.partition)
		start := time.Now()
		recs, _, err := p.cfg.Reconcile.Reader.ReadTail(ctx, t.partition, from)
		if err != nil {
			continue // the next round or start tries again
		}
		p.cfg.Metrics.reconciled(len(recs), time.Since(start))
		mine := recs[:0:0]
		for _, r := range recs {
			if r.Key == asset {
				mine = append(mine, r)
			}
		}
		// The settle and the read-back take time: the partition may have
		// moved meanwhile, and its checkpoints are then the new owner's.
		if handedOver(asset, t) {
			continue
		}
		found, _, err := p.commitFound(mine)
		if err != nil {
			if handedOver(asset, t) {
				continue
			}
			return err
		}
		p.cfg.Metrics.duplicatesAvoided(found)
		p.bounds.mu.Lock()
		if p.bounds.unresolved[asset] == t {
			delete(p.bounds.unresolved, asset)
			delete(p.bounds.part(t.partition).active, t.seq)
		}
		p.bounds.mu.Unlock()
	}
	for _, part := range p.bounds.partitions() {
		if err := p.bounds.advance(ctx, part, true); err != nil {
			return err
		}
	}
	return nil
}

// settle waits Reconcile.Settle, so that a produce request the broker had
// queued or was still handling when its write failed is handled before the
// partition is read back.
func (p *Poller) settle(ctx context.Context) error {
	d := p.cfg.Reconcile.Settle
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
