package kafka_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// A sink publishes records synchronously; here to an in-process cluster.
func ExampleNewSink() {
	cluster, err := kafkatest.Start("ips.asset-job-logs", 3)
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink, err := kafka.NewSink(ctx, kafka.Config{Brokers: cluster.Brokers()})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()

	err = sink.Publish(ctx, []pipeline.Record{{
		Key:     []byte("a|732|1|535"),
		Value:   []byte("avro bytes"),
		Headers: []pipeline.Header{{Key: "event-id", Value: []byte("5f0c8e0e9b1f4f6a8d2c3b4a59687766")}},
	}})
	if err != nil {
		log.Fatal(err)
	}

	msgs, err := kafkatest.Read(ctx, cluster.Brokers(), "ips.asset-job-logs", 1)
	if err != nil {
		log.Fatal(err)
	}
	m := msgs[0]
	fmt.Printf("partition %d key %s value %q %s=%s\n", m.Partition, m.Key, m.Value, m.Headers[0].Key, m.Headers[0].Value)
	// Output: partition 0 key a|732|1|535 value "avro bytes" event-id=5f0c8e0e9b1f4f6a8d2c3b4a59687766
}

// A missing topic stops the producer at start-up.
func ExampleIsRetryable() {
	cluster, err := kafkatest.Start("another-topic", 1)
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	_, err = kafka.NewSink(context.Background(), kafka.Config{Brokers: cluster.Brokers(), Topic: "ips.asset-job-logs"})
	fmt.Println(kafka.IsRetryable(err))
	// Output: false
}

func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("records=%d", size), func(b *testing.B) {
			brokers, _ := kafkatest.NewCluster(b, "jobs", 3)
			s := newSink(b, kafka.Config{Brokers: brokers, Topic: "jobs"})
			recs := records(size, size)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Publish(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
