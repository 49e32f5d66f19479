package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// benchLog returns n entries of one asset, a second apart, with a job
// handle shared by ten entries, like a real log.
func benchLog(asset string, n int) []pipeline.AssetJobLog {
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	out := make([]pipeline.AssetJobLog, n)
	for i := range out {
		e := pipelinetest.Entry(asset, base.Add(time.Duration(i)*time.Second), "ApiTestCo/folder/asset-"+strconv.Itoa(i)+".jpg was processed into IPS")
		e.JobHandle = "j|6||Add-" + strconv.Itoa(i/10)
		out[i] = e
	}
	return out
}

// discardSink acknowledges every record and keeps none.
type discardSink struct{}

func (discardSink) Publish(context.Context, []pipeline.Record) error { return nil }

// discardTopic is a discardSink that also serves reconciliation: three
// partitions whose end grows with what is published, and nothing to read
// back (no write ever fails).
type discardTopic struct {
	discardSink
	end atomic.Int64
}

func (t *discardTopic) Publish(_ context.Context, recs []pipeline.Record) error {
	t.end.Add(int64(len(recs)))
	return nil
}
func (t *discardTopic) EndOffset(context.Context, int32) (int64, error) { return t.end.Load(), nil }
func (t *discardTopic) ReadTail(context.Context, int32, int64) ([]pipeline.PublishedRecord, int64, error) {
	return nil, t.end.Load(), nil
}
func (t *discardTopic) Partition(key []byte) int32 { return int32(len(key) % 3) }
func (t *discardTopic) Partitions() int32          { return 3 }

// BenchmarkPollerRound runs one assets-mode round over in-memory fakes (no
// network), with the Avro encoder: "backfill" publishes every entry of
// every asset, "steady" finds nothing new (every asset is checkpointed at
// its newest entry), which is the common round of a running producer.
func BenchmarkPollerRound(b *testing.B) {
	const assets, entries = 50, 1000
	logs := map[string][]pipeline.AssetJobLog{}
	var handles []string
	for i := range assets {
		h := "a|6|1|" + strconv.Itoa(i)
		handles = append(handles, h)
		logs[h] = benchLog(h, entries)
	}
	source := pipelinetest.SourceFunc(func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		return slices.Clone(logs[asset]), nil, nil
	})
	enc, err := avro.NewSingleObjectEncoder()
	if err != nil {
		b.Fatal(err)
	}
	newPoller := func(b *testing.B, cps *pipelinetest.Checkpoints) *pipeline.Poller {
		p, err := pipeline.NewPoller(pipeline.Config{
			CompanyHandle: "c|6", Assets: handles, Source: source, Encoder: enc, Sink: discardSink{}, Checkpoints: cps,
		})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("backfill", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stats, err := newPoller(b, pipelinetest.NewCheckpoints()).RunOnce(context.Background())
			if err != nil || stats.Published != assets*entries {
				b.Fatalf("published %d, err %v", stats.Published, err)
			}
		}
		b.ReportMetric(float64(b.N*assets*entries)/b.Elapsed().Seconds(), "entries/s")
	})
	// The same backfill publishing exactly once: tickets, bounds and their
	// commits, the log-date header (what reconciliation costs when no write
	// fails).
	b.Run("backfill-exactly-once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cps := pipelinetest.NewCheckpoints()
			topic := &discardTopic{}
			p, err := pipeline.NewPoller(pipeline.Config{
				CompanyHandle: "c|6", Assets: handles, Source: source, Encoder: enc, Sink: topic, Checkpoints: cps,
				Reconcile: &pipeline.ReconcileConfig{Reader: topic, Partitioner: topic, Bounds: cps},
			})
			if err != nil {
				b.Fatal(err)
			}
			stats, err := p.RunOnce(context.Background())
			if err != nil || stats.Published != assets*entries {
				b.Fatalf("published %d, err %v", stats.Published, err)
			}
		}
		b.ReportMetric(float64(b.N*assets*entries)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("steady", func(b *testing.B) {
		cps := pipelinetest.NewCheckpoints()
		p := newPoller(b, cps)
		if _, err := p.RunOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			stats, err := p.RunOnce(context.Background())
			if err != nil || stats.Published != 0 {
				b.Fatalf("published %d, err %v", stats.Published, err)
			}
		}
		b.ReportMetric(float64(b.N*assets*entries)/b.Elapsed().Seconds(), "entries/s")
	})
}

// BenchmarkAssignEventIDs gives ids to a 1,000-entry log.
func BenchmarkAssignEventIDs(b *testing.B) {
	log := benchLog("a|6|1|535", 1000)
	b.ReportAllocs()
	for b.Loop() {
		pipeline.AssignEventIDs(log)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(log)), "ns/entry")
}

// BenchmarkUnpublished filters a 1,000-entry log against a checkpoint: all
// published (the steady state), the newest 100 new, and nothing published
// (a first poll).
func BenchmarkUnpublished(b *testing.B) {
	log := benchLog("a|6|1|535", 1000)
	pipeline.AssignEventIDs(log)
	for _, fresh := range []int{0, 100, 1000} {
		var cp pipeline.AssetCheckpoint
		if published := len(log) - fresh; published > 0 {
			cp = cp.Advance(log[:published], time.Hour, afterAll(log))
		}
		b.Run(fmt.Sprintf("new=%d", fresh), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := cp.Unpublished(log); len(got) != fresh {
					b.Fatalf("got %d unpublished, want %d", len(got), fresh)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(log)), "ns/entry")
		})
	}
}

// BenchmarkAdvance moves a checkpoint past newly published entries: 100
// entries onto a checkpoint whose late window holds 1,000 ids (a second
// apart, window 1h), and 1,000 entries onto an empty one.
func BenchmarkAdvance(b *testing.B) {
	log := benchLog("a|6|1|535", 1100)
	pipeline.AssignEventIDs(log)
	now := afterAll(log)
	full := pipeline.AssetCheckpoint{}.Advance(log[:1000], time.Hour, now)
	for _, tc := range []struct {
		name string
		cp   pipeline.AssetCheckpoint
		pub  []pipeline.AssetJobLog
	}{
		{"recent=1000/new=100", full, log[1000:]},
		{"recent=0/new=1000", pipeline.AssetCheckpoint{}, log[:1000]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				next := tc.cp.Advance(tc.pub, time.Hour, now)
				if len(next.Recent) == 0 {
					b.Fatal("empty checkpoint after Advance")
				}
			}
		})
	}
}

// afterAll returns an instant after every entry of log: the clock of a
// producer that publishes them.
func afterAll(log []pipeline.AssetJobLog) time.Time {
	var last time.Time
	for _, e := range log {
		if e.LogDate.After(last) {
			last = e.LogDate
		}
	}
	return last.Add(time.Minute)
}
