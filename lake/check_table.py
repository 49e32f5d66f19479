#!/usr/bin/env python3
"""Check a Delta table written by lake/spark/land_topic.py, without Spark.

The table is read with delta-rs (the `deltalake` package) and pyarrow, and
compared with the entries IPS served, given as JSON lines (--expected), one
object per entry:

  {"eventId": "...", "companyHandle": "c|6", "assetHandle": "a|6|1|5",
   "jobHandle": "...", "jobName": "...", "logMessage": "...", "logType": "...",
   "submitUserEmail": "...", "logDateMillis": 1767225600123,
   "auxArray": [{"logMessage": "...", "logType": "...",
                 "dateCreatedMillis": 1767225600124 or null,
                 "assetName": "..." or null, "assetType": ..., "assetHandle": ...}]}

Checks, each failure listed with the eventId it concerns:
  - the columns' types: logDate and observedAt are UTC timestamps, auxArray
    is a list of structs whose dateCreated is a UTC timestamp, logDay a date;
  - the table is partitioned by logDay only;
  - every expected entry is in the table once, eventIds are distinct, and
    the table holds nothing else;
  - every field equals IPS's value: logDate to the millisecond, auxArray row
    by row with nulls where IPS gave none;
  - observedAt is set (and within --observed-min/--observed-max if given);
  - every data file holds only rows whose date(logDate) in UTC is the
    file's logDay partition value.

It prints one JSON line: the table's version, row count, rows per day, file
count and a digest of the content (every column of every row, sorted by
eventId), so two runs can be compared. Exit status 1 when a check
failed, 2 on bad usage.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys

ENTRY_FIELDS = ["companyHandle", "assetHandle", "jobHandle", "jobName", "logMessage", "logType",
                "submitUserEmail"]
AUX_FIELDS = ["logMessage", "logType", "assetName", "assetType", "assetHandle"]
MAX_LISTED = 20


def parse_args(argv):
    p = argparse.ArgumentParser(description="Check an assetjoblog Delta table against the entries IPS served.")
    p.add_argument("--table", required=True, help="Delta table path")
    p.add_argument("--expected", required=True, help="JSON lines file of the expected entries")
    p.add_argument("--observed-min", type=int, help="observedAt must be at or after this (epoch millis)")
    p.add_argument("--observed-max", type=int, help="observedAt must be at or before this (epoch millis)")
    return p.parse_args(argv)


def millis(ts):
    """Epoch milliseconds of a timezone-aware datetime, or None."""
    if ts is None:
        return None
    d = ts - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def sub_millisecond(ts):
    return ts is not None and ts.microsecond % 1000 != 0


class Problems:
    def __init__(self):
        self.count = 0
        self.lines = []

    def add(self, msg):
        self.count += 1
        if len(self.lines) < MAX_LISTED:
            self.lines.append(msg)


def check_schema(dt, problems):
    import pyarrow as pa

    schema = pa.schema(dt.schema().to_arrow())
    utc_ts = lambda t: pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Etc/UTC")
    for name in ("logDate", "observedAt"):
        if name not in schema.names:
            problems.add("column %s missing" % name)
        elif not utc_ts(schema.field(name).type):
            problems.add("column %s is %s, want a UTC timestamp" % (name, schema.field(name).type))
    for name in ["eventId"] + ENTRY_FIELDS:
        if name not in schema.names or not pa.types.is_string(schema.field(name).type) and not pa.types.is_large_string(
                schema.field(name).type):
            problems.add("column %s missing or not a string" % name)
    if "logDay" not in schema.names or not pa.types.is_date32(schema.field("logDay").type):
        problems.add("column logDay missing or not a date")
    aux = schema.field("auxArray").type if "auxArray" in schema.names else None
    if aux is None or not (pa.types.is_list(aux) or pa.types.is_large_list(aux)) or not pa.types.is_struct(
            aux.value_type):
        problems.add("column auxArray is %s, want a list of structs" % aux)
    else:
        item = aux.value_type
        names = [item.field(i).name for i in range(item.num_fields)]
        for name in AUX_FIELDS + ["dateCreated"]:
            if name not in names:
                problems.add("auxArray rows lack the field %s" % name)
        if "dateCreated" in names and not utc_ts(item.field("dateCreated").type):
            problems.add("auxArray.dateCreated is %s, want a UTC timestamp" % item.field("dateCreated").type)
    parts = list(dt.metadata().partition_columns)
    if parts != ["logDay"]:
        problems.add("table is partitioned by %s, want [logDay]" % parts)


def check_rows(rows, expected, args, problems):
    seen = {}
    for r in rows:
        eid = r["eventId"]
        if eid in seen:
            seen[eid] += 1
            continue
        seen[eid] = 1
        want = expected.get(eid)
        if want is None:
            problems.add("eventId %s (asset %s) is in the table but IPS never served it" % (eid, r["assetHandle"]))
            continue
        for f in ENTRY_FIELDS:
            if r[f] != want[f]:
                problems.add("eventId %s: %s is %r, IPS gave %r" % (eid, f, r[f], want[f]))
        if r["logDate"] is None or millis(r["logDate"]) != want["logDateMillis"] or sub_millisecond(r["logDate"]):
            problems.add("eventId %s: logDate is %s, IPS gave %s (epoch ms %d)" % (
                eid, r["logDate"], datetime.datetime.fromtimestamp(want["logDateMillis"] / 1000,
                                                                   datetime.timezone.utc), want["logDateMillis"]))
        elif r["logDay"] != r["logDate"].astimezone(datetime.timezone.utc).date():
            problems.add("eventId %s: logDay %s is not date(logDate) %s in UTC" % (eid, r["logDay"], r["logDate"]))
        obs = millis(r["observedAt"])
        if obs is None:
            problems.add("eventId %s: observedAt is null" % eid)
        elif (args.observed_min is not None and obs < args.observed_min) or (
                args.observed_max is not None and obs > args.observed_max):
            problems.add("eventId %s: observedAt %s is outside the producer's run" % (eid, r["observedAt"]))
        got_aux = r["auxArray"]
        if got_aux is None:
            problems.add("eventId %s: auxArray is null, want a list (empty when IPS gave none)" % eid)
            continue
        want_aux = want.get("auxArray") or []
        if len(got_aux) != len(want_aux):
            problems.add("eventId %s: %d auxArray rows, IPS gave %d" % (eid, len(got_aux), len(want_aux)))
            continue
        for i, (g, w) in enumerate(zip(got_aux, want_aux)):
            for f in AUX_FIELDS:
                if g[f] != w.get(f):
                    problems.add("eventId %s: auxArray[%d].%s is %r, IPS gave %r" % (eid, i, f, g[f], w.get(f)))
            if millis(g["dateCreated"]) != w.get("dateCreatedMillis") or sub_millisecond(g["dateCreated"]):
                problems.add("eventId %s: auxArray[%d].dateCreated is %s, IPS gave %r (epoch ms)" % (
                    eid, i, g["dateCreated"], w.get("dateCreatedMillis")))
    dups = {k: n for k, n in seen.items() if n > 1}
    for k, n in sorted(dups.items()):
        problems.add("eventId %s is in the table %d times" % (k, n))
    missing = [k for k in expected if k not in seen]
    for k in sorted(missing):
        problems.add("eventId %s (asset %s) is missing from the table" % (k, expected[k]["assetHandle"]))
    return len(dups), len(missing)


def check_files(dt, table, problems):
    """Reads every data file of the current version on its own and checks
    that date(logDate) in UTC is the file's partition value for each row."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    actions = pa.table(dt.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    days = actions.column("partition.logDay").to_pylist()
    for path, day in zip(paths, days):
        full = path if os.path.isabs(path) or "://" in path else os.path.join(table, path)
        dates = pq.read_table(full, columns=["logDate"]).column("logDate")
        got = pc.unique(pc.cast(pc.cast(dates, pa.timestamp("us", tz="UTC")), pa.date32())).to_pylist()
        if got != [day]:
            problems.add("data file %s of partition logDay=%s holds rows of the days %s" % (path, day, got))
    return len(paths)


def digest(rows):
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: (r["eventId"], r["kafkaPartition"], r["kafkaOffset"])):
        h.update(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def main(argv):
    args = parse_args(argv)
    from deltalake import DeltaTable

    expected = {}
    with open(args.expected, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                expected[e["eventId"]] = e
            except (ValueError, KeyError) as err:
                print("check_table: %s line %d: %s" % (args.expected, n, err), file=sys.stderr)
                return 2
    try:
        dt = DeltaTable(args.table)
    except Exception as err:  # delta-rs raises its own TableNotFoundError and OSError kinds
        print("check_table: cannot open the Delta table %s: %s" % (args.table, err), file=sys.stderr)
        return 1
    problems = Problems()
    check_schema(dt, problems)
    rows = dt.to_pyarrow_table().to_pylist()
    dups, missing = check_rows(rows, expected, args, problems)
    files = check_files(dt, args.table, problems)
    per_day = {}
    for r in rows:
        d = r["logDay"].isoformat()
        per_day[d] = per_day.get(d, 0) + 1
    summary = dict(table=args.table, version=dt.version(), rows=len(rows), expected=len(expected),
                   distinctEventIds=len({r["eventId"] for r in rows}), duplicates=dups, missing=missing,
                   files=files, days=dict(sorted(per_day.items())),
                   auxRows=sum(len(r["auxArray"] or []) for r in rows), digest=digest(rows),
                   problems=problems.count)
    print(json.dumps(summary), flush=True)
    if problems.count:
        print("check_table: %d problems in %s:" % (problems.count, args.table), file=sys.stderr)
        for line in problems.lines:
            print("  " + line, file=sys.stderr)
        if problems.count > len(problems.lines):
            print("  ... and %d more" % (problems.count - len(problems.lines)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
