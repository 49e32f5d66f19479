#!/usr/bin/env python3
"""Checks the assetjoblog Avro golden vectors with fastavro.

For every input testdata/NAME.json it reads NAME.single.bin and
NAME.confluent.bin, checks the framing header (C3 01 + the fingerprint from
fingerprint.txt, which the Java check pins to Avro's parsingFingerprint64;
magic byte 0 + the expected schema id), decodes the body with
fastavro.schemaless_reader and compares every field with the input JSON.
Exits 1 on any mismatch.

Usage: decode_golden.py SCHEMA.avsc TESTDATA_DIR [CONFLUENT_SCHEMA_ID]
"""

import datetime
import io
import json
import pathlib
import struct
import sys

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MS = datetime.timedelta(milliseconds=1)


def read_key_values(path):
    kv = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        kv[k] = v
    return kv


def millis(value):
    """Epoch milliseconds of a fastavro timestamp-millis value."""
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // MS
    return value


def rfc3339_millis(text):
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt - EPOCH) // MS


def compare(schema, got, want, path, failures):
    """Compares a fastavro datum with its JSON form, driven by the schema."""
    if isinstance(schema, list):  # union
        if want is None:
            if got is not None:
                failures.append(f"{path}: got {got!r}, want null")
            return
        if got is None:
            failures.append(f"{path}: got null, want {want!r}")
            return
        branch = next(s for s in schema if s != "null")
        compare(branch, got, want, path, failures)
        return
    if isinstance(schema, str):
        schema = {"type": schema}
    t = schema["type"]
    if isinstance(t, (dict, list)):
        compare(t, got, want, path, failures)
    elif t == "record":
        if not isinstance(got, dict) or not isinstance(want, dict):
            failures.append(f"{path}: got {got!r}, want object {want!r}")
            return
        names = [f["name"] for f in schema["fields"]]
        for extra in sorted(set(want) - set(names)):
            failures.append(f"{path}: input has field {extra} that the schema lacks")
        for f in schema["fields"]:
            if f["name"] not in want:
                failures.append(f"{path}.{f['name']}: missing from the input JSON")
                continue
            compare(f["type"], got.get(f["name"]), want[f["name"]], f"{path}.{f['name']}", failures)
    elif t == "array":
        if not isinstance(got, list) or not isinstance(want, list) or len(got) != len(want):
            failures.append(f"{path}: got {got!r}, want {want!r}")
            return
        for i, (g, w) in enumerate(zip(got, want)):
            compare(schema["items"], g, w, f"{path}[{i}]", failures)
    elif t == "string":
        if got != want:
            failures.append(f"{path}: got {got!r}, want {want!r}")
    elif t == "long":
        if schema.get("logicalType") == "timestamp-millis":
            w = rfc3339_millis(want)
        else:
            w = want
        if millis(got) != w:
            failures.append(f"{path}: got {got!r} ({millis(got)}), want {w} ({want!r})")
    else:
        failures.append(f"{path}: schema type {t} is not handled by the check")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_path, testdata = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    schema_id = int(argv[3]) if len(argv) > 3 else 7

    raw_schema = json.loads(schema_path.read_text(encoding="utf-8"))
    parsed = fastavro.parse_schema(raw_schema)
    fp = read_key_values(testdata / "fingerprint.txt")
    fp_le = bytes.fromhex(fp["le_bytes"])
    if fp_le != struct.pack("<Q", int(fp["hex"], 16)):
        print("python: fingerprint.txt le_bytes and hex disagree", file=sys.stderr)
        return 1
    print(f"python: fastavro {fastavro.__version__}, fingerprint {fp['hex']}, schema id {schema_id}")

    failures = []
    inputs = sorted(p for p in testdata.glob("*.json") if p.name != "canonical.json")
    if len(inputs) < 3:
        failures.append(f"found {len(inputs)} golden inputs in {testdata}, want at least 3")
    for inp in inputs:
        name = inp.stem
        want = json.loads(inp.read_text(encoding="utf-8"))
        for framing in ("single", "confluent"):
            fname = f"{name}.{framing}.bin"
            data = (testdata / fname).read_bytes()
            if framing == "single":
                if data[:2] != b"\xc3\x01":
                    failures.append(f"{fname}: header {data[:2].hex()}, want c301")
                    continue
                if data[2:10] != fp_le:
                    failures.append(f"{fname}: fingerprint {data[2:10].hex()}, want {fp_le.hex()}")
                    continue
                body = data[10:]
            else:
                if data[:1] != b"\x00":
                    failures.append(f"{fname}: magic byte {data[:1].hex()}, want 00")
                    continue
                got_id = struct.unpack(">I", data[1:5])[0]
                if got_id != schema_id:
                    failures.append(f"{fname}: schema id {got_id}, want {schema_id}")
                    continue
                body = data[5:]
            buf = io.BytesIO(body)
            try:
                got = fastavro.schemaless_reader(buf, parsed, None)
            except Exception as e:  # noqa: BLE001 - any decode failure is a mismatch
                failures.append(f"{fname}: decode: {e!r}")
                continue
            if buf.tell() != len(body):
                failures.append(f"{fname}: {len(body) - buf.tell()} trailing bytes")
            compare(raw_schema, got, want, fname, failures)
        print(f"python: checked {name}.single.bin and {name}.confluent.bin against {name}.json")

    if failures:
        print(f"python: {len(failures)} mismatch(es):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print("python: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
