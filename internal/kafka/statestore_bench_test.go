package kafka_test

import (
	"bytes"
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
	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// BenchmarkStateStoreRestore measures what a replica does before it polls:
// open the state topic and restore every partition, verifying each value.
// The topic holds 100,000 asset checkpoints (BENCH_RESTORE_ASSETS), each
// with a watermark and 3 recent event ids, over 3 partitions. It runs
// against $KAFKA_BROKERS when set (a fresh topic pair), else an embedded
// broker. One op is one full restore.
func BenchmarkStateStoreRestore(b *testing.B) {
	n := 100_000
	if v := os.Getenv("BENCH_RESTORE_ASSETS"); v != "" {
		fmt.Sscan(v, &n)
	}
	var brokers []string
	dataTopic, stateTopic := testDataTopic, testStateTopic
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		brokers = strings.Split(env, ",")
		suffix := time.Now().UnixNano()
		dataTopic, stateTopic = fmt.Sprintf("bench-restore-%d", suffix), fmt.Sprintf("bench-restore-%d.state", suffix)
		admin := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
		if _, err := admin.CreateTopics(context.Background(), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
			Topic: dataTopic, NumPartitions: 3, ReplicationFactor: 1,
		}}}); err != nil {
			b.Fatal(err)
		}
		defer admin.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: []string{dataTopic, stateTopic}})
	} else {
		brokers, _ = kafkatest.NewCluster(b, testDataTopic, 3)
	}
	cfg := kafka.StateStoreConfig{
		Kafka: kafka.Config{Brokers: brokers, Topic: dataTopic, CreateTopic: true},
		Topic: stateTopic, Group: "bench", Company: "c|6",
	}
	s, err := kafka.OpenStateStore(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	// The values, encoded by the pipeline's codec, written in bulk.
	mem := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(mem)
	w := &kafkago.Writer{
		Addr: kafkago.TCP(brokers...), Topic: stateTopic, Balancer: assetBalancer{s},
		BatchSize: 1000, BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafkago.RequireAll,
	}
	defer w.Close()
	msgs := make([]kafkago.Message, 0, 5000)
	at := time.UnixMilli(1.7e12).UTC()
	for i := range n {
		asset := fmt.Sprintf("a|6|1|%d", i)
		cp := pipeline.AssetCheckpoint{Watermark: at, Recent: map[string]int64{}}
		for j := range 3 {
			cp.Recent[fmt.Sprintf("%032x", i*3+j)] = at.UnixMilli() + int64(j+1)
		}
		key := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: asset}
		if err := cps.CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset}, cp); err != nil {
			b.Fatal(err)
		}
		v, _ := mem.Get(key)
		msgs = append(msgs, kafkago.Message{Key: []byte("assets\x00" + string(key.Bytes())), Value: v})
		if len(msgs) == cap(msgs) || i == n-1 {
			var err error
			for range 40 { // a topic just created may not be known to every broker yet
				if err = w.WriteMessages(context.Background(), msgs...); err == nil || !kafka.IsRetryable(err) && !errors.Is(err, kafkago.UnknownTopicOrPartition) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	all := make([]int, s.Partitions())
	for i := range all {
		all[i] = i
	}

	b.ResetTimer()
	for b.Loop() {
		r, err := kafka.OpenStateStore(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Restore(b.Context(), all); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		got := 0
		r.Each(func(pipeline.StateKey, []byte) error { got++; return nil })
		if got != n {
			b.Fatalf("restored %d checkpoints, want %d", got, n)
		}
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "checkpoints")
}

// assetBalancer places a state record as the store would: on the
// partition of its asset.
type assetBalancer struct{ s *kafka.StateStore }

func (a assetBalancer) Balance(m kafkago.Message, _ ...int) int {
	i := bytes.LastIndexByte(m.Key, 0)
	return a.s.PartitionOf(string(m.Key[i+1:]))
}
