//go:build integration

package kafka_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

func TestIntegrationPublish(t *testing.T) {
	brokers := kafkatest.RealBrokers(t)
	for _, codec := range []string{"none", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			const partitions = 3
			topic := kafkatest.TopicName(t, brokers)
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
	brokers := kafkatest.RealBrokers(t)
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
