package kafkatest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// RealClusterHowTo says how to run the tests that need the three-node cluster.
const RealClusterHowTo = "KAFKA_CLUSTER_BROKERS not set: these tests need the three-node cluster; run " +
	`scripts/kafka.sh cluster up and eval "$(scripts/kafka.sh cluster env)"`

// RealCluster is the three-node KRaft cluster of scripts/kafka.sh cluster.
type RealCluster struct {
	// Brokers are its bootstrap addresses.
	Brokers []string
	script  string
}

// NewRealCluster returns the cluster of $KAFKA_CLUSTER_BROKERS, managed by
// the script of $KAFKA_CLUSTER_SCRIPT. Without them the test is skipped
// with a how-to message, or fails when $CI is set.
func NewRealCluster(t testing.TB) *RealCluster {
	t.Helper()
	brokers := strings.TrimSpace(os.Getenv("KAFKA_CLUSTER_BROKERS"))
	script := strings.TrimSpace(os.Getenv("KAFKA_CLUSTER_SCRIPT"))
	if brokers == "" || script == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(RealClusterHowTo)
		}
		t.Skip(RealClusterHowTo)
	}
	return &RealCluster{Brokers: strings.Split(brokers, ","), script: script}
}

// Node runs `scripts/kafka.sh cluster ARGS...` (kill9 N, restart N), failing t
// when it fails.
func (c *RealCluster) Node(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(c.script, append([]string{"cluster"}, args...)...)
	cmd.Dir = filepath.Dir(filepath.Dir(c.script))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/kafka.sh cluster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Leader returns the node id of the leader of the topic's partition.
func (c *RealCluster) Leader(t testing.TB, topic string, partition int) int {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			for _, tp := range md.Topics {
				for _, p := range tp.Partitions {
					if tp.Name == topic && p.ID == partition && p.Leader.ID > 0 {
						return p.Leader.ID
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no leader for topic %s partition %d: %v", topic, partition, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CreateTopic creates a topic of the test's own with the given partitions,
// replication factor 3 and the given configuration, and returns its name;
// it is deleted when the test ends.
func (c *RealCluster) CreateTopic(t testing.TB, partitions int, configs ...kafka.ConfigEntry) string {
	t.Helper()
	name := TopicName(t, c.Brokers)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	admin := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 3, ConfigEntries: configs,
	}}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	for p := range partitions {
		c.Leader(t, name, p)
	}
	return name
}

// String names the cluster's brokers.
func (c *RealCluster) String() string { return fmt.Sprint(c.Brokers) }
