// Package kafka is the Kafka adapter of assetjoblog: a Sink that writes
// encoded AssetJobLog records to one topic with segmentio/kafka-go, waiting
// for every in-sync replica to acknowledge them (acks=all), partitioning by
// key exactly as the Java client does (murmur2), over plaintext, TLS or
// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
//
// At start-up NewSink checks that the topic exists and fails with
// ErrTopicNotFound when it does not, unless it was told to create it: the
// producer never relies on the broker's automatic topic creation. It also
// learns the largest record the topic accepts (max.message.bytes), sizes its
// batches to match, and tells the pipeline which records can never be
// written (CheckRecord), so that they are dead-lettered, never truncated.
//
// For exactly-once publishing the Sink makes one attempt per Publish and
// says, record by record, whether a failed write was acknowledged, proven
// not appended (NotAppended) or of unknown outcome (RecordOutcomes); it
// reads a partition back (ReadTail, EndOffset) so that the pipeline can
// tell what landed, maps keys to partitions as the writer does (Partition),
// and describes the topic (DescribeTopic: cluster id, topic id, replication,
// cleanup.policy, retention.ms, min.insync.replicas) for the start-up
// checks. Those reads use franz-go (kgo, kmsg), which asks for topic ids and
// leader epochs that kafka-go's requests predate; writing stays kafka-go.
//
// StateStore keeps the pipeline's checkpoints in a compacted state topic
// (a pipeline.StateStore: it stores the pipeline's bytes, verifies them on
// restore and knows nothing of their format), partitioned like the data
// topic. Group is a replica's membership of the kafka-go ConsumerGroup on
// that topic (a pipeline.Ownership): it owns the assets of the partitions
// it is assigned, restores them before polling, and drains its claims
// before they move. There is no election or heartbeat of its own beyond
// kafka-go's; a local pause detector only makes a member that was stopped
// past a third of its session timeout give its claims up at once.
//
// The package does not encode records (internal/avro does), does not retry
// publishes (the pipeline does, asking IsRetryable and NotAppended; only
// the state store retries its own idempotent writes and reads), and does not use
// idempotent or transactional producing: the topic itself records what
// landed.
//
// Subpackage kafkatest starts an in-process Kafka (franz-go's kfake) for
// tests and demos, and reads a topic back.
package kafka
