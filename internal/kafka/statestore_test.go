package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const (
	testDataTopic  = "jobs"
	testStateTopic = "jobs.state"
)

func stateConfig(brokers []string, create bool) kafka.StateStoreConfig {
	return kafka.StateStoreConfig{
		Kafka: kafka.Config{Brokers: brokers, Topic: testDataTopic, CreateTopic: create},
		Topic: testStateTopic, Group: "assetjoblog.jobs", Company: "c|6",
	}
}

func openState(t *testing.T, cfg kafka.StateStoreConfig) *kafka.StateStore {
	t.Helper()
	s, err := kafka.OpenStateStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func allPartitions(s *kafka.StateStore) []int {
	var ps []int
	for p := range s.Partitions() {
		ps = append(ps, p)
	}
	return ps
}

func TestStateStoreKeepsCheckpointsAcrossRestarts(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, testDataTopic, 4)
	s := openState(t, stateConfig(brokers, true))
	if got := s.Partitions(); got != 4 {
		t.Fatalf("state topic created with %d partitions, want the data topic's 4", got)
	}
	if err := s.Restore(t.Context(), allPartitions(s)); err != nil {
		t.Fatal(err)
	}
	cps := pipeline.NewCheckpoints(s)
	want := map[string]pipeline.AssetCheckpoint{}
	for i := range 40 {
		asset := fmt.Sprintf("a|6|1|%d", i)
		cp := pipeline.AssetCheckpoint{Watermark: time.UnixMilli(int64(1e12 + i)).UTC(), Recent: map[string]int64{fmt.Sprint("id", i): int64(1e12 + i + 1)}}
		if err := cps.CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset}, cp); err != nil {
			t.Fatal(err)
		}
		want[asset] = cp
	}
	cursor := pipeline.DiscoveryCheckpoint{Cursor: time.UnixMilli(2e12).UTC()}
	if err := cps.CommitDiscovery("c|6", cursor); err != nil {
		t.Fatal(err)
	}

	// A new store (another process) restores them from the topic.
	again := openState(t, stateConfig(brokers, false))
	if err := again.Restore(t.Context(), allPartitions(again)); err != nil {
		t.Fatal(err)
	}
	cps = pipeline.NewCheckpoints(again)
	for asset, w := range want {
		got, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Watermark.Equal(w.Watermark) || fmt.Sprint(got.Recent) != fmt.Sprint(w.Recent) {
			t.Errorf("asset %s: got %+v, want %+v", asset, got, w)
		}
	}
	got, err := cps.LoadDiscovery("c|6")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cursor.Equal(cursor.Cursor) {
		t.Errorf("discovery cursor: got %v, want %v", got.Cursor, cursor.Cursor)
	}
}

// TestStateStorePartitionsLikeTheDataTopic: an asset's checkpoint goes to
// the partition its entries go to on the data topic.
func TestStateStorePartitionsLikeTheDataTopic(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, testDataTopic, 6)
	s := openState(t, stateConfig(brokers, true))
	sink, err := kafka.NewSink(t.Context(), kafka.Config{Brokers: brokers, Topic: testDataTopic})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	var records []pipeline.Record
	for i := range 30 {
		records = append(records, pipeline.Record{Key: fmt.Appendf(nil, "a|6|1|%d", i), Value: []byte("v")})
	}
	if err := sink.Publish(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	used := map[int]bool{}
	for _, m := range kafkatest.ReadAll(t, brokers, testDataTopic, len(records), 10*time.Second) {
		used[m.Partition] = true
		if got := s.PartitionOf(string(m.Key)); got != m.Partition {
			t.Errorf("asset %s: state partition %d, data partition %d", m.Key, got, m.Partition)
		}
	}
	if len(used) < 3 {
		t.Errorf("30 assets used only partitions %v; the check would prove little", used)
	}
	// The checkpoint itself lands there.
	if err := s.Restore(t.Context(), allPartitions(s)); err != nil {
		t.Fatal(err)
	}
	key := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|6|1|7"}
	if err := pipeline.NewCheckpoints(s).CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|6|1|7"}, pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1e12)}); err != nil {
		t.Fatal(err)
	}
	msgs := kafkatest.ReadAll(t, brokers, testStateTopic, 2, 10*time.Second) // the owner marker and the checkpoint
	for _, m := range msgs {
		if strings.Contains(string(m.Key), key.Name) && m.Partition != s.PartitionOf(key.Name) {
			t.Errorf("checkpoint of %s on partition %d, want %d", key.Name, m.Partition, s.PartitionOf(key.Name))
		}
	}
}

func TestStateStoreServesOnlyRestoredPartitions(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, testDataTopic, 3)
	s := openState(t, stateConfig(brokers, true))
	var asset string
	for i := 0; ; i++ {
		if asset = fmt.Sprintf("a|6|1|%d", i); s.PartitionOf(asset) != kafka.CompanyPartition {
			break
		}
	}
	key := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: asset}
	if _, err := s.Get(key); err == nil || !strings.Contains(err.Error(), "not restored") {
		t.Errorf("Get before Restore: got %v, want an error saying the partition is not restored", err)
	}
	if err := s.Put(key, []byte("x")); err == nil {
		t.Error("Put before Restore: got no error")
	}
	// Company-wide values are always served.
	if _, err := s.Get(pipeline.StateKey{Kind: pipeline.StateDiscovery, Company: "c|6"}); err != nil {
		t.Errorf("Get of the discovery cursor: %v", err)
	}
	p := s.PartitionOf(asset)
	if err := s.Restore(t.Context(), []int{p}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(key); err != nil {
		t.Errorf("Get after Restore: %v", err)
	}
	s.Drop([]int{p})
	if _, err := s.Get(key); err == nil {
		t.Error("Get after Drop: got no error")
	}
}

func TestStateStoreRefusesUnfitTopics(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create func(t *testing.T, admin *kafkago.Client)
		want   error
		words  []string
	}{
		{
			name:  "missing",
			want:  kafka.ErrTopicNotFound,
			words: []string{`state topic "jobs.state"`, "compacted with 4 partitions", "-create-topic"},
		},
		{
			name:   "not compacted",
			create: createStateTopic(4, ""),
			want:   kafka.ErrStateTopicUnfit,
			words:  []string{"cleanup.policy=delete, want compact"},
		},
		{
			name:   "compacted and deleted",
			create: createStateTopic(4, "compact,delete"),
			want:   kafka.ErrStateTopicUnfit,
			words:  []string{"cleanup.policy=compact,delete, want compact"},
		},
		{
			name:   "other partition count",
			create: createStateTopic(3, "compact"),
			want:   kafka.ErrStateTopicUnfit,
			words:  []string{"has 3 partitions but the data topic \"jobs\" has 4"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers, _ := kafkatest.NewCluster(t, testDataTopic, 4)
			if tc.create != nil {
				admin := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
				tc.create(t, admin)
			}
			_, err := kafka.OpenStateStore(t.Context(), stateConfig(brokers, false))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func createStateTopic(partitions int, policy string) func(t *testing.T, admin *kafkago.Client) {
	return func(t *testing.T, admin *kafkago.Client) {
		t.Helper()
		tc := kafkago.TopicConfig{Topic: testStateTopic, NumPartitions: partitions, ReplicationFactor: 1}
		if policy != "" {
			tc.ConfigEntries = []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: policy}}
		}
		res, err := admin.CreateTopics(t.Context(), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{tc}})
		if err == nil {
			err = res.Errors[testStateTopic]
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStateStoreRefusesAnotherGroup(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, testDataTopic, 2)
	openState(t, stateConfig(brokers, true))
	openState(t, stateConfig(brokers, false)) // the same group again is fine

	other := stateConfig(brokers, false)
	other.Group = "another"
	_, err := kafka.OpenStateStore(t.Context(), other)
	if !errors.Is(err, kafka.ErrStateTopicOwned) {
		t.Fatalf("got %v, want ErrStateTopicOwned", err)
	}
	for _, w := range []string{`belongs to group "assetjoblog.jobs"`, `this producer is in group "another"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q, want it to say %q", err, w)
		}
	}
	otherCompany := stateConfig(brokers, false)
	otherCompany.Company = "c|7"
	if _, err := kafka.OpenStateStore(t.Context(), otherCompany); !errors.Is(err, kafka.ErrStateTopicOwned) {
		t.Fatalf("another company: got %v, want ErrStateTopicOwned", err)
	}
}

// TestStateStoreRefusesADamagedValue: a value that fails its checksum stops
// the restore, naming where it is.
func TestStateStoreRefusesADamagedValue(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, testDataTopic, 2)
	s := openState(t, stateConfig(brokers, true))
	if err := s.Restore(t.Context(), allPartitions(s)); err != nil {
		t.Fatal(err)
	}
	// On a partition other than the company partition, which OpenStateStore
	// itself restores.
	var asset string
	for i := 0; ; i++ {
		if asset = fmt.Sprintf("a|6|1|%d", i); s.PartitionOf(asset) != kafka.CompanyPartition {
			break
		}
	}
	if err := pipeline.NewCheckpoints(s).CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset}, pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1e12)}); err != nil {
		t.Fatal(err)
	}
	key := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: asset}
	good, err := s.Get(key)
	if err != nil || good == nil {
		t.Fatalf("Get: %v, %v", good, err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff // the checksum
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: testStateTopic, Balancer: partitionBalancer(s.PartitionOf(asset))}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafkago.Message{Key: []byte("assets\x00c|6\x00" + asset), Value: bad}); err != nil {
		t.Fatal(err)
	}

	again := openState(t, stateConfig(brokers, false))
	err = again.Restore(t.Context(), allPartitions(again))
	if !errors.Is(err, pipeline.ErrCorruptState) {
		t.Fatalf("got %v, want ErrCorruptState", err)
	}
	for _, w := range []string{fmt.Sprintf("partition %d", s.PartitionOf(asset)), asset, "at offset ", "nothing was published"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q, want it to say %q", err, w)
		}
	}
	if _, err := again.Get(key); err == nil {
		t.Error("the damaged partition is served after a failed restore")
	}
}

type partitionBalancer int

func (p partitionBalancer) Balance(kafkago.Message, ...int) int { return int(p) }
