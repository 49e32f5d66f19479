package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// The Sink reads its topic back for reconciliation with franz-go (kgo and
// kmsg): kafka-go's Reader follows one partition per reader from a group
// or an offset and cannot stop at a high watermark read beforehand, and its
// Metadata request predates topic ids. Writing stays with kafka-go.

var (
	_ pipeline.TopicReader = (*Sink)(nil)
	_ pipeline.Partitioner = (*Sink)(nil)
)

// ErrTailGone is returned (wrapped with the topic, partition and offsets) by
// ReadTail when records it was asked to read are no longer in the partition
// (retention deleted them, or the partition was truncated or re-created):
// what they held cannot be known, so the producer stops rather than publish
// again blindly. It is permanent.
var ErrTailGone = errors.New("records to read back are gone from the partition")

// newAdminClient returns a franz-go client with the sink's brokers, TLS and
// SASL settings, for the requests kafka-go lacks. It connects lazily.
func newAdminClient(cfg Config, tlsConfig *tls.Config, opts ...kgo.Opt) (*kgo.Client, error) {
	all := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(cfg.DialTimeout),
	}
	if tlsConfig != nil {
		all = append(all, kgo.DialTLSConfig(tlsConfig.Clone()))
	}
	var mech sasl.Mechanism
	switch cfg.SASL.Mechanism {
	case SASLPlain:
		mech = plain.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsMechanism()
	case SASLScramSHA256:
		mech = scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsSha256Mechanism()
	case SASLScramSHA512:
		mech = scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsSha512Mechanism()
	}
	if mech != nil {
		all = append(all, kgo.SASL(mech))
	}
	c, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: admin client for brokers %v: %w", cfg.Brokers, err)
	}
	return c, nil
}

// brokerError turns a franz-go broker error into the kafka-go error of the
// same code, so that IsRetryable, NotAppended and the producer's fatal-error
// check see one vocabulary.
func brokerError(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return kafkago.Error(ke.Code)
	}
	return err
}

// Partition returns the partition the sink writes key to: murmur2 over the
// partition count read at start-up, as the writer's balancer computes it.
// It implements pipeline.Partitioner.
func (s *Sink) Partition(key []byte) int32 {
	return int32(murmur2Partition(key, s.partitionIDs))
}

// Partitions returns the topic's partition count read at start-up.
func (s *Sink) Partitions() int32 { return int32(len(s.partitionIDs)) }

// listOffset returns the partition's offset for ts: -2 its log start, -1
// its high watermark.
func (s *Sink) listOffset(ctx context.Context, partition int32, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = s.cfg.Topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition = partition
	p.Timestamp = ts
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	res, err := req.RequestWith(ctx, s.admin)
	if err != nil {
		return 0, fmt.Errorf("kafka: list offsets of topic %q partition %d: %w", s.cfg.Topic, partition, brokerError(err))
	}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return 0, fmt.Errorf("kafka: list offsets of topic %q partition %d: %w", s.cfg.Topic, partition, brokerError(err))
			}
			return rp.Offset, nil
		}
	}
	return 0, fmt.Errorf("kafka: list offsets of topic %q partition %d: no answer for the partition: %w",
		s.cfg.Topic, partition, kafkago.UnknownTopicOrPartition)
}

// offsetsOf returns the partition's log start offset and settled end.
func (s *Sink) offsetsOf(ctx context.Context, partition int32) (start, end int64, err error) {
	if start, err = s.listOffset(ctx, partition, -2); err != nil {
		return 0, 0, err
	}
	end, err = s.settledEnd(ctx, partition)
	return start, end, err
}

// settledEnd returns the partition's high watermark once every record the
// leader had appended when it was called is committed (or, after a leader
// change, truncated away): a write that timed out may sit in the leader's
// log beyond the high watermark, waiting for followers, and become visible
// later. It reads the leader's log end for its current epoch
// (OffsetForLeaderEpoch) and waits until the high watermark reaches it,
// starting over when the leader changes. A new leader answers ListOffsets
// only once its high watermark covers what it took over (KIP-207).
func (s *Sink) settledEnd(ctx context.Context, partition int32) (int64, error) {
	for {
		epoch, err := s.leaderEpoch(ctx, partition)
		if err != nil {
			return 0, err
		}
		leo, err := s.epochEnd(ctx, partition, epoch)
		if errors.Is(err, errLeaderMoving) {
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("kafka: topic %q partition %d: waiting for a leader: %w", s.cfg.Topic, partition, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		for {
			hwm, err := s.listOffset(ctx, partition, -1)
			if err != nil {
				return 0, err
			}
			if leo < 0 || hwm >= leo {
				return hwm, nil
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("kafka: topic %q partition %d: waiting for the high watermark (%d) to reach the log end (%d): %w",
					s.cfg.Topic, partition, hwm, leo, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if now, err := s.leaderEpoch(ctx, partition); err != nil || now != epoch {
				break // a new leader: its log end may be lower
			}
		}
	}
}

// leaderEpoch returns the current leader epoch of the partition.
func (s *Sink) leaderEpoch(ctx context.Context, partition int32) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(s.cfg.Topic)
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(ctx, s.admin)
	if err != nil {
		return 0, fmt.Errorf("kafka: metadata of topic %q: %w", s.cfg.Topic, brokerError(err))
	}
	for _, t := range res.Topics {
		if t.Topic == nil || *t.Topic != s.cfg.Topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("kafka: metadata of topic %q: %w", s.cfg.Topic, brokerError(err))
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.LeaderEpoch, nil
			}
		}
	}
	return 0, fmt.Errorf("kafka: metadata of topic %q: no partition %d: %w", s.cfg.Topic, partition, kafkago.UnknownTopicOrPartition)
}

// errLeaderMoving is returned by epochEnd while a leader change is under way.
var errLeaderMoving = errors.New("leader change under way")

// epochEnd returns the leader's log end offset for its current epoch, or
// errLeaderMoving when a leader change is under way.
func (s *Sink) epochEnd(ctx context.Context, partition, epoch int32) (int64, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	t := kmsg.NewOffsetForLeaderEpochRequestTopic()
	t.Topic = s.cfg.Topic
	p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = partition, epoch, epoch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	res, err := req.RequestWith(ctx, s.admin)
	if err != nil {
		return 0, fmt.Errorf("kafka: log end of topic %q partition %d: %w", s.cfg.Topic, partition, brokerError(err))
	}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				if kerr.IsRetriable(err) {
					return 0, errLeaderMoving
				}
				return 0, fmt.Errorf("kafka: log end of topic %q partition %d: %w", s.cfg.Topic, partition, brokerError(err))
			}
			return rp.EndOffset, nil
		}
	}
	return -1, nil
}

// EndOffset returns the partition's high watermark. It implements
// pipeline.TopicReader.
func (s *Sink) EndOffset(ctx context.Context, partition int32) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.listOffset(ctx, partition, -1)
}

// ReadTail returns the key, event-id and log-date headers and offset of
// every record of the partition from offset from up to its high watermark
// at the time of the call, and that high watermark. It implements
// pipeline.TopicReader.
//
// Errors: ErrTailGone when the partition no longer holds offset from (or
// ends before it); the broker's error (TOPIC_AUTHORIZATION_FAILED,
// UNKNOWN_TOPIC_OR_PARTITION, ...) when the partition cannot be read.
func (s *Sink) ReadTail(ctx context.Context, partition int32, from int64) ([]pipeline.PublishedRecord, int64, error) {
	if s.closed.Load() {
		return nil, 0, ErrClosed
	}
	start, end, err := s.offsetsOf(ctx, partition)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case from < start:
		return nil, 0, fmt.Errorf("kafka: read topic %q partition %d back from offset %d: %w (the log starts at %d: "+
			"retention.ms is shorter than the uncommitted tail)", s.cfg.Topic, partition, from, ErrTailGone, start)
	case from > end:
		return nil, 0, fmt.Errorf("kafka: read topic %q partition %d back from offset %d: %w (the partition ends at %d: "+
			"it was truncated or re-created)", s.cfg.Topic, partition, from, ErrTailGone, end)
	case from == end:
		return nil, end, nil
	}
	c, err := newAdminClient(s.cfg, s.tls,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(s.cfg.BatchTimeout+100e6),
	)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	out := make([]pipeline.PublishedRecord, 0, end-from)
	next := from
	for next < end {
		fetches := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("kafka: read topic %q partition %d back from offset %d (at %d of %d): %w",
				s.cfg.Topic, partition, from, next, end, err)
		}
		for _, fe := range fetches.Errors() {
			return nil, 0, fmt.Errorf("kafka: read topic %q partition %d back from offset %d: %w",
				s.cfg.Topic, partition, from, brokerError(fe.Err))
		}
		var gap error
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < next || r.Offset >= end {
				return
			}
			if r.Offset > next && gap == nil && len(out) == 0 && r.Offset > from {
				// The first record read is past from: the reset policy
				// skipped records that were there when offsets were listed.
				gap = fmt.Errorf("kafka: read topic %q partition %d back from offset %d: %w (first record read is at %d)",
					s.cfg.Topic, partition, from, ErrTailGone, r.Offset)
			}
			pr := pipeline.PublishedRecord{Key: string(r.Key), Offset: r.Offset, Partition: partition}
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
			next = r.Offset + 1
		})
		if gap != nil {
			return nil, 0, gap
		}
	}
	return out, end, nil
}
