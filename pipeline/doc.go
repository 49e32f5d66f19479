// Package pipeline holds the domain of assetjoblog: the AssetJobLog entry as
// IPS reports it, the small interfaces the producer consumes (a source of job
// logs, an encoder, a sink of records, a checkpoint store) and the Poller that
// polls, deduplicates, publishes and checkpoints, and dead-letters once what
// cannot be published (a malformed entry, a record too large for the topic)
// without holding back the rest. With Config.Reconcile it publishes each
// entry exactly once: it reads the topic back (TopicReader) after a write of
// unknown outcome and at start-up, from per-partition bounds kept in the
// state, before anything is sent a second time.
//
// It deliberately knows nothing of SOAP, Avro or Kafka: those live in adapter
// packages (internal/ips, internal/avro, internal/kafka, internal/boltstore)
// that cmd/producer wires together.
package pipeline
