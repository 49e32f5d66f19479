package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

const integrationHowTo = "KAFKA_BROKERS not set: the integration suite needs the real broker; run scripts/kafka.sh up " +
	"and export KAFKA_BROKERS=127.0.0.1:19092"

// integrationBrokers returns the real brokers of $KAFKA_BROKERS
// (comma-separated). Without it the test is skipped, or fails under CI.
func integrationBrokers(t *testing.T) []string {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("KAFKA_BROKERS"))
	if env == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(integrationHowTo)
		}
		t.Skip(integrationHowTo)
	}
	return strings.Split(env, ",")
}

// integrationTopic names a topic of its own for each test run, and deletes
// it when the test ends.
func integrationTopic(t *testing.T, brokers []string) string {
	name := fmt.Sprintf("assetjoblog-it-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	t.Cleanup(func() {
		tr := &kafkago.Transport{}
		defer tr.CloseIdleConnections()
		admin := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{name}})
	})
	return name
}

func TestIntegrationPublish(t *testing.T) {
	brokers := integrationBrokers(t)
	for _, codec := range []string{"none", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			const partitions = 3
			topic := integrationTopic(t, brokers)
			s := newSink(t, kafka.Config{
				Brokers: brokers, Topic: topic, Compression: codec,
				CreateTopic: true, Partitions: partitions, ReplicationFactor: 1,
			})
			if err := s.Ready(testContext(t)); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			sent := records(300, 41)
			for i := 0; i < len(sent); i += 100 {
				if err := s.Publish(testContext(t), sent[i:i+100]); err != nil {
					t.Fatalf("Publish records %d..%d: %v", i, i+99, err)
				}
			}
			got := kafkatest.ReadAll(t, brokers, topic, len(sent), 30*time.Second)
			checkReadBack(t, sent, got, partitions)
		})
	}
}

func TestIntegrationMissingTopic(t *testing.T) {
	brokers := integrationBrokers(t)
	topic := fmt.Sprintf("assetjoblog-it-missing-%d", time.Now().UnixNano())
	_, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: brokers, Topic: topic})
	if !errors.Is(err, kafka.ErrTopicNotFound) {
		t.Fatalf("NewSink error = %v, want ErrTopicNotFound", err)
	}
	if !strings.Contains(err.Error(), topic) || !strings.Contains(err.Error(), brokers[0]) {
		t.Errorf("error %q does not name the topic and the brokers", err)
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}
