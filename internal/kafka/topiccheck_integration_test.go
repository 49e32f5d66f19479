//go:build integration

package kafka_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

func createDataTopic(t *testing.T, brokers []string, rf int, configs ...kafkago.ConfigEntry) string {
	t.Helper()
	topic := kafkatest.TopicName(t, brokers)
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := client.CreateTopics(testContext(t), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: 2, ReplicationFactor: rf, ConfigEntries: configs,
	}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("create topic: %v %v", err, res)
	}
	return topic
}

// warningsOf describes the topic and returns its warnings (minimum
// retention one day) and error.
func warningsOf(t *testing.T, brokers []string, topic string) (kafka.TopicInfo, []string, error) {
	t.Helper()
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: topic})
	info, err := s.DescribeTopic(testContext(t))
	if err != nil {
		t.Fatalf("DescribeTopic: %v", err)
	}
	w, err := info.Check(24 * time.Hour)
	return info, w, err
}

func checkWarnings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d: %q", got, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) || strings.Contains(got[i], "\n") {
			t.Errorf("warning %q does not say %q on one line", got[i], w)
		}
	}
}

func TestIntegrationTopicFitness(t *testing.T) {
	brokers := kafkatest.RealBrokers(t)
	t.Run("compacted topic is refused", func(t *testing.T) {
		topic := createDataTopic(t, brokers, 1, kafkago.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact,delete"})
		_, _, err := warningsOf(t, brokers, topic)
		if !errors.Is(err, kafka.ErrCompactedTopic) || !strings.Contains(err.Error(), "latest entry") {
			t.Errorf("Check = %v, want ErrCompactedTopic saying why", err)
		}
	})
	t.Run("replication factor 1 warns once", func(t *testing.T) {
		topic := createDataTopic(t, brokers, 1)
		info, w, err := warningsOf(t, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, w, "replication factor 1")
		if info.Identity.Topic != topic || info.Identity.ClusterID == "" || info.Identity.TopicID == [16]byte{} || info.Partitions != 2 {
			t.Errorf("identity %v, %d partitions: want the topic's name, cluster id, topic id and 2 partitions", info.Identity, info.Partitions)
		}
	})
	t.Run("short retention warns once", func(t *testing.T) {
		topic := createDataTopic(t, brokers, 1, kafkago.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "3600000"})
		_, w, err := warningsOf(t, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, w, "retention.ms=3600000", "replication factor 1")
	})
}

func TestIntegrationClusterTopicFitness(t *testing.T) {
	cluster := kafkatest.NewRealCluster(t)
	t.Run("RF 3 and min ISR 2 give no warning", func(t *testing.T) {
		_, w, err := warningsOf(t, cluster.Brokers, cluster.CreateTopic(t, 2))
		if err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, w)
	})
	t.Run("min ISR 1 warns once", func(t *testing.T) {
		topic := cluster.CreateTopic(t, 2, kafkago.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "1"})
		_, w, err := warningsOf(t, cluster.Brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, w, "min.insync.replicas=1")
	})
}

func TestIntegrationReadTail(t *testing.T) {
	brokers := kafkatest.RealBrokers(t)
	topic := createDataTopic(t, brokers, 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: topic})
	ctx := testContext(t)
	sent := records(50, 7)
	if err := s.Publish(ctx, sent); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for p := range s.Partitions() {
		recs, end, err := s.ReadTail(ctx, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(recs)) != end {
			t.Errorf("partition %d: %d records read, end %d", p, len(recs), end)
		}
		for _, r := range recs {
			got = append(got, r.EventID)
		}
	}
	for _, r := range sent {
		want = append(want, string(r.Headers[0].Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("read back %d event ids, want the %d published", len(got), len(want))
	}
}
