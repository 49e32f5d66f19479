package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// fakeOwnership owns the assets in owned; a claim stays valid until lose
// is called for its asset.
type fakeOwnership struct {
	owned map[string]bool

	mu       sync.Mutex
	lost     map[string]bool
	claims   int
	released int
}

func (o *fakeOwnership) Claim(asset string) (pipeline.Claim, bool) {
	if !o.owned[asset] {
		return nil, false
	}
	o.mu.Lock()
	o.claims++
	o.mu.Unlock()
	return &fakeClaim{o: o, asset: asset}, true
}

func (o *fakeOwnership) OwnsPartition(int32) bool { return true }

func (o *fakeOwnership) lose(asset string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lost == nil {
		o.lost = map[string]bool{}
	}
	o.lost[asset] = true
}

type fakeClaim struct {
	o     *fakeOwnership
	asset string
	done  atomic.Bool
}

func (c *fakeClaim) Valid() bool {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	return !c.o.lost[c.asset]
}

func (c *fakeClaim) Release() {
	if !c.done.Swap(true) {
		c.o.mu.Lock()
		c.o.released++
		c.o.mu.Unlock()
	}
}

func ownershipPoller(t *testing.T, own pipeline.Ownership, source pipeline.Source, sink pipeline.Sink, cps *pipelinetest.Checkpoints) *pipeline.Poller {
	t.Helper()
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|1",
		Assets:        []string{"a|1", "a|2", "a|3", "a|4"},
		Source:        source, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
		Ownership: own,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPollerPollsOnlyOwnedAssets(t *testing.T) {
	own := &fakeOwnership{owned: map[string]bool{"a|2": true, "a|4": true}}
	var mu sync.Mutex
	var polled []string
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		mu.Lock()
		polled = append(polled, asset)
		mu.Unlock()
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	sink := &pipelinetest.Sink{}
	p := ownershipPoller(t, own, source, sink, pipelinetest.NewCheckpoints())
	stats, err := p.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(polled)
	if want := []string{"a|2", "a|4"}; !slices.Equal(polled, want) {
		t.Errorf("polled %v, want only the owned %v", polled, want)
	}
	if stats.Assets != 2 || stats.Published != 2 {
		t.Errorf("stats: %d assets, %d published; want 2 and 2", stats.Assets, stats.Published)
	}
	if own.claims != 2 || own.released != 2 {
		t.Errorf("claims %d, released %d; want each claim released", own.claims, own.released)
	}
}

// TestPollerStopsForALostAsset: an asset lost after the fetch is neither
// published nor committed; one lost after publishing is not committed;
// neither fails the round.
func TestPollerStopsForALostAsset(t *testing.T) {
	for _, tc := range []struct {
		name          string
		loseAt        string // "fetch" or "publish"
		wantPublished int
	}{
		{"lost during the fetch", "fetch", 0},
		{"lost during the publish", "publish", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own := &fakeOwnership{owned: map[string]bool{"a|1": true}}
			source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
				if tc.loseAt == "fetch" {
					own.lose(asset)
				}
				return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
			})
			sink := &pipelinetest.Sink{Fail: func(records []pipeline.Record) error {
				if tc.loseAt == "publish" {
					own.lose(string(records[0].Key))
				}
				return nil
			}}
			cps := pipelinetest.NewCheckpoints()
			p := ownershipPoller(t, own, source, sink, cps)
			if _, err := p.RunOnce(t.Context()); err != nil {
				t.Fatalf("got %v, want the round to pass: the asset is another replica's now", err)
			}
			if got := len(sink.Records()); got != tc.wantPublished {
				t.Errorf("published %d records, want %d", got, tc.wantPublished)
			}
			cp, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|1", AssetHandle: "a|1"})
			if err != nil {
				t.Fatal(err)
			}
			if !cp.Watermark.IsZero() || len(cp.Recent) > 0 {
				t.Errorf("committed %+v for an asset no longer owned", cp)
			}
			if own.released != own.claims {
				t.Errorf("claims %d, released %d", own.claims, own.released)
			}
		})
	}
}

// TestPollerRetriesNoPublishOfALostAsset: a publish retried after the asset
// was lost is not sent again.
func TestPollerRetriesNoPublishOfALostAsset(t *testing.T) {
	own := &fakeOwnership{owned: map[string]bool{"a|1": true}}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	var attempts atomic.Int32
	sink := &pipelinetest.Sink{Fail: func(records []pipeline.Record) error {
		attempts.Add(1)
		own.lose("a|1")
		return context.DeadlineExceeded
	}}
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|1", Assets: []string{"a|1"},
		Source: source, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: pipelinetest.NewCheckpoints(),
		Ownership: own,
		SinkRetry: pipeline.RetryPolicy{Retryable: func(error) bool { return true }, MaxElapsed: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RunOnce(t.Context()); err != nil {
		t.Fatalf("got %v, want the round to pass", err)
	}
	if got := attempts.Load(); got != 1 {
		t.Errorf("publish attempts: got %d, want 1 (no retry once the asset is lost)", got)
	}
}

// losingReader is a topic whose read-back takes long enough for the asset
// to move to another replica: lose runs during each ReadTail.
type losingReader struct {
	*pipelinetest.Topic
	lose func()
}

func (r losingReader) ReadTail(ctx context.Context, partition int32, from int64) ([]pipeline.PublishedRecord, int64, error) {
	r.lose()
	return r.Topic.ReadTail(ctx, partition, from)
}

// TestPollerSendsNothingForAnAssetLostDuringTheReadBack: after a write of
// unknown outcome (the broker went away) the partition is read back before
// the entries are sent again; when the asset moves to another replica
// while that read-back waits for the broker, nothing is sent again: the
// new owner may already have read the partition back.
func TestPollerSendsNothingForAnAssetLostDuringTheReadBack(t *testing.T) {
	own := &fakeOwnership{owned: map[string]bool{"a|1": true}}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	topic := pipelinetest.NewTopic(3)
	topic.Fault = func(call int, _ []pipeline.Record) (int, error) {
		if call == 0 {
			return 0, retryableErr{} // not appended, but the producer cannot know
		}
		return -1, nil
	}
	cps := pipelinetest.NewCheckpoints()
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|1", Assets: []string{"a|1"},
		Source: source, Encoder: pipelinetest.JSONEncoder{}, Sink: topic, Checkpoints: cps,
		Ownership: own, SinkRetry: policy(),
		Reconcile: &pipeline.ReconcileConfig{Reader: losingReader{topic, func() { own.lose("a|1") }}, Partitioner: topic},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RunOnce(t.Context()); err != nil {
		t.Fatalf("got %v, want the round to pass: the asset is another replica's now", err)
	}
	if calls := topic.Calls(); len(calls) != 1 {
		t.Errorf("Publish calls: got %d, want 1 (nothing sent after the asset was lost during the read-back)", len(calls))
	}
	if got := topic.EventIDs(); len(got) != 0 {
		t.Errorf("topic holds %v, want nothing", got)
	}
	cp, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|1", AssetHandle: "a|1"})
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Watermark.IsZero() || len(cp.Recent) > 0 {
		t.Errorf("committed %+v for an asset no longer owned", cp)
	}
}

// waitingSink is a sink whose writes wait for a broker that is away: each
// Publish loses the asset (the group moves it meanwhile) and then waits
// for its context, or lands after a while.
type waitingSink struct {
	lose   func()
	landed atomic.Int32
}

func (s *waitingSink) Publish(ctx context.Context, records []pipeline.Record) error {
	s.lose()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		s.landed.Add(int32(len(records)))
		return nil
	}
}

// TestPollerAbandonsAWaitingWriteOfALostAsset: a write still waiting to go
// out (for the broker to come back) when its asset moves to another
// replica is abandoned at once rather than landing later, after the new
// owner read the partition back; the round passes and nothing is
// committed.
func TestPollerAbandonsAWaitingWriteOfALostAsset(t *testing.T) {
	own := &fakeOwnership{owned: map[string]bool{"a|1": true}}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	sink := &waitingSink{lose: func() { own.lose("a|1") }}
	cps := pipelinetest.NewCheckpoints()
	p := ownershipPoller(t, own, source, sink, cps)
	if _, err := p.RunOnce(t.Context()); err != nil {
		t.Fatalf("got %v, want the round to pass: the asset is another replica's now", err)
	}
	if n := sink.landed.Load(); n != 0 {
		t.Errorf("%d records landed after their asset was lost, want 0", n)
	}
	cp, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|1", AssetHandle: "a|1"})
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Watermark.IsZero() || len(cp.Recent) > 0 {
		t.Errorf("committed %+v for an asset no longer owned", cp)
	}
}

// droppingCheckpoints fails to load the checkpoint of an asset that was
// lost, as the state store does once the asset's partition moved away.
type droppingCheckpoints struct {
	*pipelinetest.Checkpoints
	own *fakeOwnership
}

func (c droppingCheckpoints) LoadAsset(key pipeline.AssetKey) (pipeline.AssetCheckpoint, error) {
	c.own.mu.Lock()
	lost := c.own.lost[key.AssetHandle]
	c.own.mu.Unlock()
	if lost {
		return pipeline.AssetCheckpoint{}, errors.New("partition not restored by this producer")
	}
	return c.Checkpoints.LoadAsset(key)
}

// TestPollerSkipsTheCheckpointOfAnAssetLostDuringTheFetch: an asset lost
// while it was fetched (or while its claim waited for a free slot) has
// left this replica's state; the failure to load its checkpoint is the
// hand-over, not an error that stops the producer.
func TestPollerSkipsTheCheckpointOfAnAssetLostDuringTheFetch(t *testing.T) {
	own := &fakeOwnership{owned: map[string]bool{"a|1": true}}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		own.lose(asset)
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	sink := &pipelinetest.Sink{}
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|1", Assets: []string{"a|1"},
		Source: source, Encoder: pipelinetest.JSONEncoder{}, Sink: sink,
		Checkpoints: droppingCheckpoints{pipelinetest.NewCheckpoints(), own}, Ownership: own,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RunOnce(t.Context()); err != nil {
		t.Fatalf("got %v, want the round to pass: the asset is another replica's now", err)
	}
	if got := len(sink.Records()); got != 0 {
		t.Errorf("published %d records, want 0", got)
	}
}

// partitionOwnership is fakeOwnership whose partitions can be lost too.
type partitionOwnership struct {
	*fakeOwnership
	partitionsLost atomic.Bool
}

func (o *partitionOwnership) OwnsPartition(int32) bool { return !o.partitionsLost.Load() }

// TestRoundEndLeavesAPartitionThatMovedDuringItsReadBack: at the end of a
// round, the writes of unknown outcome are resolved by reading their
// partition back; when the partition moves to another replica during that
// read-back, its checkpoints are the new owner's: the producer neither
// commits them nor stops because it can no longer load them.
func TestRoundEndLeavesAPartitionThatMovedDuringItsReadBack(t *testing.T) {
	own := &partitionOwnership{fakeOwnership: &fakeOwnership{owned: map[string]bool{"a|1": true}}}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	})
	topic := pipelinetest.NewTopic(3)
	topic.Fault = func(int, []pipeline.Record) (int, error) {
		own.lose("a|1") // appended, then the asset moves before the outcome is known
		return -1, retryableErr{}
	}
	cps := pipelinetest.NewCheckpoints()
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|1", Assets: []string{"a|1"},
		Source: source, Encoder: pipelinetest.JSONEncoder{}, Sink: topic,
		Checkpoints: droppingCheckpoints{cps, own.fakeOwnership}, Ownership: own, SinkRetry: policy(),
		Reconcile: &pipeline.ReconcileConfig{Reader: losingReader{topic, func() { own.partitionsLost.Store(true) }}, Partitioner: topic},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RunOnce(t.Context()); err != nil {
		t.Fatalf("got %v, want the round to pass: the partition is another replica's now", err)
	}
	if topic.Tails() == 0 {
		t.Fatal("the round's end did not read the partition back: the case is not exercised")
	}
	cp, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|1", AssetHandle: "a|1"})
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Watermark.IsZero() || len(cp.Recent) > 0 {
		t.Errorf("committed %+v for an asset of a partition no longer owned", cp)
	}
}
