// Package kafkatest starts an in-process Kafka cluster (franz-go's kfake) with
// one topic, for tests and for the demo program, and reads a topic back with
// a kafka-go reader, from kfake or from a real broker.
//
// kfake speaks the Kafka protocol well enough for kafka-go's Writer (produce
// with acks=all, compression, headers) and Reader (fetch, list offsets), but
// it is not Kafka: it keeps everything in memory, has a single replica per
// partition whatever the replication factor, and does not enforce
// min.insync.replicas, and it closes the connection on a failed SASL
// authentication where Kafka first answers SASL_AUTHENTICATION_FAILED.
// Durability and broker-crash behaviour are tested
// against the real broker of scripts/kafka.sh instead.
//
// It deliberately offers no consumer group: readers are per partition.
package kafkatest
