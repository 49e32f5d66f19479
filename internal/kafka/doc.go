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
// The package does not encode records (internal/avro does), does not retry
// what the kafka-go Writer gave up on (the pipeline does, asking IsRetryable),
// does not use idempotent or transactional producing (consumers deduplicate
// by event id), and does not consume.
//
// Subpackage kafkatest starts an in-process Kafka (franz-go's kfake) for
// tests and demos, and reads a topic back.
package kafka
