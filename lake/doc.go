// Package lake holds the data-lake path of the records and its end-to-end
// proof; it has no Go API.
//
// spark/land_topic.py is a PySpark Structured Streaming job that reads the
// topic, checks each record's framing header (Avro single-object or
// Confluent), decodes the body with from_avro and schemas/assetjoblog.avsc,
// and MERGEs the rows on eventId into a Delta Lake table partitioned by
// logDay = date(logDate) in UTC, with a checkpoint and
// trigger(availableNow=True). check_table.py reads such a table with
// delta-rs (no Spark) and compares it, entry by entry, with what IPS served.
// scripts/lake.sh installs both (PyPI and Maven Central, cached under
// .cache); docs/data-lake.md says how a lake team runs them.
//
// The integration test (build tag integration) runs the producer against the
// IPS simulator and the real broker of $KAFKA_BROKERS, then the Spark job
// and the checker as subprocesses. It does not test Flink or Iceberg, nor a
// Spark cluster: the job runs on local[2].
package lake
