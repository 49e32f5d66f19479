package pipeline_test

import (
	"context"
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
