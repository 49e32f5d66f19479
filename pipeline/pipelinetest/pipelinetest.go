// Package pipelinetest provides in-memory implementations of the pipeline's
// ports for tests: a checkpoint store, a recording sink, a scripted source
// and a trivial encoder. They are deliberately simple and not meant for
// production use.
package pipelinetest

import (
	"context"
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

var (
	_ pipeline.AssetCheckpoints     = (*Checkpoints)(nil)
	_ pipeline.DiscoveryCheckpoints = (*Checkpoints)(nil)
	_ pipeline.Sink                 = (*Sink)(nil)
	_ pipeline.Source               = SourceFunc(nil)
	_ pipeline.Encoder              = JSONEncoder{}
)

// Checkpoints is an in-memory checkpoint store. CommitErr, when set, makes
// commits fail (simulating a crash or a full disk between publish and commit).
type Checkpoints struct {
	mu        sync.Mutex
	assets    map[pipeline.AssetKey]pipeline.AssetCheckpoint
	discovery map[string]pipeline.DiscoveryCheckpoint
	CommitErr error
}

// NewCheckpoints returns an empty store.
func NewCheckpoints() *Checkpoints {
	return &Checkpoints{assets: map[pipeline.AssetKey]pipeline.AssetCheckpoint{}, discovery: map[string]pipeline.DiscoveryCheckpoint{}}
}

// LoadAsset implements pipeline.AssetCheckpoints.
func (c *Checkpoints) LoadAsset(k pipeline.AssetKey) (pipeline.AssetCheckpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.assets[k]
	cp.Recent = maps.Clone(cp.Recent)
	return cp, nil
}

// CommitAsset implements pipeline.AssetCheckpoints.
func (c *Checkpoints) CommitAsset(k pipeline.AssetKey, cp pipeline.AssetCheckpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.CommitErr != nil {
		return c.CommitErr
	}
	cp.Recent = maps.Clone(cp.Recent)
	c.assets[k] = cp
	return nil
}

// LoadDiscovery implements pipeline.DiscoveryCheckpoints.
func (c *Checkpoints) LoadDiscovery(company string) (pipeline.DiscoveryCheckpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.discovery[company]
	cp.Done = maps.Clone(cp.Done)
	return cp, nil
}

// CommitDiscovery implements pipeline.DiscoveryCheckpoints.
func (c *Checkpoints) CommitDiscovery(company string, cp pipeline.DiscoveryCheckpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.CommitErr != nil {
		return c.CommitErr
	}
	cp.Done = maps.Clone(cp.Done)
	c.discovery[company] = cp
	return nil
}

// Sink records what is published. Fail, when set, is consulted before each
// Publish; a non-nil result fails that call without recording anything.
type Sink struct {
	mu      sync.Mutex
	records []pipeline.Record
	Fail    func(records []pipeline.Record) error
}

// Publish implements pipeline.Sink.
func (s *Sink) Publish(_ context.Context, records []pipeline.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		if err := s.Fail(records); err != nil {
			return err
		}
	}
	s.records = append(s.records, records...)
	return nil
}

// Records returns a copy of everything published so far.
func (s *Sink) Records() []pipeline.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pipeline.Record(nil), s.records...)
}

// EventIDs returns the event-id header of every published record, in order.
func (s *Sink) EventIDs() []string {
	var ids []string
	for _, r := range s.Records() {
		for _, h := range r.Headers {
			if h.Key == pipeline.HeaderEventID {
				ids = append(ids, string(h.Value))
			}
		}
	}
	return ids
}

// SourceFunc adapts a function to pipeline.Source.
type SourceFunc func(ctx context.Context, company, asset string) ([]pipeline.AssetJobLog, error)

// AssetJobLogs implements pipeline.Source.
func (f SourceFunc) AssetJobLogs(ctx context.Context, company, asset string) ([]pipeline.AssetJobLog, error) {
	return f(ctx, company, asset)
}

// JSONEncoder encodes entries as JSON, for tests that do not care about Avro.
type JSONEncoder struct{}

// Encode implements pipeline.Encoder.
func (JSONEncoder) Encode(dst []byte, e *pipeline.AssetJobLog) ([]byte, error) {
	b, err := json.Marshal(e)
	return append(dst, b...), err
}

// ContentType implements pipeline.Encoder.
func (JSONEncoder) ContentType() string { return "application/json" }

// Entry returns a plausible entry of the given asset at the given instant.
func Entry(asset string, at time.Time, msg string) pipeline.AssetJobLog {
	return pipeline.AssetJobLog{
		CompanyHandle: "c|6", AssetHandle: asset,
		JobHandle: "j|6||Add", JobName: "Add", LogMessage: msg, LogType: "UploadSuccess",
		SubmitUserEmail: "someone@example.com", LogDate: at.UTC().Truncate(time.Millisecond),
	}
}
