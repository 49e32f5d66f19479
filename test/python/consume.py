#!/usr/bin/env python3
"""Read every record of a topic as an independent consumer would, and check it.

An independent check of what assetjoblog writes to Kafka: librdkafka
(confluent-kafka) reads every partition of the topic from the beginning, and
fastavro decodes each value with the published schema. For every record it
checks

  * the framing: single-object encoding (C3 01 + the 8-byte CRC-64-AVRO
    fingerprint of the schema) or Confluent wire format (magic 0 + 4-byte
    big-endian schema id);
  * that the Avro body decodes with the schema and nothing is left over;
  * that the key equals the record's assetHandle;
  * that the event-id header equals the record's eventId;

then prints the counts (records, distinct eventIds, duplicates) and, with
--out, writes each decoded record as one JSON line (timestamps as epoch
milliseconds) for comparison.

Exit status: 0 when every record passed and at least --expect distinct
eventIds arrived within --timeout; 1 otherwise; 2 for bad arguments.

Example:
  PY=$(scripts/venv.sh)
  $PY test/python/consume.py --brokers 127.0.0.1:19092 --topic ips.asset-job-logs \\
      --schema schemas/assetjoblog.avsc --framing single --expect 100 --out /tmp/records.jsonl
"""

import argparse
import datetime
import io
import json
import struct
import sys
import time
import uuid

import fastavro
import fastavro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", required=True, help="bootstrap brokers, host:port[,host:port]")
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True, help="the Avro schema file (.avsc) the values were written with")
    p.add_argument("--framing", required=True, choices=["single", "confluent"])
    p.add_argument("--expect", type=int, required=True, help="least number of distinct eventIds to wait for")
    p.add_argument(
        "--fingerprint",
        help="single framing: the expected 8 fingerprint bytes, hex, as they appear after C3 01 "
        "(little-endian CRC-64-AVRO); default: computed from --schema",
    )
    p.add_argument("--schema-id", type=int, help="confluent framing: the expected schema id; default: any, reported")
    p.add_argument("--exact", action="store_true", help="also fail when more than --expect distinct eventIds arrive")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for --expect eventIds (default 60)")
    p.add_argument("--out", help="write decoded records as JSON lines to this file")
    args = p.parse_args(argv)
    if args.expect < 0:
        p.error("--expect must be >= 0")
    if args.fingerprint is not None:
        try:
            fp = bytes.fromhex(args.fingerprint)
        except ValueError:
            p.error("--fingerprint is not hex")
        if len(fp) != 8:
            p.error("--fingerprint must be 8 bytes (16 hex digits)")
        args.fingerprint = fp
    if args.framing != "single" and args.fingerprint is not None:
        p.error("--fingerprint applies to --framing single only")
    if args.framing != "confluent" and args.schema_id is not None:
        p.error("--schema-id applies to --framing confluent only")
    return args


def schema_fingerprint(schema_json):
    """The 8 bytes that follow C3 01 in single-object encoding."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema_json)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def jsonable(value):
    """Decoded Avro to JSON: datetimes become epoch milliseconds."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


class Checker:
    def __init__(self, args, schema_json):
        self.args = args
        self.parsed = fastavro.parse_schema(schema_json)
        self.fingerprint = args.fingerprint or schema_fingerprint(schema_json)
        self.records = 0
        self.failures = 0
        self.event_ids = {}
        self.schema_ids = set()

    def fail(self, where, why):
        self.failures += 1
        if self.failures <= 20:
            print(f"FAIL {where}: {why}", file=sys.stderr)
        elif self.failures == 21:
            print("FAIL ... (further failures not shown)", file=sys.stderr)

    def body(self, where, value):
        """Return the Avro body after checking the framing, or None."""
        if value is None:
            self.fail(where, "null value")
            return None
        if self.args.framing == "single":
            if len(value) < 10 or value[:2] != SINGLE_OBJECT_MAGIC:
                self.fail(where, f"no single-object header C3 01: starts {value[:10].hex()}")
                return None
            if value[2:10] != self.fingerprint:
                self.fail(where, f"fingerprint {value[2:10].hex()}, want {self.fingerprint.hex()}")
                return None
            return value[10:]
        if len(value) < 5 or value[0] != 0:
            self.fail(where, f"no Confluent header (magic 0): starts {value[:5].hex()}")
            return None
        (schema_id,) = struct.unpack(">I", value[1:5])
        self.schema_ids.add(schema_id)
        if self.args.schema_id is not None and schema_id != self.args.schema_id:
            self.fail(where, f"schema id {schema_id}, want {self.args.schema_id}")
            return None
        return value[5:]

    def check(self, msg, out):
        self.records += 1
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
        body = self.body(where, msg.value())
        if body is None:
            return
        buf = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(buf, self.parsed)
        except Exception as e:  # noqa: BLE001 - any decoding failure is a failed record
            self.fail(where, f"Avro decode: {type(e).__name__}: {e}")
            return
        if buf.tell() != len(body):
            self.fail(where, f"{len(body) - buf.tell()} bytes left after the record")
        key = msg.key()
        if key is None or key.decode("utf-8", "replace") != record.get("assetHandle"):
            self.fail(where, f"key {key!r} != assetHandle {record.get('assetHandle')!r}")
        headers = {}
        for k, v in msg.headers() or []:
            headers[k] = v.decode("utf-8", "replace") if v is not None else None
        event_id = record.get("eventId")
        if headers.get("event-id") != event_id:
            self.fail(where, f"header event-id {headers.get('event-id')!r} != eventId {event_id!r}")
        self.event_ids[event_id] = self.event_ids.get(event_id, 0) + 1
        if out is not None:
            line = {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "headers": headers,
                "record": jsonable(record),
            }
            out.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")


def assign_all(consumer, topic, timeout):
    md = consumer.list_topics(topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        raise SystemExit(f"consume: topic {topic!r}: {t.error if t else 'not in metadata'}")
    partitions = sorted(t.partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return partitions


def main(argv):
    args = parse_args(argv)
    with open(args.schema, encoding="utf-8") as f:
        schema_json = json.load(f)
    checker = Checker(args, schema_json)

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"assetjoblog-consume-py-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "client.id": "assetjoblog-consume-py",
        }
    )
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    timed_out = False
    try:
        partitions = assign_all(consumer, args.topic, min(args.timeout, 30))
        at_eof = set()
        deadline = time.monotonic() + args.timeout
        while True:
            # Done once every partition is read to its end (so that
            # duplicates and extras are counted too) and either enough
            # eventIds arrived or a record failed, which waiting cannot fix.
            if at_eof >= set(partitions) and (len(checker.event_ids) >= args.expect or checker.failures):
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                    continue
                if msg.error().fatal() or not msg.error().retriable():
                    raise KafkaException(msg.error())
                print(f"consume: {msg.error()}", file=sys.stderr)
                continue
            at_eof.discard(msg.partition())
            checker.check(msg, out)
    finally:
        consumer.close()
        if out is not None:
            out.close()

    distinct = len(checker.event_ids)
    duplicates = sum(n - 1 for n in checker.event_ids.values())
    summary = {
        "topic": args.topic,
        "framing": args.framing,
        "records": checker.records,
        "distinct_event_ids": distinct,
        "duplicates": duplicates,
        "failed_records": checker.failures,
        "expect": args.expect,
    }
    if args.framing == "single":
        summary["fingerprint"] = checker.fingerprint.hex()
    else:
        summary["schema_ids"] = sorted(checker.schema_ids)
    print(json.dumps(summary, sort_keys=True))

    ok = True
    if checker.failures:
        print(f"consume: {checker.failures} record(s) failed the checks", file=sys.stderr)
        ok = False
    if distinct < args.expect:
        print(
            f"consume: {distinct} distinct eventIds, want at least {args.expect}"
            + (f" (timed out after {args.timeout:g}s)" if timed_out else ""),
            file=sys.stderr,
        )
        ok = False
    if args.exact and distinct > args.expect:
        print(f"consume: {distinct} distinct eventIds, want exactly {args.expect}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
