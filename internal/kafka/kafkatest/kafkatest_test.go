package kafkatest_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

func write(t *testing.T, brokers []string, topic string, keys ...string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	msgs := make([]kafka.Message, len(keys))
	for i, k := range keys {
		msgs[i] = kafka.Message{Key: []byte(k), Value: []byte("v-" + k)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
}

func TestReadAll(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "t", 3)
	write(t, brokers, "t", "a", "b", "c", "d", "e", "f")

	got := kafkatest.ReadAll(t, brokers, "t", 4, 10*time.Second)
	if len(got) != 6 {
		t.Fatalf("ReadAll returned %d records, want all 6 already written", len(got))
	}
	seen := map[string]bool{}
	for i, m := range got {
		if string(m.Value) != "v-"+string(m.Key) {
			t.Errorf("record %q has value %q", m.Key, m.Value)
		}
		seen[string(m.Key)] = true
		if i > 0 && (m.Partition < got[i-1].Partition || m.Partition == got[i-1].Partition && m.Offset <= got[i-1].Offset) {
			t.Errorf("records not ordered by partition then offset at %d", i)
		}
	}
	if len(seen) != 6 {
		t.Errorf("read %d distinct keys, want 6", len(seen))
	}
}

// TestReadTooFew: Read of more records than the topic holds keeps polling
// until ctx ends, then fails saying how many it saw. The test ends ctx once
// Read has asked for the offsets a second time, that is, once it has seen
// the 3 records and not taken them for enough; the deadline is only a bound
// should it never ask again.
func TestReadTooFew(t *testing.T) {
	brokers, cluster := kafkatest.NewCluster(t, "t", 2)
	write(t, brokers, "t", "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var polls atomic.Int64
	cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		// Each poll asks once for the end of partition 0.
		for _, rt := range req.(*kmsg.ListOffsetsRequest).Topics {
			for _, rp := range rt.Partitions {
				if rp.Partition == 0 && rp.Timestamp == -1 && polls.Add(1) == 2 {
					cancel()
				}
			}
		}
		return nil, nil, false
	})
	_, err := kafkatest.Read(ctx, brokers, "t", 5)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read of 5 from 3 records = %v, want the error of its context", err)
	}
	if !strings.Contains(err.Error(), "3 records, want at least 5") {
		t.Errorf("error %q does not say how many were there", err)
	}
	if got := polls.Load(); got < 2 {
		t.Errorf("offsets requests: got %d, want Read to poll again when too few are there", got)
	}
}

// TestReadMissingTopic: a topic that does not appear before ctx ends is
// reported as unknown (Read waits for it, as for a topic just created).
func TestReadMissingTopic(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "t", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := kafkatest.Read(ctx, brokers, "nope", 1); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("Read of a missing topic = %v, want UnknownTopicOrPartition", err)
	}
}

func TestStartRejectsNoPartitions(t *testing.T) {
	if c, err := kafkatest.Start("t", 0); err == nil {
		c.Close()
		t.Fatal("Start with 0 partitions succeeded")
	}
}
