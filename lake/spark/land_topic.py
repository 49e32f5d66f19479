#!/usr/bin/env python3
"""Land the assetjoblog Kafka topic in a Delta Lake table.

Spark Structured Streaming reads the topic from the earliest offset the
checkpoint has not yet seen, checks each record's framing header, decodes the
Avro body with from_avro and schemas/assetjoblog.avsc, and MERGEs the rows
into a Delta table partitioned by logDay = date(logDate) in UTC, on eventId:
a row whose eventId is already in the table is left as it is. The stream runs
with trigger(availableNow=True): it takes what the topic holds now, in one or
more micro-batches, and stops. Run it again (from cron, Airflow, a Databricks
job, ...) to take what is new.

Re-running is safe in every case:
  - with the checkpoint: only records after the committed offsets are read;
  - after a crash mid-batch: the batch is read again and the MERGE skips the
    rows a first attempt already inserted;
  - with the checkpoint removed or lost: the topic is read from the start
    again and the MERGE inserts nothing twice.

Usage (see docs/data-lake.md; scripts/lake.sh prepares Python and the jars):

  python lake/spark/land_topic.py --brokers 127.0.0.1:9092 \\
      --topic ips.asset-job-logs --framing single \\
      --table /lake/asset_job_logs --checkpoint /lake/_checkpoints/asset_job_logs

It prints one JSON line on stdout when it is done: the batches it ran, the
records it read from Kafka, the rows it inserted, and the table's version.

It deliberately does not follow schema changes by itself: records must be
written with schemas/assetjoblog.avsc (single-object framing checks the
schema's fingerprint; Confluent framing checks the magic byte only, see
--confluent-schema-id).
"""

import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(os.path.join(HERE, "..", "..", "schemas", "assetjoblog.avsc"))

# Columns the job adds to the decoded record.
PARTITION_COLUMN = "logDay"


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Land the assetjoblog topic in a Delta Lake table (MERGE on eventId, "
        "partitioned by date(logDate) in UTC).")
    p.add_argument("--brokers", required=True, help="Kafka bootstrap servers, comma-separated")
    p.add_argument("--topic", required=True, help="Kafka topic the producer writes")
    p.add_argument("--table", required=True, help="Delta table path or URI (created when missing)")
    p.add_argument("--checkpoint", required=True,
                   help="Structured Streaming checkpoint directory, one per table and topic")
    p.add_argument("--framing", choices=["single", "confluent"], default="single",
                   help="record framing: single (Avro single-object encoding, the producer's default) "
                   "or confluent (the producer ran with -schema-registry); default single")
    p.add_argument("--schema", default=DEFAULT_SCHEMA,
                   help="Avro schema file the records were written with (default: %(default)s)")
    p.add_argument("--confluent-schema-id", type=int, action="append", default=[],
                   help="with --framing confluent: schema ids of --schema in the registry; records with "
                   "another id fail the run (repeatable; default: any id is accepted)")
    p.add_argument("--starting-offsets", default="earliest",
                   help="where a stream without a checkpoint starts: earliest (default) or latest")
    p.add_argument("--max-offsets-per-trigger", type=int, default=0,
                   help="at most this many records per micro-batch (default 0: one batch for all)")
    p.add_argument("--kafka-properties", default="", metavar="FILE",
                   help="file of Kafka consumer settings, one KEY=VALUE a line (# comments allowed), e.g. "
                   "security.protocol=SASL_SSL and sasl.jaas.config=...: keeps secrets off the command line")
    p.add_argument("--kafka-option", action="append", default=[], metavar="KEY=VALUE",
                   help="one more Kafka consumer setting that is not secret, e.g. security.protocol=SSL "
                   "(repeatable); settings go to the source as kafka.KEY")
    p.add_argument("--jars", default=os.environ.get("ASSETJOBLOG_LAKE_JARS", ""),
                   help="directory of the Kafka, Avro and Delta jars (default $ASSETJOBLOG_LAKE_JARS; "
                   "empty when spark-submit provides them)")
    p.add_argument("--master", default="",
                   help="Spark master, e.g. local[2] (default: spark-submit's, or local[*])")
    p.add_argument("--shuffle-partitions", type=int, default=2,
                   help="partitions of the MERGE's shuffles and of Delta's log state "
                   "(spark.sql.shuffle.partitions, spark.databricks.delta.snapshotPartitions; default 2: "
                   "raise it with the cluster's cores for large batches)")
    args = p.parse_args(argv)
    for kv in args.kafka_option:
        if "=" not in kv or kv.startswith("="):
            p.error("--kafka-option %r is not KEY=VALUE" % kv)
    if args.confluent_schema_id and args.framing != "confluent":
        p.error("--confluent-schema-id needs --framing confluent")
    if args.max_offsets_per_trigger < 0:
        p.error("--max-offsets-per-trigger must be 0 or more, got %d" % args.max_offsets_per_trigger)
    if args.shuffle_partitions < 1:
        p.error("--shuffle-partitions must be 1 or more, got %d" % args.shuffle_partitions)
    return args


def read_schema(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        json.loads(text)
    except (OSError, ValueError) as e:
        raise SystemExit("land_topic: cannot read the Avro schema %s: %s" % (path, e))
    return text


def kafka_options(args):
    """Returns the Kafka consumer settings of --kafka-properties, then of
    --kafka-option, as (key, value) pairs. Errors name the file and line,
    never the value: it may be a password."""
    opts = []
    if args.kafka_properties:
        try:
            with open(args.kafka_properties, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise SystemExit("land_topic: cannot read --kafka-properties %s: %s" % (args.kafka_properties, e.strerror))
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, sep, v = line.partition("=")
            if not sep or not k.strip():
                raise SystemExit("land_topic: %s line %d is not KEY=VALUE" % (args.kafka_properties, n))
            opts.append((k.strip(), v.strip()))
    for kv in args.kafka_option:
        k, _, v = kv.partition("=")
        opts.append((k, v))
    return opts


def single_object_header(schema_json):
    """Returns the 10 bytes every single-object record starts with: the
    marker C3 01 and the little-endian CRC-64-AVRO fingerprint of the
    schema's Parsing Canonical Form."""
    from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

    canonical = to_parsing_canonical_form(parse_schema(json.loads(schema_json)))
    # fastavro gives the fingerprint's bytes in wire order (little-endian), as hex.
    return b"\xc3\x01" + bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def spark_session(args):
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.appName("assetjoblog-land-topic")
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         # date(logDate) and every timestamp shown are UTC, whatever the machine's zone.
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
         .config("spark.databricks.delta.snapshotPartitions", str(args.shuffle_partitions))
         # Enough progress reports to count the records of every batch of one run.
         .config("spark.sql.streaming.numRecentProgressUpdates", "100000")
         # Parquet INT64 microseconds: the timestamp type every Delta reader knows.
         .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
         # Source options such as kafka.sasl.jaas.config are redacted in plans and logs.
         .config("spark.sql.redaction.options.regex", "(?i)url|jaas|password|secret|token")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.log.level", "WARN"))
    if args.master:
        b = b.master(args.master)
        if args.master.startswith("local"):
            # A local run serves its block manager on loopback only.
            b = b.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    if args.jars:
        jars = sorted(glob.glob(os.path.join(args.jars, "*.jar")))
        if not jars:
            raise SystemExit("land_topic: no jars in %s: run scripts/lake.sh setup" % args.jars)
        b = b.config("spark.jars", ",".join(jars))
    return b.getOrCreate()


def decoded_stream(spark, args, schema_json):
    """Returns the topic as a stream of table rows: the Avro record's fields,
    logDay, and the Kafka partition and offset each row came from. A record
    whose framing header is wrong fails the run with its partition and
    offset rather than being skipped or mis-decoded."""
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import from_avro

    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", args.brokers)
              .option("subscribe", args.topic)
              .option("startingOffsets", args.starting_offsets)
              .option("failOnDataLoss", "true"))
    if args.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    for k, v in kafka_options(args):
        reader = reader.option("kafka." + k, v)
    raw = reader.load()

    value = F.col("value")
    where = F.concat(F.lit("topic %s partition " % args.topic), F.col("partition").cast("string"),
                     F.lit(" offset "), F.col("offset").cast("string"))
    if args.framing == "single":
        header = single_object_header(schema_json)
        ok = F.substring(value, 1, len(header)) == F.lit(header)
        body = F.expr("substring(value, %d)" % (len(header) + 1))
        problem = F.concat(F.lit("record is not Avro single-object encoding of %s (want header %s, got "
                                 % (os.path.basename(args.schema), header.hex())),
                           F.hex(F.substring(value, 1, len(header))), F.lit(") at "), where)
    else:
        ok = F.substring(value, 1, 1) == F.lit(b"\x00")
        if args.confluent_schema_id:
            ids = [F.lit(i.to_bytes(4, "big")) for i in args.confluent_schema_id]
            ok = ok & F.substring(value, 2, 4).isin(*ids)
        body = F.expr("substring(value, 6)")
        problem = F.concat(F.lit("record is not Confluent-framed with an accepted schema id (got header "),
                           F.hex(F.substring(value, 1, 5)), F.lit(") at "), where)
    ok = value.isNotNull() & (F.length(value) > 0) & ok
    record = F.when(ok, from_avro(body, schema_json, {"mode": "FAILFAST"})).otherwise(F.raise_error(problem))
    return (raw.select(record.alias("r"), F.col("partition").alias("kafkaPartition"),
                       F.col("offset").alias("kafkaOffset"))
            .select("r.*", "kafkaPartition", "kafkaOffset")
            .withColumn(PARTITION_COLUMN, F.to_date(F.col("logDate"))))


def table_schema(schema):
    """Returns the stream's schema as the table declares it: Delta has no NOT
    NULL inside arrays, so the fields of the auxArray rows are nullable there
    (logMessage and logType are never null in practice: Avro requires them)."""
    from pyspark.sql.types import ArrayType, StructField, StructType

    def relax(t):
        if isinstance(t, StructType):
            return StructType([StructField(f.name, relax(f.dataType), True, f.metadata) for f in t.fields])
        if isinstance(t, ArrayType):
            return ArrayType(relax(t.elementType), True)
        return t

    return StructType([StructField(f.name, relax(f.dataType) if isinstance(f.dataType, ArrayType) else f.dataType,
                                   f.nullable, f.metadata) for f in schema.fields])


def ensure_table(spark, path, schema):
    """Creates the Delta table at path, partitioned by logDay, unless it exists."""
    from delta.tables import DeltaTable

    (DeltaTable.createIfNotExists(spark).location(path)
     .addColumns(table_schema(schema))
     .partitionedBy(PARTITION_COLUMN)
     .comment("assetjoblog: one row per IPS asset job log entry, unique eventId")
     .execute())


def merge_batch(spark, path, totals):
    """Returns the foreachBatch function: it keeps the first record of each
    eventId in the batch (the lowest offset) and MERGEs it into the table,
    inserting only eventIds the table does not hold yet."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("eventId").orderBy("kafkaPartition", "kafkaOffset")

    def merge(batch, batch_id):
        src = batch.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
        table = DeltaTable.forPath(spark, path)
        before = table.history(1).select("version").collect()[0][0]
        (table.alias("t")
         # logDay follows from logDate, which is part of the eventId: the
         # extra condition only lets Delta prune partitions.
         .merge(src.alias("s"), "t.%s = s.%s AND t.eventId = s.eventId" % (PARTITION_COLUMN, PARTITION_COLUMN))
         .whenNotMatchedInsertAll()
         .execute())
        last = table.history(1).select("version", "operationMetrics").collect()[0]
        # A MERGE that inserts nothing may commit no version at all.
        inserted = 0
        if last["version"] > before:
            inserted = int((last["operationMetrics"] or {}).get("numTargetRowsInserted", 0))
        totals["batches"] += 1
        totals["rowsInserted"] += inserted
        print("land_topic: batch %d: %d rows inserted, table version %d" % (batch_id, inserted, last["version"]),
              file=sys.stderr, flush=True)

    return merge


def main(argv):
    args = parse_args(argv)
    schema_json = read_schema(args.schema)
    t0 = time.monotonic()
    spark = spark_session(args)
    try:
        stream = decoded_stream(spark, args, schema_json)
        ensure_table(spark, args.table, stream.schema)
        totals = {"batches": 0, "rowsInserted": 0}
        query = (stream.writeStream
                 .queryName("assetjoblog-land-topic")
                 .foreachBatch(merge_batch(spark, args.table, totals))
                 .option("checkpointLocation", args.checkpoint)
                 .trigger(availableNow=True)
                 .start())
        query.awaitTermination()
        totals["rowsRead"] = sum(p.numInputRows for p in query.recentProgress)
        from delta.tables import DeltaTable

        version = DeltaTable.forPath(spark, args.table).history(1).select("version").collect()[0][0]
        print(json.dumps(dict(topic=args.topic, table=args.table, framing=args.framing,
                              version=version, seconds=round(time.monotonic() - t0, 3), **totals)),
              flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
