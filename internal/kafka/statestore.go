package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// CompanyPartition is the partition of the state topic that holds the
// values kept per company rather than per asset (the discovery cursor, and
// any kind whose key names no asset) and the topic's owner marker. Every
// member of the group reads it, whichever partitions it owns.
const CompanyPartition = 0

// ownerKey is the record key of the owner marker: the group and company the
// state topic belongs to. It starts with a NUL, which no checkpoint key does
// (those start with their kind's name).
const ownerKey = "\x00owner"

// ErrStateTopicOwned is returned (wrapped) by OpenStateStore when the state
// topic belongs to another group or company: two groups on one state topic
// would each poll every asset and overwrite each other's checkpoints.
var ErrStateTopicOwned = errors.New("state topic belongs to another group")

// ErrStateTopicUnfit is returned (wrapped) by OpenStateStore when the state
// topic exists but cannot hold the checkpoints: it is not compacted, or its
// partition count differs from the data topic's.
var ErrStateTopicUnfit = errors.New("state topic cannot hold the checkpoints")

// StateStoreConfig configures a StateStore.
type StateStoreConfig struct {
	// Kafka is the connection (brokers, TLS, SASL, timeouts) and the data
	// topic (Kafka.Topic), whose partition count the state topic must have.
	// Kafka.CreateTopic creates a missing state topic, compacted, with
	// Kafka.ReplicationFactor.
	Kafka Config
	// Topic is the state topic. Required.
	Topic string
	// Group and Company name the owner of the state topic, recorded in it
	// on first use: a store of another group or company is refused.
	// Required.
	Group, Company string
}

// StateStore keeps the checkpoints in a compacted Kafka topic: a
// pipeline.StateStore whose values (the pipeline's codec, checksummed) are
// records keyed by kind, company and name.
//
// Partitioning: a value of kind pipeline.StateAsset goes to the partition
// murmur2 chooses for its asset handle, exactly as the data topic places
// the asset's entries, so state partition p holds the assets of data
// partition p. Every other kind goes to CompanyPartition.
//
// Only restored partitions are served: Restore reads a partition to its
// high watermark and verifies every value, and Get and Put on a partition
// that was not restored (or was dropped) fail. CompanyPartition is restored
// by OpenStateStore. Put is durable (acks=all) when it returns. The store is
// safe for concurrent use.
type StateStore struct {
	cfg        StateStoreConfig
	brokers    string
	transport  *kafkago.Transport
	client     *kafkago.Client
	partitions []int // 0..n-1, for the balancer

	mu     sync.RWMutex
	held   map[int]bool
	values map[string][]byte // record key -> value, of held partitions
}

var _ pipeline.StateStore = (*StateStore)(nil)

// OpenStateStore connects, checks (or with Kafka.CreateTopic creates) the
// state topic, restores CompanyPartition and records or checks the owner
// marker.
//
// Errors: ErrTopicNotFound when the state or data topic is missing;
// ErrStateTopicUnfit when the state topic is not compacted or has another
// partition count than the data topic; ErrStateTopicOwned when another
// group or company uses it; pipeline.ErrCorruptState when a value fails
// its check. Each names the topic and what to do.
func OpenStateStore(ctx context.Context, cfg StateStoreConfig) (*StateStore, error) {
	cfg.Kafka.setDefaults()
	if err := cfg.Kafka.validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Topic == "":
		return nil, &ConfigError{Field: "Topic", Problem: "the state topic is required"}
	case validTopic(cfg.Topic) != "":
		return nil, &ConfigError{Field: "Topic", Problem: validTopic(cfg.Topic)}
	case cfg.Topic == cfg.Kafka.Topic:
		return nil, &ConfigError{Field: "Topic", Problem: "the state topic must not be the data topic"}
	case cfg.Group == "" || cfg.Company == "":
		return nil, &ConfigError{Field: "Group", Problem: "group and company are required"}
	}
	transport, _, err := cfg.Kafka.newTransport()
	if err != nil {
		return nil, err
	}
	s := &StateStore{
		cfg:       cfg,
		brokers:   fmt.Sprint(cfg.Kafka.Brokers),
		transport: transport,
		client:    &kafkago.Client{Addr: kafkago.TCP(cfg.Kafka.Brokers...), Timeout: cfg.Kafka.WriteTimeout, Transport: transport},
		held:      map[int]bool{},
		values:    map[string][]byte{},
	}
	if err := s.open(ctx); err != nil {
		transport.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

func (s *StateStore) open(ctx context.Context) error {
	n, err := topicPartitions(ctx, s.client, s.brokers, s.cfg.Kafka.Topic)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("kafka: %w: data topic %q on brokers %s", ErrTopicNotFound, s.cfg.Kafka.Topic, s.brokers)
	}
	if err := s.ensureTopic(ctx, n); err != nil {
		return err
	}
	s.partitions = partitionRange(n)
	if err := s.Restore(ctx, []int{CompanyPartition}); err != nil {
		return err
	}
	return s.claimOwner(ctx)
}

// ensureTopic checks the state topic, creating it when allowed.
func (s *StateStore) ensureTopic(ctx context.Context, want int) error {
	topic := s.cfg.Topic
	have, err := topicPartitions(ctx, s.client, s.brokers, topic)
	if err != nil {
		return err
	}
	if have == 0 {
		if !s.cfg.Kafka.CreateTopic {
			return fmt.Errorf("kafka: %w: state topic %q on brokers %s: create it compacted with %d partitions, as the data topic %q has "+
				"(kafka-topics.sh --create --topic %s --partitions %d --config cleanup.policy=compact), or pass -create-topic",
				ErrTopicNotFound, topic, s.brokers, want, s.cfg.Kafka.Topic, topic, want)
		}
		res, err := s.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
			Topic:             topic,
			NumPartitions:     want,
			ReplicationFactor: s.cfg.Kafka.ReplicationFactor,
			ConfigEntries:     []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
		}}})
		if err == nil {
			err = res.Errors[topic]
		}
		if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create state topic %q on brokers %s: %w", topic, s.brokers, err)
		}
		// The metadata may lag the creation by a moment.
		for range 50 {
			if have, err = topicPartitions(ctx, s.client, s.brokers, topic); err != nil || have > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	}
	if have != want {
		return fmt.Errorf("kafka: %w: state topic %q has %d partitions but the data topic %q has %d: "+
			"state partition p must hold the assets of data partition p; use a state topic with %d partitions",
			ErrStateTopicUnfit, topic, have, s.cfg.Kafka.Topic, want, want)
	}
	policy, err := s.cleanupPolicy(ctx)
	if err != nil {
		return err
	}
	if policy != "compact" {
		return fmt.Errorf("kafka: %w: state topic %q has cleanup.policy=%s, want compact: "+
			"with deletion the broker drops old checkpoints and their assets are published again "+
			"(kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)",
			ErrStateTopicUnfit, topic, policy, topic)
	}
	return nil
}

func (s *StateStore) cleanupPolicy(ctx context.Context) (string, error) {
	res, err := s.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: s.cfg.Topic, ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		return "", fmt.Errorf("kafka: configuration of state topic %q from brokers %s: %w", s.cfg.Topic, s.brokers, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return "", fmt.Errorf("kafka: configuration of state topic %q from brokers %s: %w", s.cfg.Topic, s.brokers, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				return strings.ReplaceAll(e.ConfigValue, " ", ""), nil
			}
		}
	}
	return "delete", nil // the broker's default
}

// claimOwner records the group and company in the state topic, or checks
// those recorded there.
func (s *StateStore) claimOwner(ctx context.Context) error {
	want := s.owner()
	s.mu.RLock()
	got, ok := s.values[ownerKey]
	s.mu.RUnlock()
	if ok {
		if !bytes.Equal(got, want) {
			g, c, _ := strings.Cut(string(got), "\x00")
			return fmt.Errorf("kafka: %w: state topic %q belongs to group %q of company %q; this producer is in group %q of company %q. "+
				"Two groups on one state topic would each poll every asset: use -group %s, or another -state-topic",
				ErrStateTopicOwned, s.cfg.Topic, g, c, s.cfg.Group, s.cfg.Company, g)
		}
		return nil
	}
	return s.produce(ctx, CompanyPartition, ownerKey, want)
}

func (s *StateStore) owner() []byte {
	return []byte(s.cfg.Group + "\x00" + s.cfg.Company)
}

// Partitions returns the partition count of the state topic (and of the
// data topic).
func (s *StateStore) Partitions() int { return len(s.partitions) }

// Topic returns the state topic.
func (s *StateStore) Topic() string { return s.cfg.Topic }

// PartitionOf returns the partition of the state topic (and of the data
// topic) that holds an asset: murmur2 of its handle, as the Java client and
// the sink choose it.
func (s *StateStore) PartitionOf(asset string) int {
	return murmur2Partition([]byte(asset), s.partitions)
}

// murmur2Balancer places keyed records as the Java client does. It has no
// state: the sink's writer, the sink's Partition and the state store all
// use this one value, so data and state partitions agree.
var murmur2Balancer kafkago.Murmur2Balancer

// murmur2Partition returns the partition among ids that murmur2Balancer
// chooses for key.
func murmur2Partition(key []byte, ids []int) int {
	return murmur2Balancer.Balance(kafkago.Message{Key: key}, ids...)
}

// partitionOfKey returns the partition a value is kept on.
func (s *StateStore) partitionOfKey(key pipeline.StateKey) int {
	if key.Kind == pipeline.StateAsset {
		return s.PartitionOf(key.Name)
	}
	return CompanyPartition
}

// recordKey is a value's record key: kind, NUL, then the key's bytes.
func recordKey(key pipeline.StateKey) string {
	return string(key.Kind) + "\x00" + string(key.Bytes())
}

// parseRecordKey is the inverse of recordKey.
func parseRecordKey(b []byte) (pipeline.StateKey, bool) {
	i := bytes.IndexByte(b, 0)
	if i <= 0 {
		return pipeline.StateKey{}, false
	}
	return pipeline.ParseStateKey(pipeline.StateKind(b[:i]), b[i+1:]), true
}

// Get returns the value under key, or nil when there is none. The key's
// partition must be restored.
func (s *StateStore) Get(key pipeline.StateKey) ([]byte, error) {
	p := s.partitionOfKey(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.held[p] {
		return nil, s.notHeld(key, p)
	}
	return s.values[recordKey(key)], nil
}

// Put writes the value under key to its partition, which must be restored,
// and returns once every in-sync replica has it (acks=all).
func (s *StateStore) Put(key pipeline.StateKey, value []byte) error {
	p := s.partitionOfKey(key)
	s.mu.RLock()
	held := s.held[p]
	s.mu.RUnlock()
	if !held {
		return s.notHeld(key, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Kafka.WriteTimeout)
	defer cancel()
	return s.produce(ctx, p, recordKey(key), value)
}

func (s *StateStore) notHeld(key pipeline.StateKey, p int) error {
	return fmt.Errorf("kafka: checkpoint %s is on partition %d of state topic %q, which this producer has not restored", key, p, s.cfg.Topic)
}

// stateRetryMax bounds the retries of one state write or fetch that failed
// with a transient error (a leader election, a broker restarting): writing
// the same value again is harmless, so the store retries them itself.
const stateRetryMax = time.Minute

// retry runs op until it succeeds, fails with an error IsRetryable rejects,
// ctx ends or stateRetryMax passes.
func retry(ctx context.Context, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 50*time.Millisecond, 2*time.Second, stateRetryMax
	return backoff.Retry(func() error {
		err := op()
		if err != nil && !IsRetryable(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx))
}

// produce writes one record with acks=all and keeps its value.
func (s *StateStore) produce(ctx context.Context, partition int, key string, value []byte) error {
	err := retry(ctx, func() error {
		res, err := s.client.Produce(ctx, &kafkago.ProduceRequest{
			Topic:        s.cfg.Topic,
			Partition:    partition,
			RequiredAcks: kafkago.RequireAll,
			Records:      kafkago.NewRecordReader(kafkago.Record{Key: kafkago.NewBytes([]byte(key)), Value: kafkago.NewBytes(value)}),
		})
		if err == nil {
			err = res.Error
			for _, e := range res.RecordErrors {
				err = errors.Join(err, e)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("kafka: write checkpoint to partition %d of state topic %q: %w", partition, s.cfg.Topic, err)
	}
	s.mu.Lock()
	if s.held[partition] {
		s.values[key] = slices.Clone(value)
	}
	s.mu.Unlock()
	return nil
}

// Restore reads the given partitions of the state topic from their start
// to their high watermark, verifies every value (pipeline.VerifyStateValue)
// and serves them from then on. A value that fails its check stops the
// restore with an error wrapping pipeline.ErrCorruptState that names the
// partition, offset and key; none of the partitions is served then.
// Restoring a partition again reads it afresh (another member may have
// written it meanwhile).
func (s *StateStore) Restore(ctx context.Context, partitions []int) error {
	read := map[string][]byte{}
	for _, p := range partitions {
		if p < 0 || (len(s.partitions) > 0 && p >= len(s.partitions)) {
			return fmt.Errorf("kafka: state topic %q has no partition %d", s.cfg.Topic, p)
		}
		if err := s.readPartition(ctx, p, read); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		s.dropLocked(p)
		s.held[p] = true
	}
	for k, v := range read {
		if v != nil {
			s.values[k] = v
		}
	}
	return nil
}

// Drop stops serving the given partitions and forgets their values.
func (s *StateStore) Drop(partitions []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		if p != CompanyPartition {
			s.dropLocked(p)
		}
	}
}

func (s *StateStore) dropLocked(p int) {
	if !s.held[p] {
		return
	}
	delete(s.held, p)
	for k := range s.values {
		if k == ownerKey {
			continue
		}
		if key, ok := parseRecordKey([]byte(k)); ok && s.partitionOfKey(key) == p {
			delete(s.values, k)
		}
	}
}

// readPartition reads partition p to its high watermark into into (the
// latest value of each key; nil for a tombstone).
func (s *StateStore) readPartition(ctx context.Context, p int, into map[string][]byte) error {
	offset := kafkago.FirstOffset
	for {
		var res *kafkago.FetchResponse
		err := retry(ctx, func() error {
			var err error
			res, err = s.client.Fetch(ctx, &kafkago.FetchRequest{
				Topic: s.cfg.Topic, Partition: p, Offset: offset,
				MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
			})
			if err == nil {
				err = res.Error
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("kafka: restore partition %d of state topic %q from brokers %s: %w", p, s.cfg.Topic, s.brokers, err)
		}
		if offset < 0 {
			offset = res.LogStartOffset
		}
		hw := res.HighWatermark
		next, err := s.readRecords(p, res.Records, offset, into)
		if err != nil {
			return err
		}
		if next > offset {
			offset = next
		}
		if offset >= hw {
			return nil
		}
		if next == -1 && res.Records == nil {
			return fmt.Errorf("kafka: restore partition %d of state topic %q: no records below the high watermark %d at offset %d", p, s.cfg.Topic, hw, offset)
		}
	}
}

// readRecords reads one fetch's records at or after from, verifying each
// value, and returns the offset after the last one read (-1 for none).
func (s *StateStore) readRecords(p int, rr kafkago.RecordReader, from int64, into map[string][]byte) (int64, error) {
	next := int64(-1)
	if rr == nil {
		return next, nil
	}
	for {
		r, err := rr.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return next, nil
			}
			return next, fmt.Errorf("kafka: restore partition %d of state topic %q: %w", p, s.cfg.Topic, err)
		}
		if r.Offset < from {
			continue
		}
		next = r.Offset + 1
		k, err := readBytes(r.Key)
		if err != nil {
			return next, err
		}
		v, err := readBytes(r.Value)
		if err != nil {
			return next, err
		}
		if string(k) == ownerKey {
			into[ownerKey] = v
			continue
		}
		key, ok := parseRecordKey(k)
		if !ok {
			return next, fmt.Errorf("kafka: restore partition %d of state topic %q: record at offset %d has key %q, which names no kind of checkpoint: %w",
				p, s.cfg.Topic, r.Offset, k, pipeline.ErrCorruptState)
		}
		if v == nil {
			into[string(k)] = nil
			continue
		}
		if err := pipeline.VerifyStateValue(key, v); err != nil {
			return next, fmt.Errorf("kafka: restore partition %d of state topic %q: checkpoint %s at offset %d: %w: %w; nothing was published. "+
				"Restore the topic, or delete the record (a tombstone for its key) to start that asset over",
				p, s.cfg.Topic, key, r.Offset, pipeline.ErrCorruptState, err)
		}
		if got := s.partitionOfKey(key); got != p {
			return next, fmt.Errorf("kafka: restore partition %d of state topic %q: checkpoint %s at offset %d belongs on partition %d: %w",
				p, s.cfg.Topic, key, r.Offset, got, pipeline.ErrCorruptState)
		}
		into[string(k)] = v
	}
}

// readBytes reads a record's key or value; nil stays nil (a tombstone).
func readBytes(b kafkago.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return kafkago.ReadAll(b)
}

// Each calls fn with every value of the restored partitions, in no order.
func (s *StateStore) Each(fn func(key pipeline.StateKey, value []byte) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, v := range s.values {
		if k == ownerKey {
			continue
		}
		key, _ := parseRecordKey([]byte(k))
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the connections. Put and Restore fail afterwards.
func (s *StateStore) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// String names the store in logs.
func (s *StateStore) String() string {
	return "kafka state topic " + strconv.Quote(s.cfg.Topic)
}
