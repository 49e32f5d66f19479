// Package pipelinetest provides in-memory implementations of the pipeline's
// ports for tests: a checkpoint store, a recording sink, a scripted source
// and a trivial encoder. They are deliberately simple and not meant for
// production use.
package pipelinetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// State is an in-memory pipeline.StateStore. PutErr, when set, makes
// writes fail (simulating a crash or a full disk between publish and commit).
type State struct {
	mu     sync.Mutex
	values map[pipeline.StateKey][]byte
	PutErr error
}

// NewState returns an empty store.
func NewState() *State {
	return &State{values: map[pipeline.StateKey][]byte{}}
}

// Get implements pipeline.StateStore.
func (s *State) Get(key pipeline.StateKey) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.values[key]), nil
}

// Put implements pipeline.StateStore.
func (s *State) Put(key pipeline.StateKey, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.PutErr != nil {
		return s.PutErr
	}
	s.values[key] = bytes.Clone(value)
	return nil
}

// Len returns how many values the store holds.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Checkpoints is the pipeline's checkpoints (every kind, with the real
// codec) kept in memory.
type Checkpoints struct {
	*pipeline.Checkpoints
	*State
}

// NewCheckpoints returns an empty in-memory checkpoint store. Setting its
// PutErr makes commits fail.
func NewCheckpoints() *Checkpoints {
	st := NewState()
	return &Checkpoints{Checkpoints: pipeline.NewCheckpoints(st), State: st}
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
type SourceFunc func(ctx context.Context, company, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error)

// AssetJobLogs implements pipeline.Source.
func (f SourceFunc) AssetJobLogs(ctx context.Context, company, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
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

// LimitedSink is a Sink whose topic refuses records whose value is larger
// than MaxValueBytes; it tells the Poller so through CheckRecord, and
// Publish refuses such records too (the whole call), as a broker would.
type LimitedSink struct {
	Sink
	MaxValueBytes int
}

var _ pipeline.RecordChecker = (*LimitedSink)(nil)

// CheckRecord implements pipeline.RecordChecker.
func (s *LimitedSink) CheckRecord(r pipeline.Record) error {
	if len(r.Value) > s.MaxValueBytes {
		return fmt.Errorf("record value of %d bytes exceeds the limit of %d: %w", len(r.Value), s.MaxValueBytes, pipeline.ErrRecordTooLarge)
	}
	return nil
}

// Publish implements pipeline.Sink.
func (s *LimitedSink) Publish(ctx context.Context, records []pipeline.Record) error {
	for _, r := range records {
		if err := s.CheckRecord(r); err != nil {
			return err
		}
	}
	return s.Sink.Publish(ctx, records)
}
