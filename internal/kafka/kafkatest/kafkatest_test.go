package kafkatest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

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

func TestReadTooFew(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "t", 2)
	write(t, brokers, "t", "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := kafkatest.Read(ctx, brokers, "t", 5)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read of 5 from 3 records = %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "3 records, want at least 5") {
		t.Errorf("error %q does not say how many were there", err)
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
