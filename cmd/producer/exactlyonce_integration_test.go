//go:build integration

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// reconcileCounts counts, in the producer's JSON log, the writes of unknown
// outcome and the entries a read-back found already on the topic.
func reconcileCounts(stderr string) (ambiguous, found int) {
	for _, line := range strings.Split(stderr, "\n") {
		switch {
		case strings.Contains(line, `"msg":"write of unknown outcome`):
			ambiguous++
		case strings.Contains(line, `"msg":"entries found on the topic after a write of unknown outcome`):
			var n int
			if i := strings.Index(line, `"entries":`); i >= 0 {
				fmt.Sscanf(line[i+len(`"entries":`):], "%d", &n)
			}
			found += n
		}
	}
	return ambiguous, found
}

// waitAll reads the topic until every expected entry is there (or the
// deadline passes), and returns what it read.
func waitAll(t *testing.T, brokers []string, topic string, want map[string]pipeline.AssetJobLog, timeout time.Duration) []*pipeline.AssetJobLog {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := readTopic(t, brokers, topic, len(want))
		distinct := map[string]bool{}
		for _, e := range got {
			distinct[e.EventID] = true
		}
		if len(distinct) >= len(want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestIntegrationClusterLeaderKilled runs the producer against the
// three-node cluster (replication factor 3, min.insync.replicas 2,
// acks=all), kills the leader of a partition in use with SIGKILL while
// activity flows, restarts it, and checks that every entry is on the topic
// exactly once.
func TestIntegrationClusterLeaderKilled(t *testing.T) {
	cluster := kafkatest.NewRealCluster(t)
	topic := cluster.CreateTopic(t, 3)
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(90, 4))
	t.Cleanup(sim.Close)
	s := &stack{sim: sim, brokers: cluster.Brokers, state: filepath.Join(t.TempDir(), "state.db")}
	args := append(s.args("-poll-interval", "200ms", "-kafka-write-timeout", "2s", "-log-level", "debug"),
		"-topic", topic, "-brokers", strings.Join(cluster.Brokers, ","))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	activity, stopActivity := context.WithCancel(ctx)
	defer stopActivity()
	done := make(chan result, 1)
	go func() { done <- runProducer(ctx, args, s.env()) }()
	readTopic(t, cluster.Brokers, topic, 90*4)
	sim.StartActivity(activity, 20)
	time.Sleep(time.Second)

	leader := cluster.Leader(t, topic, 0)
	cluster.Node(t, "kill9", fmt.Sprint(leader))
	killed := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			cluster.Node(t, "restart", fmt.Sprint(leader))
		}
	})
	time.Sleep(2 * time.Second)
	// Wait for the cluster to elect another leader, writes flowing meanwhile.
	newLeader := cluster.Leader(t, topic, 0)
	for deadline := time.Now().Add(30 * time.Second); newLeader == leader && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		newLeader = cluster.Leader(t, topic, 0)
	}
	if newLeader == leader {
		t.Fatalf("no other node took the lead of partition 0 within 30s of killing node %d", leader)
	}
	tookOver := time.Since(killed)
	cluster.Node(t, "restart", fmt.Sprint(leader))
	restarted = true
	time.Sleep(2 * time.Second)
	stopActivity()
	time.Sleep(300 * time.Millisecond)

	want := s.expected(t)
	got := waitAll(t, cluster.Brokers, topic, want, 90*time.Second)
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("producer: %v", r)
	}
	checkExactlyOnce(t, got, want)
	ambiguous, found := reconcileCounts(r.stderr)
	t.Logf("integration: cluster node %d (leader of partition 0) SIGKILLed under load, node %d took over (seen %s after the kill), then it was restarted: "+
		"%d entries, %d records; %d writes of unknown outcome, %d entries found on the topic by a read-back and not sent again",
		leader, newLeader, tookOver.Round(100*time.Millisecond), len(want), len(got), ambiguous, found)
}

// TestIntegrationCompactedTopicRefused: the producer refuses a compacted
// data topic with one line saying why, before publishing anything.
func TestIntegrationCompactedTopicRefused(t *testing.T) {
	s := newRealStack(t, 2, 2)
	client := &kafkago.Client{Addr: kafkago.TCP(s.brokers...), Timeout: 10 * time.Second}
	topic := kafkatest.TopicName(t, s.brokers)
	res, err := client.CreateTopics(t.Context(), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("create compacted topic: %v %v", err, res)
	}
	s.topic = topic
	r := runProducer(t.Context(), s.args("-once"), s.stack().env())
	code, line := oneLine(r.err)
	if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "cleanup.policy=compact") || !strings.Contains(line, "latest entry") {
		t.Errorf("got exit %d, %q; want exit 1 and one line refusing the compacted topic", code, line)
	}
	if msgs, err := kafkatest.Read(t.Context(), s.brokers, topic, 0); err != nil || len(msgs) != 0 {
		t.Errorf("%d records (%v) published to the compacted topic", len(msgs), err)
	}
}
