package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// RealBrokersHowTo says how to run the tests that need a real broker.
const RealBrokersHowTo = "KAFKA_BROKERS not set: the integration suite needs the real broker; run scripts/kafka.sh up " +
	"and export KAFKA_BROKERS=127.0.0.1:19092"

// RealBrokers returns the brokers of $KAFKA_BROKERS (comma-separated), the
// real Apache Kafka the integration suite runs against. Without it the test
// is skipped with a how-to message, or fails when $CI is set, so that CI
// never passes without the real broker.
func RealBrokers(t testing.TB) []string {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("KAFKA_BROKERS"))
	if env == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(RealBrokersHowTo)
		}
		t.Skip(RealBrokersHowTo)
	}
	return strings.Split(env, ",")
}

// TopicName returns a topic name of the test's own, and deletes the topic
// (if it was created) when the test ends.
func TopicName(t testing.TB, brokers []string) string {
	t.Helper()
	name := fmt.Sprintf("assetjoblog-it-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), time.Now().UnixNano())
	t.Cleanup(func() {
		tr := &kafka.Transport{}
		defer tr.CloseIdleConnections()
		admin := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	})
	return name
}

// CreateTopic creates a topic of the test's own with the given partitions
// (replication factor 1) and returns its name; it is deleted when the test ends.
func CreateTopic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	name := TopicName(t, brokers)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	admin := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}
