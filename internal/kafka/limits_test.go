package kafka_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// withValueSize returns a record of the records helper's shape whose size,
// as the sink counts it, is n bytes.
func withValueSize(t *testing.T, s *kafka.Sink, n int) pipeline.Record {
	t.Helper()
	r := records(1, 1)[0]
	r.Value = nil
	for size := 0; ; size++ {
		r.Value = bytes.Repeat([]byte("x"), size)
		err := s.CheckRecord(r)
		if err != nil {
			t.Fatalf("a record of %d value bytes is refused below the target size: %v", size, err)
		}
		// Step up to the target, then one byte at a time.
		probe := r
		probe.Value = bytes.Repeat([]byte("x"), size+1)
		if s.CheckRecord(probe) != nil || size+1 > n {
			return r
		}
		if size < n-256 {
			size = n - 256
		}
	}
}

func TestSinkLearnsTheTopicsRecordLimit(t *testing.T) {
	const limit = 20_000
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	setTopicConfig(t, brokers, "jobs", "max.message.bytes", "20000")
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	got := s.RecordLimit()
	if got.MaxMessageBytes != limit || got.Source != "topic" || got.MaxRecordBytes >= limit || got.MaxRecordBytes < limit-200 {
		t.Fatalf("limit: got %+v, want max.message.bytes %d from the topic, records a little smaller", got, limit)
	}

	largest := withValueSize(t, s, got.MaxRecordBytes)
	if err := s.Publish(testContext(t), []pipeline.Record{largest}); err != nil {
		t.Fatalf("the largest record CheckRecord accepts (value %d bytes) was refused by the broker: %v", len(largest.Value), err)
	}
	over := largest
	over.Value = append(bytes.Clone(largest.Value), 'x')
	err := s.CheckRecord(over)
	if !errors.Is(err, pipeline.ErrRecordTooLarge) {
		t.Fatalf("CheckRecord of one byte more: got %v, want ErrRecordTooLarge", err)
	}
	// Batches are sized to fit too: many small records in one call.
	many := records(200, 1)
	for i := range many {
		many[i].Value = bytes.Repeat([]byte("y"), 500)
	}
	if err := s.Publish(testContext(t), many); err != nil {
		t.Fatalf("a call of 200 records of 500 bytes (100 KB to one partition) failed: %v", err)
	}
}

func TestSinkBatchBytesOnlyLowersTheLimit(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs", BatchBytes: 1024})
	if got := s.RecordLimit(); got.MaxMessageBytes != kafka.DefaultMaxMessageBytes || got.MaxRecordBytes != 1024 {
		t.Fatalf("limit: got %+v, want the default max.message.bytes and records of at most 1024 bytes", got)
	}
}

func TestBrokerRefusingARecordAsTooLargeIsTooLarge(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	// The topic's limit drops after the sink learnt it.
	setTopicConfig(t, brokers, "jobs", "max.message.bytes", "4096")
	big := records(1, 1)
	big[0].Value = bytes.Repeat([]byte("x"), 10_000)
	if err := s.CheckRecord(big[0]); err != nil {
		t.Fatalf("CheckRecord refused a record the limit learnt at start-up allows: %v", err)
	}
	err := s.Publish(testContext(t), big)
	if !errors.Is(err, pipeline.ErrRecordTooLarge) {
		t.Fatalf("got %v, want ErrRecordTooLarge", err)
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}

// setTopicConfig sets one configuration of a topic (IncrementalAlterConfigs).
func setTopicConfig(t *testing.T, brokers []string, topic, name, value string) {
	t.Helper()
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = name, kmsg.StringPtr(value)
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(testContext(t), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		if r.ErrorCode != 0 {
			t.Fatalf("set %s of topic %s: error code %d", name, topic, r.ErrorCode)
		}
	}
}
