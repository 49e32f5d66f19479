package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// DefaultMaxMessageBytes is Kafka's default max.message.bytes (the
// broker's message.max.bytes): the largest record batch a topic accepts
// unless configured otherwise.
const DefaultMaxMessageBytes = 1048588

// batchOverhead is what a record batch adds to the records kafka-go counts
// against BatchBytes: the 61-byte header of a v2 batch, with a margin.
// kafka-go's per-record estimate is larger than a record's v2 encoding.
const batchOverhead = 128

// RecordLimit is the largest record a topic accepts, as the sink learnt it
// at start-up.
type RecordLimit struct {
	// MaxMessageBytes is the topic's max.message.bytes (or, when that
	// cannot be read, the broker's message.max.bytes, or Kafka's default).
	MaxMessageBytes int
	// Source says where MaxMessageBytes came from: "topic", "broker" or
	// "default".
	Source string
	// MaxRecordBytes is the largest record, as kafka-go measures it
	// (key, value, headers and framing), that fits in one batch: the
	// writer's BatchBytes.
	MaxRecordBytes int
}

// RecordLimit returns the limit learnt at start-up.
func (s *Sink) RecordLimit() RecordLimit { return s.limit }

var _ pipeline.RecordChecker = (*Sink)(nil)

// CheckRecord returns an error wrapping pipeline.ErrRecordTooLarge when r is
// larger than the topic accepts (RecordLimit), so that it is never sent. It
// implements pipeline.RecordChecker.
func (s *Sink) CheckRecord(r pipeline.Record) error {
	if n := recordSize(r); n > s.limit.MaxRecordBytes {
		return fmt.Errorf("kafka: record of %d bytes (value %d) is larger than topic %q accepts (%d, from max.message.bytes %d of the %s): %w",
			n, len(r.Value), s.cfg.Topic, s.limit.MaxRecordBytes, s.limit.MaxMessageBytes, s.limit.Source, pipeline.ErrRecordTooLarge)
	}
	return nil
}

// recordSize is the size kafka-go counts for a record against BatchBytes
// (kafka.Message's totalSize): the v1 message framing with the v2 headers.
func recordSize(r pipeline.Record) int {
	n := 4 + 1 + 1 + 4 + len(r.Key) + 4 + len(r.Value) + 8
	n += varintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

func varintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], int64(n))
}

// learnRecordLimit reads the topic's max.message.bytes (DescribeConfigs)
// and sizes the writer's batches to match, so that a batch the writer
// builds always fits, and a record that cannot fit is known before it is
// sent. When the topic's configuration cannot be read it falls back to
// the broker's message.max.bytes, then to Kafka's default.
func (s *Sink) learnRecordLimit(ctx context.Context) {
	limit, source := DefaultMaxMessageBytes, "default"
	if n, err := s.describeInt(ctx, kmsg.ConfigResourceTypeTopic, s.cfg.Topic, "max.message.bytes"); err == nil {
		limit, source = n, "topic"
	} else if id, ok := s.anyBrokerID(ctx); ok {
		if n, err := s.describeInt(ctx, kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), "message.max.bytes"); err == nil {
			limit, source = n, "broker"
		}
	}
	if source == "default" {
		s.cfg.Logger.Warn("cannot read the topic's max.message.bytes nor the broker's message.max.bytes; assuming Kafka's default",
			"topic", s.cfg.Topic, "max_message_bytes", limit)
	}
	s.setRecordLimit(limit, source)
}

func (s *Sink) setRecordLimit(maxMessageBytes int, source string) {
	most := max(maxMessageBytes-batchOverhead, 1)
	if s.cfg.BatchBytes > 0 && s.cfg.BatchBytes < int64(most) {
		most = int(s.cfg.BatchBytes)
	}
	s.limit = RecordLimit{MaxMessageBytes: maxMessageBytes, Source: source, MaxRecordBytes: most}
	s.writer.BatchBytes = int64(most)
}

// describeInt reads one integer configuration of a resource.
func (s *Sink) describeInt(ctx context.Context, typ kmsg.ConfigResourceType, name, config string) (int, error) {
	values, err := s.describeConfigs(ctx, typ, name, config)
	if err != nil {
		return 0, err
	}
	v, ok := values[config]
	if !ok {
		return 0, fmt.Errorf("%s not in the answer", config)
	}
	return strconv.Atoi(v)
}

// describeConfigs reads the named configurations of a resource in one
// DescribeConfigs request and returns those the broker gave a value, by
// name. The error is the request's or the resource's, as the broker
// reported it.
func (s *Sink) describeConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, configs ...string) (map[string]string, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = typ
	r.ResourceName = name
	r.ConfigNames = configs
	req.Resources = append(req.Resources, r)
	res, err := req.RequestWith(ctx, s.admin)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, rr := range res.Resources {
		if err := kerr.ErrorForCode(rr.ErrorCode); err != nil {
			return nil, err
		}
		for _, c := range rr.Configs {
			if c.Value != nil && slices.Contains(configs, c.Name) {
				values[c.Name] = *c.Value
			}
		}
	}
	return values, nil
}

// anyBrokerID returns the id of a broker of the cluster.
func (s *Sink) anyBrokerID(ctx context.Context) (int32, bool) {
	res, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, s.admin)
	if err != nil || len(res.Brokers) == 0 {
		return 0, false
	}
	return res.Brokers[0].NodeID, true
}

// tooLarge reports whether a publish error means a record is larger than
// the topic accepts: kafka-go's own check (MessageTooLargeError), or the
// broker's MESSAGE_TOO_LARGE or RECORD_LIST_TOO_LARGE.
func tooLarge(err error) bool {
	var mtl kafkago.MessageTooLargeError
	return errors.As(err, &mtl) || errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.RecordListTooLarge)
}
