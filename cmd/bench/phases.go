package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// phases adds up the time the poller's workers spend in each port, to tell
// where an asset's time goes (IPS fetch, Kafka publish, checkpoint commit).
type phases struct {
	fetch, publish, commit      atomic.Int64 // nanoseconds
	fetches, publishes, commits atomic.Int64
}

// mean returns the mean time of one call of a phase.
func mean(total, n *atomic.Int64) time.Duration {
	if n.Load() == 0 {
		return 0
	}
	return time.Duration(total.Load() / n.Load())
}

type timedSource struct {
	pipeline.Source
	ph *phases
}

func (s timedSource) AssetJobLogs(ctx context.Context, company, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
	t := time.Now()
	log, bad, err := s.Source.AssetJobLogs(ctx, company, asset)
	s.ph.fetch.Add(int64(time.Since(t)))
	s.ph.fetches.Add(1)
	return log, bad, err
}

type timedSink struct {
	pipeline.Sink
	ph *phases
}

func (s timedSink) Publish(ctx context.Context, records []pipeline.Record) error {
	t := time.Now()
	err := s.Sink.Publish(ctx, records)
	s.ph.publish.Add(int64(time.Since(t)))
	s.ph.publishes.Add(1)
	return err
}

type timedCheckpoints struct {
	pipeline.AssetCheckpoints
	ph *phases
}

func (s timedCheckpoints) CommitAsset(k pipeline.AssetKey, cp pipeline.AssetCheckpoint) error {
	t := time.Now()
	err := s.AssetCheckpoints.CommitAsset(k, cp)
	s.ph.commit.Add(int64(time.Since(t)))
	s.ph.commits.Add(1)
	return err
}
