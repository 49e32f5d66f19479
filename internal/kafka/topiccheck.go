package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// ErrCompactedTopic is returned (wrapped, naming the topic and its policy)
// by TopicInfo.Check when the topic's cleanup.policy includes compact:
// records are keyed by asset, so compaction would keep only each asset's
// latest entry. It is permanent.
var ErrCompactedTopic = errors.New("topic is compacted")

// TopicInfo is what the producer checks of its topic at start-up.
type TopicInfo struct {
	// Identity is the cluster id, the topic name and Kafka's topic id.
	Identity pipeline.TopicIdentity
	// Partitions is the partition count.
	Partitions int
	// ReplicationFactor is the replica count of the topic's first partition.
	ReplicationFactor int
	// CleanupPolicy is the topic's cleanup.policy, e.g. "delete".
	CleanupPolicy string
	// RetentionMs is the topic's retention.ms; -1 keeps records forever.
	RetentionMs int64
	// MinInSyncReplicas is the topic's min.insync.replicas.
	MinInSyncReplicas int
}

// DescribeTopic reads the topic's identity (Metadata, which kafka-go's
// client asks in a version without topic ids) and configuration
// (DescribeConfigs).
func (s *Sink) DescribeTopic(ctx context.Context) (TopicInfo, error) {
	var info TopicInfo
	fail := func(what string, err error) (TopicInfo, error) {
		return info, fmt.Errorf("kafka: %s of topic %q from brokers %s: %w", what, s.cfg.Topic, s.brokers, brokerError(err))
	}
	md := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(s.cfg.Topic)
	md.Topics = append(md.Topics, rt)
	mres, err := md.RequestWith(ctx, s.admin)
	if err != nil {
		return fail("metadata", err)
	}
	if mres.ClusterID != nil {
		info.Identity.ClusterID = *mres.ClusterID
	}
	found := false
	for _, t := range mres.Topics {
		if t.Topic == nil || *t.Topic != s.cfg.Topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fail("metadata", err)
		}
		found = true
		info.Identity.Topic = *t.Topic
		info.Identity.TopicID = t.TopicID
		info.Partitions = len(t.Partitions)
		for _, p := range t.Partitions {
			if p.Partition == 0 {
				info.ReplicationFactor = len(p.Replicas)
			}
		}
	}
	if !found {
		return info, s.topicNotFound()
	}

	configs, err := s.describeConfigs(ctx, kmsg.ConfigResourceTypeTopic, s.cfg.Topic, "cleanup.policy", "retention.ms", "min.insync.replicas")
	if err != nil {
		return fail("configuration", err)
	}
	info.CleanupPolicy, info.RetentionMs, info.MinInSyncReplicas = "delete", 7*24*3600*1000, 1
	if v, ok := configs["cleanup.policy"]; ok {
		info.CleanupPolicy = v
	}
	if n, err := strconv.ParseInt(configs["retention.ms"], 10, 64); err == nil {
		info.RetentionMs = n
	}
	if n, err := strconv.Atoi(configs["min.insync.replicas"]); err == nil {
		info.MinInSyncReplicas = n
	}
	return info, nil
}

// Check says whether the topic can hold the entries exactly once: an error
// wrapping ErrCompactedTopic when it is compacted, and one warning line per
// weakness otherwise: a retention.ms shorter than minRetention (records
// published but not committed before a crash must still be there when the
// producer starts again), a replication factor of 1, or a
// min.insync.replicas of 1 (acks=all is then satisfied by the leader
// alone).
func (i TopicInfo) Check(minRetention time.Duration) (warnings []string, err error) {
	for _, p := range strings.Split(i.CleanupPolicy, ",") {
		if strings.TrimSpace(p) == "compact" {
			return nil, fmt.Errorf("kafka: %w: topic %q has cleanup.policy=%s; records are keyed by asset, so compaction "+
				"would keep only each asset's latest entry: use a topic with cleanup.policy=delete", ErrCompactedTopic, i.Identity.Topic, i.CleanupPolicy)
		}
	}
	if i.RetentionMs >= 0 && time.Duration(i.RetentionMs)*time.Millisecond < minRetention {
		warnings = append(warnings, fmt.Sprintf("topic %q has retention.ms=%d (%s), shorter than %s: records published but not "+
			"yet committed when the producer stops must still be on the topic when it starts again, or it refuses to start",
			i.Identity.Topic, i.RetentionMs, time.Duration(i.RetentionMs)*time.Millisecond, minRetention))
	}
	if i.ReplicationFactor == 1 {
		warnings = append(warnings, fmt.Sprintf("topic %q has replication factor 1: acks=all waits for one broker, "+
			"and entries are lost with its disk", i.Identity.Topic))
	}
	if i.MinInSyncReplicas <= 1 && i.ReplicationFactor != 1 {
		warnings = append(warnings, fmt.Sprintf("topic %q has min.insync.replicas=%d: acks=all is satisfied by the leader "+
			"alone once the followers fall behind, and entries are lost with it", i.Identity.Topic, i.MinInSyncReplicas))
	}
	return warnings, nil
}
