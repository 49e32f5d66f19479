package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"syscall"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is a running in-process Kafka cluster with one seeded topic.
type Cluster struct {
	// Cluster is the kfake cluster, for its fault-injection controls.
	*kfake.Cluster
	// Topic is the topic created at start.
	Topic string
}

// Start starts a single-broker kfake cluster listening on 127.0.0.1 with
// topic created with the given number of partitions (at least 1), and
// automatic topic creation off, as in production. opts are passed to kfake
// after those defaults. The caller must Close the cluster.
func Start(topic string, partitions int, opts ...kfake.Opt) (*Cluster, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("kafkatest: start cluster: %d partitions, want at least 1", partitions)
	}
	all := append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(partitions), topic),
	}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start cluster with topic %q: %w", topic, err)
	}
	return &Cluster{Cluster: c, Topic: topic}, nil
}

// Brokers returns the cluster's bootstrap addresses, host:port.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// NewCluster starts a cluster as Start does, fails t if it cannot, and closes
// it when the test ends.
func NewCluster(t testing.TB, topic string, partitions int, opts ...kfake.Opt) (brokers []string, cluster *kfake.Cluster) {
	t.Helper()
	c, err := Start(topic, partitions, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.Brokers(), c.Cluster
}

// ReadAll reads every record of topic, waiting up to timeout until at least
// n are there, and returns them ordered by partition then offset. It fails t
// when fewer than n arrive in time. It may return more than n: everything
// written before the n-th record was seen.
func ReadAll(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msgs, err := Read(ctx, brokers, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// Read reads every record of topic once at least n are there, and returns
// them ordered by partition then offset. It waits, polling the partitions'
// offsets, until the topic holds n records or ctx ends; in the latter case it
// returns an error saying how many it saw. Brokers are plaintext.
func Read(ctx context.Context, brokers []string, topic string, n int) ([]kafka.Message, error) {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}

	// Wait for the high watermarks to account for n records. A topic just
	// created, or a broker just restarted, answers for a moment that it has
	// no leader: such answers are retried until ctx ends. A poll cut short
	// by the end of ctx says nothing about the topic: the error reports what
	// the last answered poll saw.
	var (
		bounds []partitionBounds
		seen   = -1  // records counted by the last answered poll, -1 before one
		last   error // why the last answered poll failed, nil if it did not
	)
	for {
		partitions, err := partitionIDs(ctx, client, topic)
		if err == nil {
			bounds, err = offsets(ctx, client, topic, partitions)
		}
		if err == nil || ctx.Err() == nil {
			if err != nil && !transient(err) {
				return nil, err
			}
			last = err
			if err == nil {
				seen = 0
				for _, b := range bounds {
					seen += int(b.last - b.first)
				}
				if seen >= n {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			switch {
			case last != nil:
				return nil, fmt.Errorf("kafkatest: read topic %q: %w (%w)", topic, last, ctx.Err())
			case seen < 0:
				return nil, fmt.Errorf("kafkatest: read topic %q: no answer: %w", topic, ctx.Err())
			}
			return nil, fmt.Errorf("kafkatest: read topic %q: %d records, want at least %d: %w", topic, seen, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}

	var all []kafka.Message
	for _, b := range bounds {
		if b.last <= b.first {
			continue
		}
		msgs, err := readPartition(ctx, brokers, topic, b)
		if err != nil {
			return nil, err
		}
		all = append(all, msgs...)
	}
	return all, nil
}

// transient reports whether a metadata or offsets error may go away by
// itself: a partition without a leader yet, a broker restarting. A new
// partition's leader in a cluster can also answer UNKNOWN_SERVER_ERROR for a
// moment while it loads the partition; a test reader waits that out too.
func transient(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary() || kerr == kafka.Unknown
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

type partitionBounds struct {
	partition   int
	first, last int64 // [first, last): last is the high watermark
}

func partitionIDs(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("kafkatest: metadata of topic %q: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafkatest: metadata of topic %q: %w", topic, t.Error)
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		sort.Ints(ids)
		return ids, nil
	}
	return nil, fmt.Errorf("kafkatest: metadata of topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}

func offsets(ctx context.Context, client *kafka.Client, topic string, partitions []int) ([]partitionBounds, error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(partitions))
	for _, p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("kafkatest: list offsets of topic %q: %w", topic, err)
	}
	bounds := make([]partitionBounds, 0, len(partitions))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("kafkatest: list offsets of topic %q partition %d: %w", topic, po.Partition, po.Error)
		}
		bounds = append(bounds, partitionBounds{partition: po.Partition, first: po.FirstOffset, last: po.LastOffset})
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i].partition < bounds[j].partition })
	return bounds, nil
}

func readPartition(ctx context.Context, brokers []string, topic string, b partitionBounds) ([]kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     topic,
		Partition: b.partition,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(b.first); err != nil {
		return nil, fmt.Errorf("kafkatest: read topic %q partition %d: %w", topic, b.partition, err)
	}
	msgs := make([]kafka.Message, 0, b.last-b.first)
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("kafkatest: read topic %q partition %d at offset %d of [%d, %d): %w",
				topic, b.partition, r.Offset(), b.first, b.last, err)
		}
		msgs = append(msgs, m)
		if m.Offset >= b.last-1 {
			return msgs, nil
		}
	}
}
