package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

var (
	_ pipeline.Sink           = (*Topic)(nil)
	_ pipeline.TopicReader    = (*Topic)(nil)
	_ pipeline.Partitioner    = (*Topic)(nil)
	_ pipeline.RecordOutcomes = (*OutcomeError)(nil)
)

// ErrTimeout is the error a Topic's Fault typically returns: the write's
// outcome is unknown to the caller.
var ErrTimeout = errors.New("pipelinetest: write timed out")

// Topic is an in-memory topic: a Sink that appends records to partitions
// chosen by key, and the TopicReader and Partitioner that read them back.
// Fault, when set, is consulted before each Publish, which appends the
// first `appended` records (all of them when appended < 0) and returns err
// (nil: success). So a test can make a write land and still report failure.
type Topic struct {
	mu    sync.Mutex
	parts [][]pipeline.Record
	calls [][]pipeline.Record
	// Fault decides the fate of each Publish call.
	Fault func(call int, records []pipeline.Record) (appended int, err error)
	// ReadErr, when set, makes ReadTail and EndOffset fail with it.
	ReadErr error
	tails   int
}

// Tails returns how many ReadTail calls were made.
func (t *Topic) Tails() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tails
}

// NewTopic returns an empty topic of n partitions.
func NewTopic(n int) *Topic {
	return &Topic{parts: make([][]pipeline.Record, n)}
}

// Partition implements pipeline.Partitioner (FNV-1a of the key).
func (t *Topic) Partition(key []byte) int32 {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int32(h.Sum32() % uint32(len(t.parts)))
}

// Partitions implements pipeline.Partitioner.
func (t *Topic) Partitions() int32 { return int32(len(t.parts)) }

// Publish implements pipeline.Sink.
func (t *Topic) Publish(_ context.Context, records []pipeline.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	call := len(t.calls)
	t.calls = append(t.calls, append([]pipeline.Record(nil), records...))
	n, err := len(records), error(nil)
	if t.Fault != nil {
		if n, err = t.Fault(call, records); n < 0 || n > len(records) {
			n = len(records)
		}
	}
	for _, r := range records[:n] {
		p := t.Partition(r.Key)
		t.parts[p] = append(t.parts[p], r)
	}
	return err
}

// EndOffset implements pipeline.TopicReader.
func (t *Topic) EndOffset(_ context.Context, partition int32) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ReadErr != nil {
		return 0, t.ReadErr
	}
	return int64(len(t.parts[partition])), nil
}

// ReadTail implements pipeline.TopicReader.
func (t *Topic) ReadTail(_ context.Context, partition int32, from int64) ([]pipeline.PublishedRecord, int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tails++
	if t.ReadErr != nil {
		return nil, 0, t.ReadErr
	}
	log := t.parts[partition]
	end := int64(len(log))
	if from > end {
		return nil, 0, fmt.Errorf("pipelinetest: partition %d ends at %d, before offset %d", partition, end, from)
	}
	var out []pipeline.PublishedRecord
	for off := from; off < end; off++ {
		r := log[off]
		pr := pipeline.PublishedRecord{Key: string(r.Key), Offset: off, Partition: partition}
		for _, h := range r.Headers {
			switch h.Key {
			case pipeline.HeaderEventID:
				pr.EventID = string(h.Value)
			case pipeline.HeaderLogDate:
				if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
					pr.LogDate, pr.HasDate = ms, true
				}
			}
		}
		out = append(out, pr)
	}
	return out, end, nil
}

// Calls returns the records of every Publish call, in order.
func (t *Topic) Calls() [][]pipeline.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]pipeline.Record(nil), t.calls...)
}

// EventIDs returns the event ids of every record on the topic, partition
// by partition.
func (t *Topic) EventIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for _, p := range t.parts {
		for _, r := range p {
			ids = append(ids, EventID(r))
		}
	}
	return ids
}

// EventID returns the event-id header of r.
func EventID(r pipeline.Record) string {
	for _, h := range r.Headers {
		if h.Key == pipeline.HeaderEventID {
			return string(h.Value)
		}
	}
	return ""
}

// OutcomeError is a Publish error that reports each record's outcome.
type OutcomeError struct {
	Outcomes []pipeline.PublishOutcome
	Err      error
}

func (e *OutcomeError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *OutcomeError) Unwrap() error { return e.Err }

// RecordOutcomes implements pipeline.RecordOutcomes.
func (e *OutcomeError) RecordOutcomes() []pipeline.PublishOutcome { return e.Outcomes }
